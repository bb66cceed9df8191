package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/raftkv/raftkv/consensus"
)

// Options configure a Log. The zero value is production-ready.
type Options struct {
	// NoSync skips every fsync. It is for tests and benchmarks only: with
	// it, Append and SaveHardState are not durable (and segments are
	// sparse files instead of zero-filled ones).
	NoSync bool
	// SegmentBytes is the size of each segment file (default 4 MiB). Every
	// segment is zero-filled to this size before use, so one prepared
	// segment and the unused end of the tail cost disk space but no memory;
	// a record larger than a segment gets a segment of its own size.
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

	// durablePoint, when set (tests only), is called at each point of an
	// Append or a truncation where everything written so far is synced,
	// so that a test can build every state a crash between two points can
	// leave.
	durablePoint func()
}

const (
	segmentBytesDefault    = 4 << 20
	cacheEntriesMaxDefault = 8192
	cacheBytesMaxDefault   = 4 << 20
	// segmentBytesMin keeps a segment able to hold a header and a record.
	segmentBytesMin = segmentHeaderBytes + 64
	// appendEntriesMax bounds one Append call: a batch this large is a bug
	// upstream, and it would pin that much memory twice.
	appendEntriesMax = 1 << 16
	// entryDataBytesMax bounds one entry's data: far above any sane
	// command batch, far below what would make a segment unreadable.
	entryDataBytesMax = 64 << 20
	// scratchBytesKeptMax bounds the encoding buffer kept between Appends.
	scratchBytesKeptMax = 4 << 20
	// readBytesMax bounds one pread of Entries without a byte limit.
	readBytesMax = 1 << 20
	// entriesPerReadMax caps the up-front allocation of one Entries call.
	entriesPerReadMax = 1024
	// segmentDirName holds our segments; legacyLogDirName held
	// tidwall/wal's, which Open migrates (legacy.go).
	segmentDirName   = "segments"
	legacyLogDirName = "log"
)

// Log is the durable Raft log and hard state of one node. It implements
// consensus.LogStorage and consensus.StateStorage. It is safe for
// concurrent use: writes (Append, truncations) are serialised with each
// other, and reads are served while an Append fsyncs; they see the new
// entries only once they are durable.
type Log struct {
	dir    string
	segDir string
	opts   Options
	logger *slog.Logger
	prep   *preparer

	// writeMu serialises everything that changes the files: Append and the
	// truncations. Fields below it are owned by the holder of writeMu.
	writeMu    sync.Mutex
	scratch    []byte  // the frames of one Append
	frameStart []int64 // where each frame of scratch starts, relative to scratch
	failed     error

	// mu guards the in-memory view that readers use. Writers hold writeMu
	// and take mu only to publish.
	mu       sync.RWMutex
	closed   bool
	segs     []*segment // sorted by first index; the last is the tail
	first    uint64
	last     uint64
	lastTerm uint64
	meta     logMeta    // the compaction point: Term(first-1)
	cache    entryCache // the newest entries, ending at last

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
// refusing any other damage with an error wrapping ErrCorrupt. A log
// written by an earlier version (tidwall/wal segments in dir/log) is
// migrated first.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = segmentBytesDefault
	}
	opts.SegmentBytes = max(opts.SegmentBytes, segmentBytesMin)
	if opts.CacheEntriesMax <= 0 {
		opts.CacheEntriesMax = cacheEntriesMaxDefault
	}
	if opts.CacheBytesMax <= 0 {
		opts.CacheBytesMax = cacheBytesMaxDefault
	}
	l := &Log{dir: dir, segDir: segmentDirPath(dir), opts: opts, logger: opts.Logger,
		cache: newEntryCache(opts.CacheEntriesMax, opts.CacheBytesMax)}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	if err := l.loadStateFiles(); err != nil {
		return nil, err
	}
	if err := migrateLegacy(dir, opts, l.logger); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.segDir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", l.segDir, err)
	}
	if !opts.NoSync {
		// Make the directories themselves durable when Open created them.
		for _, d := range []string{l.dir, filepath.Dir(l.dir)} {
			if err := syncDir(d); err != nil {
				return nil, err
			}
		}
	}
	if err := l.cleanSegmentDir(); err != nil {
		return nil, err
	}
	if err := l.openSegments(); err != nil {
		l.closeFiles()
		return nil, err
	}
	if err := l.openView(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.prep = startPreparer(filepath.Join(l.segDir, preparedFileName), int64(opts.SegmentBytes), opts.NoSync)
	return l, nil
}

