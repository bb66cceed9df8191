package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/raftkv/raftkv/consensus"
	tidwal "github.com/tidwall/wal"
)

// Options configure a Log. The zero value is production-ready.
type Options struct {
	// NoSync skips every fsync. It is for tests and benchmarks only: with
	// it, Append and SaveHardState are not durable.
	NoSync bool
	// SegmentBytes is the target size of a segment file (default 4 MiB).
	// Larger segments mean fewer files but more memory: tidwall/wal keeps
	// the tail segment and the previous one in memory (about two to three
	// times SegmentBytes with append's growth), and repair reads a whole
	// segment.
	SegmentBytes int
	// CacheEntriesMax and CacheBytesMax bound the in-memory tail cache
	// (defaults 8192 entries, 4 MiB of entry data). Reads of entries in the
	// cache never touch the disk or decode anything. The cache only has to
	// cover followers that lag a little; one further behind reads from
	// the segments (page cache, usually).
	CacheEntriesMax int
	CacheBytesMax   int
	// Logger receives repair reports (default slog.Default()).
	Logger *slog.Logger
}

const (
	segmentBytesDefault    = 4 << 20
	cacheEntriesMaxDefault = 8192
	cacheBytesMaxDefault   = 4 << 20
	// tidwallSegmentsCached is tidwall's LRU of whole segments kept in
	// memory besides the tail: the segment just closed (tidwall always
	// caches it) or the one a lagging follower reads. 1 is tidwall's
	// minimum; its default, 2, only adds memory.
	tidwallSegmentsCached = 1
	// appendEntriesMax bounds one Append call: a batch this large is a bug
	// upstream, and it would pin that much memory twice.
	appendEntriesMax = 1 << 16
	// entryDataBytesMax bounds one entry's data: far above any sane
	// command batch, far below what would make a segment unreadable.
	entryDataBytesMax = 64 << 20
	// entriesPerReadMax caps the up-front allocation of one Entries call.
	entriesPerReadMax = 1024
	logDirName        = "log"
)

// Log is the durable Raft log and hard state of one node. It implements
// consensus.LogStorage and consensus.StateStorage. It is safe for
// concurrent use: writes (Append, truncations) are serialised with each
// other, and reads are served from memory while an Append fsyncs; they see
// the new entries only once they are durable.
type Log struct {
	dir    string
	logDir string
	opts   Options
	logger *slog.Logger

	// writeMu serialises everything that changes the files: Append and the
	// truncations. Fields below it are owned by the holder of writeMu.
	writeMu  sync.Mutex
	batch    tidwal.Batch
	scratch  []byte
	tailSize int // bytes in tidwall's tail segment, mirrored to see it cycle
	failed   error

	// mu guards the in-memory view that readers use. Writers hold writeMu
	// and take mu only to publish.
	mu       sync.RWMutex
	wl       *tidwal.Log
	closed   bool
	segments []uint64 // first index of each segment file, for error messages
	first    uint64
	last     uint64
	lastTerm uint64
	meta     logMeta    // the compaction point: Term(first-1)
	cache    entryCache // the newest entries, ending at last

	// readMu serialises reads that go to tidwall (see readDisk). It is
	// taken after mu, never before.
	readMu sync.Mutex

	stateMu     sync.Mutex
	hard        consensus.HardState // latest, including an unsynced commit
	hardDurable consensus.HardState // what the hardstate file holds
}

var (
	_ consensus.LogStorage   = (*Log)(nil)
	_ consensus.StateStorage = (*Log)(nil)
)

// ErrClosed is returned by operations on a closed Log.
var ErrClosed = errors.New("wal: closed")

