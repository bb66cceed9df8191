package wal

import "github.com/raftkv/raftkv/consensus"

// entryCache holds the newest entries of the log in a ring, bounded by
// count and by data bytes. The ring (rather than a slice trimmed at the
// front) keeps the steady state free of reallocation and copying: once the
// ring has grown to its bound, a push overwrites the oldest slot.
type entryCache struct {
	ring       []consensus.Entry // grows by doubling up to entriesMax
	head       int               // slot of the oldest entry
	n          int               // entries held
	first      uint64            // index of the oldest entry
	bytes      int               // Data bytes held
	entriesMax int
	bytesMax   int
}

const entryCacheInitialSlots = 256

func newEntryCache(entriesMax, bytesMax int) entryCache {
	return entryCache{entriesMax: max(entriesMax, 1), bytesMax: bytesMax}
}

// reset empties the cache; the next push must be index next.
func (c *entryCache) reset(next uint64) {
	c.dropFront(c.n)
	c.head, c.first = 0, next
}

// has reports whether index is cached.
func (c *entryCache) has(index uint64) bool {
	return index >= c.first && index-c.first < uint64(c.n)
}

// at returns the cached entry at index, which must satisfy has.
func (c *entryCache) at(index uint64) *consensus.Entry {
	return &c.ring[(c.head+int(index-c.first))%len(c.ring)]
}

// push adds the entry after the newest, evicting old ones over the bounds.
// The cache keeps e.Data: the caller must not modify it afterwards.
func (c *entryCache) push(e consensus.Entry) {
	if c.n == len(c.ring) {
		if len(c.ring) < c.entriesMax {
			c.grow()
		} else {
			c.dropFront(1)
		}
	}
	if c.n == 0 {
		c.first = e.Index
	}
	c.ring[(c.head+c.n)%len(c.ring)] = e
	c.n++
	c.bytes += len(e.Data)
	for c.bytes > c.bytesMax && c.n > 1 {
		c.dropFront(1)
	}
}

func (c *entryCache) grow() {
	size := min(max(2*len(c.ring), entryCacheInitialSlots), c.entriesMax)
	ring := make([]consensus.Entry, size)
	for i := 0; i < c.n; i++ {
		ring[i] = c.ring[(c.head+i)%len(c.ring)]
	}
	c.ring, c.head = ring, 0
}

// dropFront evicts the k oldest entries.
func (c *entryCache) dropFront(k int) {
	for ; k > 0 && c.n > 0; k-- {
		slot := &c.ring[c.head]
		c.bytes -= len(slot.Data)
		*slot = consensus.Entry{} // let the GC have the data
		c.head = (c.head + 1) % len(c.ring)
		c.n--
		c.first++
	}
}

// dropBack evicts the k newest entries.
func (c *entryCache) dropBack(k int) {
	for ; k > 0 && c.n > 0; k-- {
		slot := &c.ring[(c.head+c.n-1)%len(c.ring)]
		c.bytes -= len(slot.Data)
		*slot = consensus.Entry{}
		c.n--
	}
}

// truncate keeps only entries in [first, last].
func (c *entryCache) truncate(first, last uint64) {
	if c.n == 0 {
		return
	}
	if newest := c.first + uint64(c.n) - 1; newest > last {
		c.dropBack(int(min(newest-last, uint64(c.n))))
	}
	if first > c.first {
		c.dropFront(int(min(first-c.first, uint64(c.n))))
	}
	if c.n == 0 {
		c.reset(last + 1)
	}
}

// appendRange appends the cached entries [lo, hi) to out (all of them must
// be cached), stopping before the Data total (starting from total) would
// exceed maxBytes, but always appending at least one entry when out is
// empty. It copies contiguous runs of the ring at once: this is the
// follower hot path.
func (c *entryCache) appendRange(out []consensus.Entry, lo, hi uint64, maxBytes, total int) []consensus.Entry {
	n := int(hi - lo)
	if maxBytes > 0 {
		n = 0
		for idx := lo; idx < hi; idx++ {
			size := len(c.at(idx).Data)
			if (len(out) > 0 || n > 0) && total+size > maxBytes {
				break
			}
			total += size
			n++
		}
	}
	start := (c.head + int(lo-c.first)) % len(c.ring)
	if end := start + n; end <= len(c.ring) {
		return append(out, c.ring[start:end]...)
	}
	out = append(out, c.ring[start:]...)
	return append(out, c.ring[:start+n-len(c.ring)]...)
}