// openView sets first, last, lastTerm and the cache from the segments and
// the compaction point, finishing a compaction that a crash cut short.
func (l *Log) openView() error {
	l.first, l.last = l.meta.Index+1, l.meta.Index
	if len(l.segs) > 0 {
		head, tail := l.segs[0], l.segs[len(l.segs)-1]
		if head.first > l.meta.Index+1 {
			return fmt.Errorf("wal: %s: log starts at index %d but the snapshot covers only up to %d (missing segment): %w",
				head.path, head.first, l.meta.Index, ErrCorrupt)
		}
		l.first, l.last = head.first, tail.first+tail.count()-1
	}
	l.clearCache()
	if err := l.refreshLastTerm(); err != nil {
		return err
	}
	if l.meta.Index >= l.first {
		// Entries the snapshot covers are still on disk (the log is cut
		// lazily, whole segments at a time, or a crash came before the
		// cut): cut, or discard the log if it disagrees with the snapshot.
		if err := l.compactLocked(l.meta.Index, l.meta.Term); err != nil {
			return err
		}
	}
	if err := l.fillCache(); err != nil {
		return err
	}
	l.hard.Commit = clampCommit(l.hard.Commit, l.meta.Index, l.last)
	return nil
}

// cleanSegmentDir removes temporaries left by a crash and the prepared
// segment of the previous run: a crash between its rename to a segment name
// and the directory fsync can leave it under its old name holding records
// of an unacknowledged write, which must not reappear in a later segment.
// The preparer makes a fresh one.
func (l *Log) cleanSegmentDir() error {
	des, err := os.ReadDir(l.segDir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", l.segDir, err)
	}
	for _, de := range des {
		name := de.Name()
		ext := filepath.Ext(name)
		if ext != tempSuffix && ext != oversizedSuffix && name != preparedFileName {
			continue
		}
		path := filepath.Join(l.segDir, name)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("wal: remove stale %s: %w", path, err)
		}
	}
	return nil
}

// openSegments reads and verifies every segment, repairs a torn tail, and
// keeps each segment open with the offsets of its records.
func (l *Log) openSegments() error {
	firsts, err := listSegmentFiles(l.segDir)
	if err != nil {
		return err
	}
	for i, first := range firsts {
		path := filepath.Join(l.segDir, segmentFileName(first))
		if len(l.segs) > 0 {
			prev := l.segs[len(l.segs)-1]
			if next := prev.first + prev.count(); first != next {
				if first > l.meta.Index+1 {
					return fmt.Errorf("wal: %s starts at index %d but the previous segment ends at %d (missing segment): %w",
						path, first, next-1, ErrCorrupt)
				}
				// Every entry before first is in the snapshot: the
				// segments before the gap are the rest of a compaction
				// whose unlinks (no directory fsync) reached the disk out
				// of order. Finish it.
				if err := l.dropSegments(); err != nil {
					return err
				}
			}
		}
		seg, err := l.openSegment(path, first, i == len(firsts)-1)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, seg)
	}
	return nil
}