// Open opens (creating if needed) the log in dir, repairing a torn tail and
// refusing any other damage with an error wrapping ErrCorrupt.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = segmentBytesDefault
	}
	if opts.CacheEntriesMax <= 0 {
		opts.CacheEntriesMax = cacheEntriesMaxDefault
	}
	if opts.CacheBytesMax <= 0 {
		opts.CacheBytesMax = cacheBytesMaxDefault
	}
	l := &Log{dir: dir, logDir: filepath.Join(dir, logDirName), opts: opts, logger: opts.Logger,
		cache: newEntryCache(opts.CacheEntriesMax, opts.CacheBytesMax)}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if err := os.MkdirAll(l.logDir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", l.logDir, err)
	}
	if err := l.loadStateFiles(); err != nil {
		return nil, err
	}
	if err := finishTruncations(l.logDir); err != nil {
		return nil, err
	}
	scan, err := scanSegments(l.logDir, l.logger, opts.NoSync)
	if err != nil {
		return nil, err
	}
	if err := l.openTidwall(); err != nil {
		return nil, err
	}
	if !opts.NoSync {
		// Make the directories themselves durable when Open created them.
		for _, d := range []string{l.dir, filepath.Dir(l.dir)} {
			if err := syncDir(d); err != nil {
				l.wl.Close()
				return nil, err
			}
		}
	}
	l.tailSize = scan.tailSize
	if err := l.reload(); err != nil {
		l.wl.Close()
		return nil, err
	}
	l.clearCache()
	if len(scan.segments) > 0 && l.first > l.meta.Index+1 {
		l.wl.Close()
		return nil, fmt.Errorf("wal: %s: log starts at index %d but the snapshot covers only up to %d (missing segment): %w",
			filepath.Join(l.logDir, segmentName(l.first)), l.first, l.meta.Index, ErrCorrupt)
	}
	if l.meta.Index >= l.first {
		// A compaction was recorded but the crash came before the log
		// was cut (or the segments are gone): finish it.
		if err := l.compactLocked(l.meta.Index, l.meta.Term); err != nil {
			l.wl.Close()
			return nil, err
		}
	}
	if err := l.fillCache(); err != nil {
		l.wl.Close()
		return nil, err
	}
	l.hard.Commit = clampCommit(l.hard.Commit, l.meta.Index, l.last)
	return l, nil
}

// clampCommit keeps a recovered commit index within what this node can
// stand behind: at least the compaction point (a snapshot only covers
// committed entries) and at most the last index (the hard state may have
// been written before the entries it counts, and a torn tail may have cut
// some). Lowering or raising it this way is safe because commit is
// advisory; a core that checks commit against its log then never sees an
// impossible value.
func clampCommit(commit, compacted, last uint64) uint64 {
	return max(min(commit, last), compacted)
}

func (l *Log) loadStateFiles() error {
	// A temporary left by a crash mid-replace is not the state: the rename
	// never happened, so the old file is.
	for _, name := range []string{hardStateFileName, logMetaFileName} {
		tmp := filepath.Join(l.dir, name+tempSuffix)
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: remove stale %s: %w", tmp, err)
		}
	}
	path := filepath.Join(l.dir, hardStateFileName)
	b, err := readStateFile(path)
	if err != nil {
		return err
	}
	if b != nil {
		hs, err := decodeHardState(b)
		if err != nil {
			return fmt.Errorf("wal: %s: %w", path, err)
		}
		l.hard, l.hardDurable = hs, hs
	}
	path = filepath.Join(l.dir, logMetaFileName)
	if b, err = readStateFile(path); err != nil {
		return err
	}
	if b != nil {
		m, err := decodeLogMeta(b)
		if err != nil {
			return fmt.Errorf("wal: %s: %w", path, err)
		}
		l.meta = m
	}
	return nil
}

func (l *Log) openTidwall() error {
	wl, err := tidwal.Open(l.logDir, &tidwal.Options{
		NoSync:           true, // we fsync once per Append ourselves
		SegmentSize:      l.opts.SegmentBytes,
		SegmentCacheSize: tidwallSegmentsCached,
		AllowEmpty:       true,
		DirPerms:         0o750,
		FilePerms:        0o640,
	})
	if err != nil {
		return fmt.Errorf("wal: open segments in %s: %w", l.logDir, err)
	}
	l.wl = wl
	if !l.opts.NoSync {
		// tidwall renames START/END files without syncing the directory.
		return syncDir(l.logDir)
	}
	return nil
}

