package kvsm

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Accounted memory (see doc.go, "Memory accounting"). Every replica computes
// the same figure from the applied log: it is a function of the keyspace's
// contents only (lengths and counts, never capacities, addresses or the
// allocator's size classes), maintained incrementally where keys and hash
// fields are stored and removed.
//
// The constants approximate what our layout really costs on a 64-bit Go
// heap, so that maxmemory bounds the process about as it bounds Redis.
// TestAccountingTracksHeap checks them against the heap.
const (
	// keyOverheadBytes is one key's fixed cost: its 40-byte item stored by
	// value in a B-tree node (nodes are partly empty and their item arrays
	// grow by doubling: about 1.6x), the 8 bytes of access data at the head
	// of the allocation holding its key and value bytes, and that
	// allocation's rounding to a size class.
	keyOverheadBytes = 88
	// volatileOverheadBytes is a key's entry in the deadline index.
	volatileOverheadBytes = 48
	// hashOverheadBytes is a hash's object and its field tree.
	hashOverheadBytes = 128
	// fieldOverheadBytes is one hash field: its 48-byte entry in the
	// field tree's node and the name's and value's allocations.
	fieldOverheadBytes = 72
)

// itemBytes is the accounted size of one key, value and deadline included.
func itemBytes(it *item) int64 {
	n := int64(keyOverheadBytes + len(it.key()))
	if it.obj() == nil {
		n += int64(len(it.str()))
	} else {
		n += hashOverheadBytes + it.obj().bytes
	}
	if it.expireAtMs != 0 {
		n += volatileOverheadBytes
	}
	return n
}

// fieldBytes is the accounted size of one hash field.
func fieldBytes(f *field) int64 {
	return int64(fieldOverheadBytes + len(f.name) + len(f.val))
}

// itemPayloadBytes is what the client stored: key, value and field bytes,
// without our overhead (INFO's used_memory_dataset).
func itemPayloadBytes(it *item) int64 {
	n := int64(len(it.key()))
	if it.obj() == nil {
		return n + int64(len(it.str()))
	}
	return n + it.obj().payload
}

// setField stores f in o (a hash of the current database, already made
// mutable) and keeps the accounting in step. It reports whether a field of
// that name was replaced.
func (c *execCtx) setField(o *object, f field) bool {
	prev, replaced := o.hash.Set(f)
	delta, payload := fieldBytes(&f), int64(len(f.name)+len(f.val))
	if replaced {
		delta -= fieldBytes(&prev)
		payload -= int64(len(prev.name) + len(prev.val))
	}
	o.bytes += delta
	o.payload += payload
	c.db.mem += delta
	c.db.payload += payload
	return !replaced
}

// deleteField removes the field named like probe from o and keeps the
// accounting in step.
func (c *execCtx) deleteField(o *object, probe field) bool {
	prev, ok := o.hash.Delete(probe)
	if ok {
		delta, payload := fieldBytes(&prev), int64(len(prev.name)+len(prev.val))
		o.bytes -= delta
		o.payload -= payload
		c.db.mem -= delta
		c.db.payload -= payload
	}
	return ok
}

// UsedMemory is the accounted memory of the whole keyspace as of the last
// Apply or Restore, in bytes: what maxmemory is compared with. Safe on any
// goroutine (one atomic load).
func (s *Store) UsedMemory() int64 { return s.usedBytes.Load() }

// DatasetBytes is the payload part of UsedMemory: key, value and field
// bytes without per-key overhead. Safe on any goroutine.
func (s *Store) DatasetBytes() int64 { return s.payloadBytes.Load() }

// publishMemory publishes the databases' totals and wakes whoever waits for
// memory news. Applier goroutine.
func (s *Store) publishMemory() {
	var used, payload int64
	for _, d := range s.dbs {
		used += d.mem
		payload += d.payload
	}
	s.usedBytes.Store(used)
	s.payloadBytes.Store(payload)
	if cfg := s.evictCfg.Load(); cfg.MaxMemoryBytes > 0 && used > cfg.MaxMemoryBytes {
		select {
		case s.overLimit <- struct{}{}:
		default:
		}
	}
	s.applyWaiters.notify()
}

// OverLimit delivers a value after an Apply that left accounted memory above
// maxmemory (at most one pending value): the leader's evictor waits on it.
func (s *Store) OverLimit() <-chan struct{} { return s.overLimit }

// Applied returns a channel closed after the next Apply or Restore: writers
// waiting for eviction to make room wait on it. Safe on any goroutine;
// cheap for Apply when nobody waits (one atomic load).
func (s *Store) Applied() <-chan struct{} { return s.applyWaiters.wait() }

// applyNotifier hands out one channel that the next notify closes.
type applyNotifier struct {
	armed atomic.Bool
	mu    sync.Mutex
	ch    chan struct{}
}

func (n *applyNotifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	n.armed.Store(true)
	return n.ch
}

func (n *applyNotifier) notify() {
	if !n.armed.Load() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.armed.Store(false)
}

// memoryHelp is MEMORY HELP's text for the subcommands raftkv has.
var memoryHelp = []string{
	"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"USAGE <key> [SAMPLES <count>]",
	"    Return memory in bytes used by <key> and its value. Nested values are",
	"    sampled up to <count> times (default: 5, 0 means sample all).",
	"HELP",
	"    Prints this help.",
}

// cmdMemory is MEMORY USAGE and MEMORY HELP. USAGE answers the key's
// accounted size (itemBytes: what maxmemory counts, the same on every
// replica), not an allocator's figure; SAMPLES is parsed as Redis does and
// ignored (the size is maintained, not sampled). The key is not touched.
func cmdMemory(c *execCtx, args [][]byte) Reply {
	sub := args[1]
	switch {
	case eqFold(sub, "help"):
		if len(args) != 2 {
			return ErrorReply("ERR wrong number of arguments for 'memory|help' command")
		}
		elems := make([]Reply, len(memoryHelp))
		for i, line := range memoryHelp {
			elems[i] = StatusReply(line)
		}
		return Reply{Kind: ReplyArray, Elems: elems}
	case eqFold(sub, "usage"):
		if len(args) < 3 {
			return ErrorReply("ERR wrong number of arguments for 'memory|usage' command")
		}
		for i := 3; i < len(args); i += 2 {
			if !eqFold(args[i], "samples") || i+1 >= len(args) {
				return ErrorReply(errSyntax)
			}
			if _, ok := parseInt(args[i+1]); !ok {
				return ErrorReply(errNotInt)
			}
		}
		it, ok := c.lookup(args[2])
		if !ok {
			return ReplyNilValue
		}
		return IntReply(itemBytes(&it))
	case eqFold(sub, "doctor"), eqFold(sub, "stats"), eqFold(sub, "malloc-stats"), eqFold(sub, "purge"):
		return ErrorReply("ERR MEMORY " + strings.ToUpper(string(sub)) + " is not supported by raftkv (INFO memory has the figures)")
	}
	return ErrorReply("ERR unknown subcommand '" + string(truncate(sub, 128)) + "'. Try MEMORY HELP.")
}