// openSegment verifies one segment file. In the tail segment, damage that
// no intact record of a later batch follows is a torn final write: the
// bytes from the damage to the last non-zero byte are zeroed and synced.
// Anything else is ErrCorrupt naming the file, the index and the offset.
func (l *Log) openSegment(path string, first uint64, isTail bool) (*segment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	if err := checkSegmentHeader(data, first); err != nil {
		return nil, fmt.Errorf("wal: %s: %w", path, err)
	}
	offsets, good, bad := scanRecords(data, first)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", path, err)
	}
	seg := &segment{first: first, path: path, file: f, offsets: offsets, end: int64(good), size: int64(len(data))}
	if bad != nil {
		badIndex := first + seg.count()
		if !isTail {
			f.Close()
			return nil, fmt.Errorf("wal: %s: index %d at offset %d: %w", path, badIndex, good, bad)
		}
		if laterIndex, later := findLaterBatch(data[good:], badIndex); later {
			f.Close()
			return nil, fmt.Errorf("wal: %s: index %d at offset %d is damaged but index %d of a later batch follows it intact: %w",
				path, badIndex, good, laterIndex, bad)
		}
		dirty := int64(good + lastNonZero(data[good:]) + 1)
		if err := zeroRange(f, int64(good), dirty); err != nil {
			f.Close()
			return nil, fmt.Errorf("wal: repair %s: %w", path, err)
		}
		if !l.opts.NoSync {
			if err := fdatasync(f); err != nil {
				f.Close()
				return nil, fmt.Errorf("wal: repair %s: fdatasync: %w", path, err)
			}
		}
		l.logger.Warn("wal: cut torn tail", "file", path, "index", badIndex, "offset", good,
			"bytes_dropped", dirty-int64(good), "reason", bad.Error())
	}
	return seg, nil
}

// dropSegments removes the segments opened so far (Open, finishing a
// compaction).
func (l *Log) dropSegments() error {
	for _, s := range l.segs {
		s.file.Close()
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("wal: remove %s (compacted): %w", s.path, err)
		}
	}
	l.segs = l.segs[:0]
	return nil
}

// closeFiles closes every segment file (Close, or a failed Open).
func (l *Log) closeFiles() error {
	var err error
	for _, s := range l.segs {
		if cerr := s.file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("wal: close %s: %w", s.path, cerr)
		}
	}
	l.segs = nil
	return err
}

// refreshLastTerm sets lastTerm for the current last index.
func (l *Log) refreshLastTerm() error {
	switch {
	case l.last < l.first:
		l.lastTerm = 0
		if l.last == l.meta.Index {
			l.lastTerm = l.meta.Term
		}
	case l.cache.has(l.last):
		l.lastTerm = l.cache.at(l.last).Term
	default:
		e, err := l.readDisk(l.last)
		if err != nil {
			return err
		}
		l.lastTerm = e.Term
	}
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

// segmentOf returns the segment that holds index, or nil. The caller holds
// mu (or writeMu).
func (l *Log) segmentOf(index uint64) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > index })
	if i == 0 {
		return nil
	}
	s := l.segs[i-1]
	if index-s.first >= s.count() {
		return nil
	}
	return s
}

// segmentFile names the segment that holds index (for error messages).
func (l *Log) segmentFile(index uint64) string {
	if s := l.segmentOf(index); s != nil {
		return s.path
	}
	return l.segDir
}

// readDisk reads and decodes one entry from its segment. The entry's Data
// aliases a fresh buffer.
func (l *Log) readDisk(index uint64) (consensus.Entry, error) {
	s := l.segmentOf(index)
	if s == nil {
		return consensus.Entry{}, fmt.Errorf("wal: %s: no segment holds index %d: %w", l.segDir, index, consensus.ErrUnavailable)
	}
	lo, hi := s.frame(index)
	buf := make([]byte, hi-lo)
	if _, err := s.file.ReadAt(buf, lo); err != nil {
		return consensus.Entry{}, fmt.Errorf("wal: %s: read index %d at offset %d: %w", s.path, index, lo, err)
	}
	size, n := binary.Uvarint(buf)
	if n <= 0 || uint64(len(buf)-n) != size {
		return consensus.Entry{}, fmt.Errorf("wal: %s: index %d at offset %d: bad length prefix: %w", s.path, index, lo, ErrCorrupt)
	}
	e, _, err := decodeRecord(buf[n:])
	if err == nil && e.Index != index {
		err = fmt.Errorf("record says index %d: %w", e.Index, ErrCorrupt)
	}
	if err != nil {
		return e, fmt.Errorf("wal: %s: index %d at offset %d: %w", s.path, index, lo, err)
	}
	return e, nil
}