// reload refreshes first, last, lastTerm and the segment list from tidwall
// after it changed files. The caller holds writeMu and mu (or is Open).
func (l *Log) reload() error {
	first, err := l.wl.FirstIndex()
	if err != nil {
		return fmt.Errorf("wal: %s: %w", l.logDir, err)
	}
	last, err := l.wl.LastIndex()
	if err != nil {
		return fmt.Errorf("wal: %s: %w", l.logDir, err)
	}
	segs, err := listSegments(l.logDir)
	if err != nil {
		return err
	}
	l.first, l.last, l.segments = first, last, segs
	if last < first {
		l.lastTerm = l.meta.Term
		if first-1 != l.meta.Index {
			l.lastTerm = 0
		}
		return nil
	}
	e, err := l.readDisk(last)
	if err != nil {
		return err
	}
	l.lastTerm = e.Term
	return nil
}

// fillCache loads the newest entries into the tail cache.
func (l *Log) fillCache() error {
	l.clearCache()
	lo := l.first
	if l.last >= l.first && l.last-l.first+1 > uint64(l.opts.CacheEntriesMax) {
		lo = l.last - uint64(l.opts.CacheEntriesMax) + 1
	}
	for i := lo; i <= l.last && i >= l.first; i++ {
		e, err := l.readDisk(i)
		if err != nil {
			return err
		}
		l.cache.push(e)
	}
	return nil
}

func (l *Log) clearCache() { l.cache.reset(l.last + 1) }

// segmentFile names the segment that holds index (for error messages).
func (l *Log) segmentFile(index uint64) string {
	name := l.logDir
	for _, s := range l.segments {
		if s > index {
			break
		}
		name = filepath.Join(l.logDir, segmentName(s))
	}
	return name
}

// readDisk reads and decodes one entry from the segments. The entry's Data
// aliases a fresh buffer that tidwall allocated for this read.
func (l *Log) readDisk(index uint64) (consensus.Entry, error) {
	// tidwall's Read takes only its read lock yet fills its segment cache,
	// so concurrent Reads race inside it: we let one in at a time.
	l.readMu.Lock()
	rec, err := l.wl.Read(index)
	l.readMu.Unlock()
	if err != nil {
		return consensus.Entry{}, fmt.Errorf("wal: %s: read index %d: %w", l.segmentFile(index), index, err)
	}
	e, _, err := decodeRecord(rec)
	if err == nil && e.Index != index {
		err = fmt.Errorf("record says index %d: %w", e.Index, ErrCorrupt)
	}
	if err != nil {
		return e, fmt.Errorf("wal: %s: index %d: %w", l.segmentFile(index), index, err)
	}
	return e, nil
}

// Close writes a pending commit index and closes the files.
func (l *Log) Close() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	l.stateMu.Lock()
	var err error
	if l.hard != l.hardDurable {
		err = l.writeHardStateLocked(l.hard)
	}
	l.stateMu.Unlock()
	l.clearCache()
	if cerr := l.wl.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close %s: %w", l.logDir, cerr)
	}
	return err
}

// FirstIndex is one past the compaction point (1 for a log never compacted).
func (l *Log) FirstIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first
}

// LastIndex is the index of the newest durable entry (FirstIndex-1 when the
// log is empty).
func (l *Log) LastIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last
}

// LastTerm is the term of the entry at LastIndex (the snapshot's term when
// the log is empty).
func (l *Log) LastTerm() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastTerm
}