// readDiskRange reads entries from lo on, fewer than hi, with one pread of
// the run of frames that starts at lo in its segment: at least one entry,
// then no more frames than about byteBudget bytes (readBytesMax when
// byteBudget <= 0) would need. The entries' Data alias one fresh buffer.
func (l *Log) readDiskRange(lo, hi uint64, byteBudget int) ([]consensus.Entry, error) {
	s := l.segmentOf(lo)
	if s == nil {
		return nil, fmt.Errorf("wal: %s: no segment holds index %d: %w", l.segDir, lo, consensus.ErrUnavailable)
	}
	if byteBudget <= 0 {
		byteBudget = readBytesMax
	}
	hi = min(hi, s.first+s.count())
	start, end := s.frame(lo)
	n := lo + 1
	for ; n < hi; n++ {
		_, fe := s.frame(n)
		if fe-start > int64(byteBudget) {
			break
		}
		end = fe
	}
	buf := make([]byte, end-start)
	if _, err := s.file.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("wal: %s: read [%d, %d) at offset %d: %w", s.path, lo, n, start, err)
	}
	out := make([]consensus.Entry, 0, n-lo)
	for index := lo; index < n; index++ {
		fs, fe := s.frame(index)
		frame := buf[fs-start : fe-start]
		size, k := binary.Uvarint(frame)
		if k <= 0 || uint64(len(frame)-k) != size {
			return nil, fmt.Errorf("wal: %s: index %d at offset %d: bad length prefix: %w", s.path, index, fs, ErrCorrupt)
		}
		e, _, err := decodeRecord(frame[k:])
		if err == nil && e.Index != index {
			err = fmt.Errorf("record says index %d: %w", e.Index, ErrCorrupt)
		}
		if err != nil {
			return nil, fmt.Errorf("wal: %s: index %d at offset %d: %w", s.path, index, fs, err)
		}
		out = append(out, e)
	}
	return out, nil
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
	l.prep.close()
	l.stateMu.Lock()
	var err error
	if l.hard != l.hardDurable {
		err = l.writeHardStateLocked(l.hard)
	}
	l.stateMu.Unlock()
	l.clearCache()
	if cerr := l.closeFiles(); cerr != nil && err == nil {
		err = cerr
	}
	return err
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
	for i < hi && !l.cache.has(i) {
		// The entries before the cache, one pread per run of frames.
		missEnd := hi
		if l.cache.has(hi - 1) {
			missEnd = l.cache.first
		}
		es, err := l.readDiskRange(i, missEnd, maxBytes-total)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if maxBytes > 0 && len(out) > 0 && total+len(e.Data) > maxBytes {
				return out, nil
			}
			total += len(e.Data)
			out = append(out, e)
		}
		i += uint64(len(es))
	}
	if i < hi {
		out = l.cache.appendRange(out, i, hi, maxBytes, total)
	}
	return out, nil
}

// Append writes entries durably: their records are written over the zeros
// of the tail segment, then one fdatasync (group commit). A batch whose
// first index is at or below LastIndex replaces the entries from that index
// on (a conflicting suffix from a new leader). Entries at or below the
// compaction point are skipped: they are committed and covered by the
// snapshot.
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

	// Encode every frame (uvarint length, record) into one buffer.
	l.scratch = l.scratch[:0]
	l.frameStart = l.frameStart[:0]
	dataBytes := 0
	for i := range entries {
		e := &entries[i]
		l.frameStart = append(l.frameStart, int64(len(l.scratch)))
		l.scratch = binary.AppendUvarint(l.scratch, uint64(recordBytes(e, uint64(i))))
		l.scratch = appendRecord(l.scratch, e, uint64(i))
		dataBytes += len(e.Data)
	}
	l.frameStart = append(l.frameStart, int64(len(l.scratch)))

	// Write the frames into the tail, rotating to a fresh segment when the
	// next frame does not fit. A rotation syncs the old tail first, so that
	// only the last segment can ever hold a torn write.
	var added []*segment
	tail := l.tailLocked()
	tailEnd := int64(0)
	if tail != nil {
		tailEnd = tail.end
	}
	type span struct {
		seg     *segment
		lo, hi  int   // frames [lo, hi) of this Append
		fileOff int64 // where frame lo goes in the file
	}
	var spans []span
	// replaced is an empty tail that a segment made to measure replaces
	// (same first index, so the same name: the rename swaps the files).
	var replaced *segment
	for i := 0; i < len(entries); {
		frameBytes := l.frameStart[i+1] - l.frameStart[i]
		if tail == nil || tailEnd+frameBytes > tail.size {
			if tail != nil && len(spans) > 0 && spans[len(spans)-1].seg == tail {
				sp := spans[len(spans)-1]
				if err := l.writeSpan(sp.seg, sp.fileOff, sp.lo, sp.hi, firstNew, !l.opts.NoSync); err != nil {
					l.closeSegments(added)
					return err
				}
			}
			seg, err := l.newSegmentLocked(entries[i].Index, frameBytes)
			if err != nil {
				l.closeSegments(added)
				if len(spans) > 0 {
					// Part of this batch is on disk, in files the view
					// does not know: only Open can sort that out.
					l.failed = err
				}
				return err
			}
			if tail != nil && tail.first == seg.first {
				// The tail held no record (a crash right after a
				// rotation, or TruncateSuffix at its first index) and the
				// record is larger than it: the new segment took its name.
				replaced = tail
			}
			added = append(added, seg)
			tail, tailEnd = seg, segmentHeaderBytes
		}
		// Take as many frames as fit in this segment.
		j := i + 1
		for j < len(entries) && tailEnd+(l.frameStart[j+1]-l.frameStart[i]) <= tail.size {
			j++
		}
		spans = append(spans, span{tail, i, j, tailEnd})
		tailEnd += l.frameStart[j] - l.frameStart[i]
		i = j
	}
	last := spans[len(spans)-1]
	if err := l.writeSpan(last.seg, last.fileOff, last.lo, last.hi, firstNew, !l.opts.NoSync); err != nil {
		l.closeSegments(added)
		return err
	}

	if cap(l.scratch) > scratchBytesKeptMax {
		l.scratch = nil // a rare huge batch: do not pin its buffer
	}

	// Publish: copy the data into one slab so that the cache owns it and
	// the caller may reuse its buffers.
	slab := make([]byte, dataBytes)
	l.mu.Lock()
	defer l.mu.Unlock()
	if replaced != nil {
		replaced.file.Close()
		l.segs = l.segs[:len(l.segs)-1]
	}
	l.segs = append(l.segs, added...)
	for _, sp := range spans {
		for k := sp.lo; k < sp.hi; k++ {
			sp.seg.offsets = append(sp.seg.offsets, uint32(sp.fileOff+l.frameStart[k]-l.frameStart[sp.lo]))
		}
		sp.seg.end = sp.fileOff + l.frameStart[sp.hi] - l.frameStart[sp.lo]
	}
	for i := range entries {
		e := entries[i]
		n := copy(slab, e.Data)
		if e.Data != nil {
			e.Data = slab[:n:n]
		}
		slab = slab[n:]
		l.cache.push(e)
	}
	tailEntry := &entries[len(entries)-1]
	l.last, l.lastTerm = tailEntry.Index, tailEntry.Term
	return nil
}

// writeSpan writes frames [lo, hi) of scratch (entries firstNew+lo on) at
// off in seg and, if sync, fdatasyncs seg. A failure poisons the Log: what reached the file is
// unknown, and only Open can tell.
func (l *Log) writeSpan(seg *segment, off int64, lo, hi int, firstNew uint64, sync bool) error {
	b := l.scratch[l.frameStart[lo]:l.frameStart[hi]]
	if _, err := seg.file.WriteAt(b, off); err != nil {
		l.failed = fmt.Errorf("wal: append [%d, %d] to %s: %w", firstNew+uint64(lo), firstNew+uint64(hi)-1, seg.path, err)
		return l.failed
	}
	if sync {
		if err := fdatasync(seg.file); err != nil {
			l.failed = fmt.Errorf("wal: fdatasync %s: %w", seg.path, err)
			return l.failed
		}
	}
	l.reachedDurablePoint()
	return nil
}