// Term returns the term of the entry at index; for FirstIndex-1 it returns
// the term of the compaction point.
func (l *Log) Term(index uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	switch {
	case index == l.first-1:
		if index == l.meta.Index {
			return l.meta.Term, nil
		}
		return 0, nil // index 0: before the first entry ever
	case index < l.first:
		return 0, fmt.Errorf("wal: term of index %d (first index %d): %w", index, l.first, consensus.ErrCompacted)
	case index > l.last:
		return 0, fmt.Errorf("wal: term of index %d (last index %d): %w", index, l.last, consensus.ErrUnavailable)
	case l.cache.has(index):
		return l.cache.at(index).Term, nil
	}
	e, err := l.readDisk(index)
	return e.Term, err
}

// Entry returns the entry at index. Its Data must not be modified: it may
// be shared with the cache.
func (l *Log) Entry(index uint64) (consensus.Entry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.checkRangeLocked(index, index+1); err != nil {
		return consensus.Entry{}, err
	}
	if l.cache.has(index) {
		return *l.cache.at(index), nil
	}
	return l.readDisk(index)
}

func (l *Log) checkRangeLocked(lo, hi uint64) error {
	switch {
	case l.closed:
		return ErrClosed
	case lo < l.first:
		return fmt.Errorf("wal: entries from %d (first index %d): %w", lo, l.first, consensus.ErrCompacted)
	case hi > l.last+1:
		return fmt.Errorf("wal: entries [%d, %d) (last index %d): %w", lo, hi, l.last, consensus.ErrUnavailable)
	}
	return nil
}

// Entries returns entries [lo, hi): at least one when lo < hi, then no more
// than maxBytes of Data in total (maxBytes <= 0: no limit). The returned
// slice is the caller's; the entries' Data must not be modified.
func (l *Log) Entries(lo, hi uint64, maxBytes int) ([]consensus.Entry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.checkRangeLocked(lo, hi); err != nil {
		return nil, err
	}
	if lo >= hi {
		return nil, nil
	}
	// Allocate once for the common case; a byte limit may stop us sooner.
	out := make([]consensus.Entry, 0, min(hi-lo, entriesPerReadMax))
	total := 0
	i := lo
	for ; i < hi && !l.cache.has(i); i++ {
		e, err := l.readDisk(i)
		if err != nil {
			return nil, err
		}
		if maxBytes > 0 && len(out) > 0 && total+len(e.Data) > maxBytes {
			return out, nil
		}
		total += len(e.Data)
		out = append(out, e)
	}
	if i < hi {
		out = l.cache.appendRange(out, i, hi, maxBytes, total)
	}
	return out, nil
}