// tailLocked is the segment Append writes to, or nil when there is none.
func (l *Log) tailLocked() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// newSegmentLocked makes the segment that starts at first durable under its
// name: the prepared zero-filled file (or, for a frame larger than a
// segment, one made to measure), its header written and synced, renamed,
// and the directory fsynced. It is not yet published.
func (l *Log) newSegmentLocked(first uint64, frameBytes int64) (*segment, error) {
	path := filepath.Join(l.segDir, segmentFileName(first))
	src := filepath.Join(l.segDir, preparedFileName)
	size := int64(l.opts.SegmentBytes)
	if need := segmentHeaderBytes + frameBytes; need > size {
		size = (need + segmentAlignBytes - 1) / segmentAlignBytes * segmentAlignBytes
		src = path + oversizedSuffix
		if err := createZeroFile(src, size, l.opts.NoSync, nil); err != nil {
			return nil, err
		}
	} else if err := l.prep.take(); err != nil {
		return nil, err
	} else {
		defer l.prep.refill()
	}
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", src, err)
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		l.failed = err
		return nil, err
	}
	if _, err := f.WriteAt(encodeSegmentHeader(first), 0); err != nil {
		return fail(fmt.Errorf("wal: write header of %s: %w", path, err))
	}
	if !l.opts.NoSync {
		if err := fdatasync(f); err != nil {
			return fail(fmt.Errorf("wal: fdatasync %s: %w", src, err))
		}
	}
	if err := os.Rename(src, path); err != nil {
		return fail(fmt.Errorf("wal: rename %s: %w", src, err))
	}
	if !l.opts.NoSync {
		if err := syncDir(l.segDir); err != nil {
			return fail(err)
		}
	}
	l.reachedDurablePoint()
	return &segment{first: first, path: path, file: f, end: segmentHeaderBytes, size: size}, nil
}

// closeSegments closes segments made by an Append that then failed (the
// Log is poisoned; Open will find them).
func (l *Log) closeSegments(segs []*segment) {
	for _, s := range segs {
		s.file.Close()
	}
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

// truncateSuffixLocked removes the segments after the one holding from
// (newest first, then a directory fsync), then replaces that segment by a
// copy of its bytes before from's record followed by zeros (rewriteSegment):
// the invariant that only zeros follow the last record holds again, so no
// stale record can reappear behind later appends, and a crash at any point
// leaves either the old segment or the new one, never a mix (zeroing in
// place could leave holes in durable records that Open would have to call
// corruption). A crash part way leaves a prefix of the old log, which is a
// state the log was in.
func (l *Log) truncateSuffixLocked(from uint64) error {
	if from > l.last {
		return nil
	}
	if from < l.first {
		return fmt.Errorf("wal: truncate suffix from %d below first index %d: %w", from, l.first, consensus.ErrCompacted)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > from }) - 1
	if k < 0 {
		return fmt.Errorf("wal: truncate suffix from %d: no segment holds it: %w", from, ErrCorrupt)
	}
	if err := l.removeSegmentsLocked(k + 1); err != nil {
		return err
	}
	seg := l.segs[k]
	lo, _ := seg.frame(from)
	if err := l.rewriteSegmentLocked(seg, lo); err != nil {
		l.failed = fmt.Errorf("wal: truncate %s at index %d: %w", seg.path, from, err)
		return l.failed
	}
	seg.offsets = seg.offsets[:from-seg.first]
	seg.end = lo
	l.last = from - 1
	l.cache.truncate(l.first, l.last)
	if err := l.refreshLastTerm(); err != nil {
		l.failed = err
		return err
	}
	return nil
}

// rewriteSegmentLocked replaces seg's file, atomically, by one that holds
// its first keep bytes (header and records) and zeros after them: a
// zero-filled file (the prepared one, or one made to measure for a segment
// of another size) gets those bytes, is synced, renamed over seg and the
// directory fsynced. Readers are held off by mu, which the caller holds.
func (l *Log) rewriteSegmentLocked(seg *segment, keep int64) error {
	src := filepath.Join(l.segDir, preparedFileName)
	if seg.size != int64(l.opts.SegmentBytes) {
		src = seg.path + oversizedSuffix
		if err := createZeroFile(src, seg.size, l.opts.NoSync, nil); err != nil {
			return err
		}
	} else {
		if err := l.prep.take(); err != nil {
			return err
		}
		defer l.prep.refill()
	}
	kept := make([]byte, keep)
	if _, err := seg.file.ReadAt(kept, 0); err != nil {
		return fmt.Errorf("read %d bytes: %w", keep, err)
	}
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(kept, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", src, err)
	}
	if !l.opts.NoSync {
		if err := fdatasync(f); err != nil {
			f.Close()
			return fmt.Errorf("fdatasync %s: %w", src, err)
		}
	}
	if err := os.Rename(src, seg.path); err != nil {
		f.Close()
		return err
	}
	seg.file.Close()
	seg.file = f
	if !l.opts.NoSync {
		return syncDir(l.segDir)
	}
	return nil
}

// removeSegmentsLocked deletes segs[k:], newest first, with a directory
// fsync after each unlink: unlinks not yet synced may reach the disk in
// any order, and an older segment gone while a newer one stays would be a
// gap (a missing segment) that Open must refuse. Removing several segments
// is rare (a long conflicting suffix, a discarded log). The caller holds
// writeMu and mu.
func (l *Log) removeSegmentsLocked(k int) error {
	for i := len(l.segs) - 1; i >= k; i-- {
		s := l.segs[i]
		s.file.Close()
		l.segs = l.segs[:i]
		if err := os.Remove(s.path); err != nil {
			l.failed = fmt.Errorf("wal: remove %s: %w", s.path, err)
			return l.failed
		}
		if !l.opts.NoSync {
			if err := syncDir(l.segDir); err != nil {
				l.failed = err
				return err
			}
		}
		l.reachedDurablePoint()
	}
	return nil
}

// reachedDurablePoint tells a test that what was written so far is synced.
func (l *Log) reachedDurablePoint() {
	if l.opts.durablePoint != nil {
		l.opts.durablePoint()
	}
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
	l.reachedDurablePoint()
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
// The log keeps upTo's successors only if it holds upTo with upToTerm;
// then the segments whose records are all at or below upTo go, except the
// tail (Append writes there). Entries below the new first index may stay
// in the first segment: they are no longer served, and go with it.
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
	if !keepSuffix {
		return l.resetLocked(upTo + 1)
	}
	// Oldest first: a crash leaves a suffix that still covers upTo+1, and
	// Open finishes the cut. No directory fsync: a removal lost in a crash
	// is redone by Open.
	k := 0
	for k+1 < len(l.segs) && l.segs[k+1].first <= upTo+1 {
		s := l.segs[k]
		s.file.Close()
		if err := os.Remove(s.path); err != nil {
			l.segs = l.segs[k+1:]
			return fmt.Errorf("wal: remove %s: %w", s.path, err)
		}
		k++
	}
	l.segs = l.segs[k:]
	l.first = upTo + 1
	l.cache.truncate(l.first, l.last)
	return nil
}

// resetLocked discards every segment and starts an empty log whose next
// index is next; the first Append makes its segment. Segments are removed
// newest first and the directory fsynced, so a crash leaves a prefix of
// the old log, which Open discards again against logmeta.
func (l *Log) resetLocked(next uint64) error {
	if err := l.removeSegmentsLocked(0); err != nil {
		return err
	}
	l.first, l.last = next, next-1
	if err := l.refreshLastTerm(); err != nil {
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