// Append writes entries durably: one tidwall batch, then one fsync (group
// commit). A batch whose first index is at or below LastIndex replaces the
// entries from that index on (a conflicting suffix from a new leader).
// Entries at or below the compaction point are skipped: they are committed
// and covered by the snapshot.
func (l *Log) Append(entries []consensus.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if len(entries) > appendEntriesMax {
		return fmt.Errorf("wal: append of %d entries exceeds the maximum %d", len(entries), appendEntriesMax)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	firstNew := entries[0].Index
	for i := range entries {
		if entries[i].Index != firstNew+uint64(i) {
			return fmt.Errorf("wal: append: entry %d has index %d, want %d (not contiguous)", i, entries[i].Index, firstNew+uint64(i))
		}
		if len(entries[i].Data) > entryDataBytesMax {
			return fmt.Errorf("wal: append: entry %d has %d bytes of data, more than %d", entries[i].Index, len(entries[i].Data), entryDataBytesMax)
		}
	}
	if firstNew < l.first {
		skip := l.first - firstNew
		if skip >= uint64(len(entries)) {
			return nil
		}
		entries = entries[skip:]
		firstNew = l.first
	}
	if firstNew > l.last+1 {
		return fmt.Errorf("wal: append at index %d leaves a gap after last index %d: %w", firstNew, l.last, consensus.ErrUnavailable)
	}
	if firstNew <= l.last {
		if err := l.truncateSuffixLocked(firstNew); err != nil {
			return err
		}
	}

	l.batch.Clear()
	cycled := false
	segsAdded := l.segments
	if l.tailSize > l.opts.SegmentBytes {
		l.tailSize, cycled = 0, true
		segsAdded = append(segsAdded, firstNew)
	}
	dataBytes := 0
	for i := range entries {
		e := &entries[i]
		l.scratch = appendRecord(l.scratch[:0], e, uint64(i))
		l.batch.Write(e.Index, l.scratch)
		dataBytes += len(e.Data)
		// Mirror tidwall's rule for cutting a new segment (frame bytes
		// reaching SegmentSize), so that we know to fsync the directory.
		l.tailSize += uvarintBytes(uint64(len(l.scratch))) + len(l.scratch)
		if l.tailSize >= l.opts.SegmentBytes {
			l.tailSize, cycled = 0, true
			segsAdded = append(segsAdded, e.Index+1)
		}
	}
	if err := l.wl.WriteBatch(&l.batch); err != nil {
		l.failed = fmt.Errorf("wal: append [%d, %d] to %s: %w", firstNew, firstNew+uint64(len(entries))-1, l.logDir, err)
		return l.failed
	}
	if !l.opts.NoSync {
		if err := l.wl.Sync(); err != nil {
			l.failed = fmt.Errorf("wal: fsync %s: %w", l.segmentFile(firstNew+uint64(len(entries))-1), err)
			return l.failed
		}
		if cycled {
			if err := syncDir(l.logDir); err != nil {
				l.failed = err
				return err
			}
		}
	}

	// Publish: copy the data into one slab so that the cache owns it and
	// the caller may reuse its buffers.
	slab := make([]byte, dataBytes)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.segments = segsAdded
	for i := range entries {
		e := entries[i]
		n := copy(slab, e.Data)
		if e.Data != nil {
			e.Data = slab[:n:n]
		}
		slab = slab[n:]
		l.cache.push(e)
	}
	tail := &entries[len(entries)-1]
	l.last, l.lastTerm = tail.Index, tail.Term
	return nil
}

func (l *Log) writableLocked() error {
	if l.failed != nil {
		return l.failed
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// TruncateSuffix removes the entries from index `from` on.
func (l *Log) TruncateSuffix(from uint64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	return l.truncateSuffixLocked(from)
}

func (l *Log) truncateSuffixLocked(from uint64) error {
	if from > l.last {
		return nil
	}
	if from < l.first {
		return fmt.Errorf("wal: truncate suffix from %d below first index %d: %w", from, l.first, consensus.ErrCompacted)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.wl.TruncateBack(from - 1); err != nil {
		l.failed = fmt.Errorf("wal: truncate %s back to index %d: %w", l.logDir, from-1, err)
		return l.failed
	}
	return l.afterTruncateLocked()
}

// afterTruncateLocked makes a truncation durable and refreshes the view.
func (l *Log) afterTruncateLocked() error {
	if !l.opts.NoSync {
		if err := syncDir(l.logDir); err != nil {
			l.failed = err
			return err
		}
	}
	if err := l.reload(); err != nil {
		l.failed = err
		return err
	}
	st, err := os.Stat(filepath.Join(l.logDir, segmentName(l.segments[len(l.segments)-1])))
	if err != nil {
		l.failed = fmt.Errorf("wal: stat tail segment: %w", err)
		return l.failed
	}
	l.tailSize = int(st.Size())
	l.cache.truncate(l.first, l.last)
	return nil
}

// TruncatePrefix removes entries up to and including upTo after a
// snapshot, remembering upToTerm durably (in the logmeta file, written
// before any segment is touched) for Term(FirstIndex-1). When the log does
// not hold upTo with upToTerm, the whole log is discarded: what follows a
// snapshot point we disagree on cannot be trusted.
func (l *Log) TruncatePrefix(upTo uint64, upToTerm uint64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if upTo < l.first {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := writeFileAtomic(filepath.Join(l.dir, logMetaFileName), encodeLogMeta(logMeta{upTo, upToTerm}), l.opts.NoSync); err != nil {
		return err
	}
	l.meta = logMeta{upTo, upToTerm}
	if err := l.compactLocked(upTo, upToTerm); err != nil {
		l.failed = err
		return err
	}
	l.stateMu.Lock()
	l.hard.Commit = max(l.hard.Commit, upTo)
	l.stateMu.Unlock()
	return nil
}

// compactLocked cuts the log's front to upTo (already recorded in meta).
func (l *Log) compactLocked(upTo, upToTerm uint64) error {
	keepSuffix := false
	if upTo <= l.last && upTo >= l.first {
		var t uint64
		if l.cache.has(upTo) {
			t = l.cache.at(upTo).Term
		} else {
			e, err := l.readDisk(upTo)
			if err != nil {
				return err
			}
			t = e.Term
		}
		keepSuffix = t == upToTerm
	}
	if keepSuffix {
		if err := l.wl.TruncateFront(upTo + 1); err != nil {
			return fmt.Errorf("wal: truncate %s front to index %d: %w", l.logDir, upTo+1, err)
		}
		return l.afterTruncateLocked()
	}
	return l.resetLocked(upTo + 1)
}

// resetLocked discards every segment and starts an empty log whose next
// index is next. It uses tidwall's own recovery rule: an empty
// "<next>.START" file, fsynced into place, makes tidwall's open delete every
// segment before it. A crash anywhere in here leaves either the old log
// (and the logmeta that Open finishes from) or the START file.
func (l *Log) resetLocked(next uint64) error {
	if err := l.wl.Close(); err != nil {
		return fmt.Errorf("wal: close %s for reset: %w", l.logDir, err)
	}
	// tidwall deletes only the segments that sort before START; those at
	// or after it (a reset below the last index, after a term mismatch)
	// go first, newest first, so that a crash leaves a contiguous prefix.
	for i := len(l.segments) - 1; i >= 0 && l.segments[i] >= next; i-- {
		path := filepath.Join(l.logDir, segmentName(l.segments[i]))
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: reset: remove %s: %w", path, err)
		}
	}
	start := filepath.Join(l.logDir, segmentName(next)+".START")
	f, err := os.OpenFile(start, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("wal: reset: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: reset: close %s: %w", start, err)
	}
	if !l.opts.NoSync {
		if err := syncDir(l.logDir); err != nil {
			return err
		}
	}
	if err := l.openTidwall(); err != nil {
		return err
	}
	l.tailSize = 0
	if err := l.reload(); err != nil {
		return err
	}
	l.clearCache()
	return nil
}

// SaveHardState records hs. A change of Term or Vote is written atomically
// and fsynced before it returns. A change of Commit alone is kept in memory
// and folded into the next durable write (or Close): a commit index that
// goes back after a crash is safe, because Raft relearns it from the
// leader, and an fsync per commit advance would double the disk work.
func (l *Log) SaveHardState(hs consensus.HardState) error {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if hs.Term < l.hardDurable.Term {
		return fmt.Errorf("wal: hard state term %d is below the saved term %d", hs.Term, l.hardDurable.Term)
	}
	if hs.Term == l.hardDurable.Term && hs.Vote == l.hardDurable.Vote {
		l.hard = hs
		return nil
	}
	if err := l.writeHardStateLocked(hs); err != nil {
		return err
	}
	l.hard = hs
	return nil
}

func (l *Log) writeHardStateLocked(hs consensus.HardState) error {
	if err := writeFileAtomic(filepath.Join(l.dir, hardStateFileName), encodeHardState(hs), l.opts.NoSync); err != nil {
		return err
	}
	l.hardDurable = hs
	return nil
}

// HardState returns the latest saved hard state (its Commit may be newer
// than what is on disk).
func (l *Log) HardState() (consensus.HardState, error) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.hard, nil
}
