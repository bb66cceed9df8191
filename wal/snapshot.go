package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/raftkv/raftkv/consensus"
)

// Snapshot files. One file per snapshot, named snap-<index>-<term>.snap
// (20 digits each), laid out as:
//
//	magic       8  "RKVSNAP\x00"
//	version     2  uint16 LE, 2
//	index       8  uint64 LE
//	term        8  uint64 LE
//	timeMs      8  int64 LE, the stamp of the entry at index (version 2)
//	voters      4  uint32 LE count n (<= snapshotMembersMax), then n uint64 LE
//	learners    4  uint32 LE count m (<= snapshotMembersMax), then m uint64 LE
//	bodyBytes   8  uint64 LE
//	headerCRC   4  CRC32C of every header byte before it
//	body        bodyBytes bytes (the state machine's encoding)
//	bodyCRC     4  CRC32C of the body
//
// The header has its own checksum so that the metadata can be trusted
// before the body is read; the body checksum is checked at the end of every
// full read.

const (
	// Version 2 added timeMs.
	snapshotFormatVersion = 2
	// snapshotMembersMax bounds each membership list so that a damaged
	// count cannot make a reader allocate without bound.
	snapshotMembersMax = 1024
	// snapshotHeaderFixedBytes is the header without the member lists.
	snapshotHeaderFixedBytes = 8 + 2 + 8 + 8 + 8 + 4 + 4 + 8 + 4
	snapshotHeaderBytesMax   = snapshotHeaderFixedBytes + 2*8*snapshotMembersMax
	snapshotTrailerBytes     = 4
	snapshotKeepDefault      = 2
	snapshotFilePrefix       = "snap-"
	snapshotFileSuffix       = ".snap"
	snapshotWriteBufferBytes = 256 << 10
	damagedSuffix            = ".damaged"
)

var snapshotMagic = [8]byte{'R', 'K', 'V', 'S', 'N', 'A', 'P', 0}

// ErrSnapshotNotFound is returned for an index the store does not hold.
var ErrSnapshotNotFound = errors.New("wal: snapshot not found")

// appendSnapshotHeader appends the header for meta and a body of bodyBytes.
func appendSnapshotHeader(dst []byte, meta consensus.SnapshotMeta, bodyBytes uint64) ([]byte, error) {
	if len(meta.ConfState.Voters) > snapshotMembersMax || len(meta.ConfState.Learners) > snapshotMembersMax {
		return dst, fmt.Errorf("wal: snapshot membership of %d voters and %d learners exceeds %d each",
			len(meta.ConfState.Voters), len(meta.ConfState.Learners), snapshotMembersMax)
	}
	start := len(dst)
	dst = append(dst, snapshotMagic[:]...)
	dst = binary.LittleEndian.AppendUint16(dst, snapshotFormatVersion)
	dst = binary.LittleEndian.AppendUint64(dst, meta.Index)
	dst = binary.LittleEndian.AppendUint64(dst, meta.Term)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(meta.TimeMs))
	for _, ids := range [2][]consensus.NodeID{meta.ConfState.Voters, meta.ConfState.Learners} {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(ids)))
		for _, id := range ids {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(id))
		}
	}
	dst = binary.LittleEndian.AppendUint64(dst, bodyBytes)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli)), nil
}

// decodeSnapshotHeader parses the header at the start of b (which may hold
// more bytes). It returns the metadata, the body length and the header
// length.
func decodeSnapshotHeader(b []byte) (meta consensus.SnapshotMeta, bodyBytes uint64, headerBytes int, err error) {
	if len(b) < snapshotHeaderFixedBytes {
		return meta, 0, 0, fmt.Errorf("snapshot header: %d bytes, want at least %d: %w", len(b), snapshotHeaderFixedBytes, ErrCorrupt)
	}
	if [8]byte(b[:8]) != snapshotMagic {
		return meta, 0, 0, fmt.Errorf("snapshot header: bad magic %q: %w", b[:8], ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != snapshotFormatVersion {
		return meta, 0, 0, fmt.Errorf("snapshot header: format version %d, want %d: %w", v, snapshotFormatVersion, ErrCorrupt)
	}
	meta.Index = binary.LittleEndian.Uint64(b[10:])
	meta.Term = binary.LittleEndian.Uint64(b[18:])
	meta.TimeMs = int64(binary.LittleEndian.Uint64(b[26:]))
	off := 34
	var lists [2][]consensus.NodeID
	for i := range lists {
		if len(b)-off < 4 {
			return meta, 0, 0, fmt.Errorf("snapshot header: truncated at offset %d: %w", off, ErrCorrupt)
		}
		n := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if n > snapshotMembersMax {
			return meta, 0, 0, fmt.Errorf("snapshot header: %d members at offset %d exceed %d: %w", n, off-4, snapshotMembersMax, ErrCorrupt)
		}
		if len(b)-off < 8*int(n) {
			return meta, 0, 0, fmt.Errorf("snapshot header: truncated member list at offset %d: %w", off, ErrCorrupt)
		}
		if n > 0 {
			lists[i] = make([]consensus.NodeID, n)
			for j := range lists[i] {
				lists[i][j] = consensus.NodeID(binary.LittleEndian.Uint64(b[off:]))
				off += 8
			}
		}
	}
	if len(b)-off < 12 {
		return meta, 0, 0, fmt.Errorf("snapshot header: truncated at offset %d: %w", off, ErrCorrupt)
	}
	bodyBytes = binary.LittleEndian.Uint64(b[off:])
	off += 8
	if got, want := crc32.Checksum(b[:off], castagnoli), binary.LittleEndian.Uint32(b[off:]); got != want {
		return meta, 0, 0, fmt.Errorf("snapshot header: checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	if bodyBytes > 1<<62 {
		return meta, 0, 0, fmt.Errorf("snapshot header: body of %d bytes: %w", bodyBytes, ErrCorrupt)
	}
	meta.ConfState = consensus.ConfState{Voters: lists[0], Learners: lists[1]}
	return meta, bodyBytes, off + 4, nil
}

// SnapshotOptions configure a SnapshotStore. The zero value is
// production-ready.
type SnapshotOptions struct {
	// Keep is how many snapshots to keep (default 2): the newest, and older
	// ones to fall back on if it is damaged.
	Keep int
	// NoSync skips fsyncs (tests only).
	NoSync bool
	// Logger receives reports of damaged snapshots (default slog.Default()).
	Logger *slog.Logger
}

// SnapshotStore keeps snapshot files in one directory. It is safe for
// concurrent use.
type SnapshotStore struct {
	dir    string
	opts   SnapshotOptions
	logger *slog.Logger

	mu    sync.Mutex
	snaps []snapshotFile // verified snapshots, oldest first

	// spool is the snapshot being received from a leader
	// (WriteSnapshotChunk), nil when none; used by the node loop alone.
	spool *SnapshotWriter
}

// SnapshotStore spools the chunks of a leader's snapshot to disk.
var _ consensus.SnapshotSpool = (*SnapshotStore)(nil)

// SnapshotStore serves a leader's InstallSnapshot chunks.
var _ consensus.SnapshotSource = (*SnapshotStore)(nil)

type snapshotFile struct {
	meta        consensus.SnapshotMeta
	path        string
	headerBytes int64
	bodyBytes   int64
}

// OpenSnapshots opens (creating if needed) the snapshot store in dir with
// default options.
func OpenSnapshots(dir string) (*SnapshotStore, error) {
	return OpenSnapshotsWithOptions(dir, SnapshotOptions{})
}

// OpenSnapshotsWithOptions opens the snapshot store in dir. Every snapshot
// file is verified end to end; a damaged one is reported through the logger
// (naming the file) and renamed with a ".damaged" suffix, so that Latest
// falls back to the previous one.
func OpenSnapshotsWithOptions(dir string, opts SnapshotOptions) (*SnapshotStore, error) {
	if opts.Keep <= 0 {
		opts.Keep = snapshotKeepDefault
	}
	s := &SnapshotStore{dir: dir, opts: opts, logger: opts.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, tempSuffix) {
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("wal: remove stale %s: %w", path, err)
			}
			continue
		}
		if _, _, ok := parseSnapshotName(name); !ok || de.IsDir() {
			continue
		}
		sf, err := verifySnapshotFile(path)
		if err != nil {
			// Set it aside (kept for inspection, never read again) so that
			// the previous snapshot serves and the report is made once.
			aside := path + damagedSuffix
			if rerr := os.Rename(path, aside); rerr != nil {
				return nil, fmt.Errorf("wal: set aside damaged snapshot %s: %w (damage: %w)", path, rerr, err)
			}
			s.logger.Error("wal: damaged snapshot set aside", "file", path, "moved_to", aside, "err", err)
			continue
		}
		s.snaps = append(s.snaps, sf)
	}
	sortSnapshots(s.snaps)
	return s, nil
}

func sortSnapshots(snaps []snapshotFile) {
	slices.SortFunc(snaps, func(a, b snapshotFile) int {
		if a.meta.Index != b.meta.Index {
			if a.meta.Index < b.meta.Index {
				return -1
			}
			return 1
		}
		if a.meta.Term < b.meta.Term {
			return -1
		} else if a.meta.Term > b.meta.Term {
			return 1
		}
		return 0
	})
}

func snapshotName(index, term uint64) string {
	return fmt.Sprintf("%s%020d-%020d%s", snapshotFilePrefix, index, term, snapshotFileSuffix)
}

func parseSnapshotName(name string) (index, term uint64, ok bool) {
	rest, found := strings.CutPrefix(name, snapshotFilePrefix)
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, snapshotFileSuffix)
	if !found || len(rest) != 41 || rest[20] != '-' {
		return 0, 0, false
	}
	index, err1 := strconv.ParseUint(rest[:20], 10, 64)
	term, err2 := strconv.ParseUint(rest[21:], 10, 64)
	return index, term, err1 == nil && err2 == nil
}

// readSnapshotHeader reads and decodes the header of an open file.
func readSnapshotHeader(f *os.File, path string) (snapshotFile, error) {
	buf := make([]byte, snapshotHeaderBytesMax)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return snapshotFile{}, fmt.Errorf("wal: read %s: %w", path, err)
	}
	meta, bodyBytes, headerBytes, err := decodeSnapshotHeader(buf[:n])
	if err != nil {
		return snapshotFile{}, fmt.Errorf("wal: %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return snapshotFile{}, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	if want := int64(headerBytes) + int64(bodyBytes) + snapshotTrailerBytes; st.Size() != want {
		return snapshotFile{}, fmt.Errorf("wal: %s: %d bytes, header says %d: %w", path, st.Size(), want, ErrCorrupt)
	}
	return snapshotFile{meta: meta, path: path, headerBytes: int64(headerBytes), bodyBytes: int64(bodyBytes)}, nil
}

// verifySnapshotFile checks a snapshot's header, size, name and body CRC.
func verifySnapshotFile(path string) (snapshotFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapshotFile{}, fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer f.Close()
	sf, err := readSnapshotHeader(f, path)
	if err != nil {
		return sf, err
	}
	if index, term, _ := parseSnapshotName(filepath.Base(path)); index != sf.meta.Index || term != sf.meta.Term {
		return sf, fmt.Errorf("wal: %s: header says index %d term %d: %w", path, sf.meta.Index, sf.meta.Term, ErrCorrupt)
	}
	r := newSnapshotReader(f, sf, false)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return sf, err
	}
	return sf, nil
}

// Latest returns the metadata of the newest intact snapshot.
func (s *SnapshotStore) Latest() (consensus.SnapshotMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.snaps) == 0 {
		return consensus.SnapshotMeta{}, false
	}
	return cloneMeta(s.snaps[len(s.snaps)-1].meta), true
}

func cloneMeta(m consensus.SnapshotMeta) consensus.SnapshotMeta {
	m.ConfState.Voters = slices.Clone(m.ConfState.Voters)
	m.ConfState.Learners = slices.Clone(m.ConfState.Learners)
	return m
}

func (s *SnapshotStore) find(index uint64) (snapshotFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.snaps) - 1; i >= 0; i-- {
		if s.snaps[i].meta.Index == index {
			return s.snaps[i], nil
		}
	}
	return snapshotFile{}, fmt.Errorf("wal: snapshot at index %d in %s: %w", index, s.dir, ErrSnapshotNotFound)
}

// Open returns the body of the snapshot at index. The reader checks the
// body's CRC when it reaches the end and then fails (naming the file)
// instead of returning io.EOF if the body is damaged.
func (s *SnapshotStore) Open(index uint64) (io.ReadCloser, error) {
	sf, err := s.find(index)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", sf.path, err)
	}
	return newSnapshotReader(f, sf, true), nil
}

// ReadChunk returns up to maxBytes of the body of the snapshot at index
// from offset, and whether the chunk reaches the end (InstallSnapshot in
// chunks). maxBytes must be positive.
func (s *SnapshotStore) ReadChunk(index, offset uint64, maxBytes int) ([]byte, bool, error) {
	if maxBytes <= 0 {
		return nil, false, fmt.Errorf("wal: read chunk of snapshot %d: offset %d, maxBytes %d", index, offset, maxBytes)
	}
	sf, err := s.find(index)
	if err != nil {
		return nil, false, err
	}
	if offset > uint64(sf.bodyBytes) {
		return nil, false, fmt.Errorf("wal: %s: chunk offset %d past the body's %d bytes", sf.path, offset, sf.bodyBytes)
	}
	n := min(int64(maxBytes), sf.bodyBytes-int64(offset))
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, false, fmt.Errorf("wal: open %s: %w", sf.path, err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, sf.headerBytes+int64(offset)); err != nil {
		return nil, false, fmt.Errorf("wal: %s: read chunk at %d: %w", sf.path, offset, err)
	}
	return buf, int64(offset)+n == sf.bodyBytes, nil
}

// snapshotReader reads a body and checks its CRC at the end.
type snapshotReader struct {
	f      *os.File
	body   *io.SectionReader
	crc    hash.Hash32
	sf     snapshotFile
	closes bool
	done   bool
}

func newSnapshotReader(f *os.File, sf snapshotFile, closes bool) *snapshotReader {
	return &snapshotReader{
		f: f, sf: sf, closes: closes,
		body: io.NewSectionReader(f, sf.headerBytes, sf.bodyBytes),
		crc:  crc32.New(castagnoli),
	}
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	n, err := r.body.Read(p)
	r.crc.Write(p[:n])
	if errors.Is(err, io.EOF) {
		var trailer [snapshotTrailerBytes]byte
		if _, terr := r.f.ReadAt(trailer[:], r.sf.headerBytes+r.sf.bodyBytes); terr != nil {
			return n, fmt.Errorf("wal: %s: read body checksum: %w", r.sf.path, terr)
		}
		if got, want := r.crc.Sum32(), binary.LittleEndian.Uint32(trailer[:]); got != want {
			return n, fmt.Errorf("wal: %s: body checksum %08x, want %08x: %w", r.sf.path, got, want, ErrCorrupt)
		}
		r.done = true
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("wal: read %s: %w", r.sf.path, err)
	}
	return n, nil
}

func (r *snapshotReader) Close() error {
	if !r.closes {
		return nil
	}
	return r.f.Close()
}

// SnapshotWriter receives the body of a new snapshot, in one go (Save) or
// chunk by chunk (InstallSnapshot). Nothing is visible until Commit.
type SnapshotWriter struct {
	store     *SnapshotStore
	meta      consensus.SnapshotMeta
	f         *os.File
	w         *bufio.Writer
	crc       hash.Hash32
	bodyBytes uint64
	header    []byte
	tmp       string
	final     string
	finished  bool
}

// Create starts a snapshot for meta. Call Write with the body, then Commit
// (or Abort).
func (s *SnapshotStore) Create(meta consensus.SnapshotMeta) (*SnapshotWriter, error) {
	header, err := appendSnapshotHeader(nil, meta, 0)
	if err != nil {
		return nil, err
	}
	// A unique temporary, so that two receivers of the same snapshot
	// cannot write into one file.
	final := filepath.Join(s.dir, snapshotName(meta.Index, meta.Term))
	f, err := os.CreateTemp(s.dir, filepath.Base(final)+".*"+tempSuffix)
	if err != nil {
		return nil, fmt.Errorf("wal: create temporary for %s: %w", final, err)
	}
	tmp := f.Name()
	w := &SnapshotWriter{
		store: s, meta: cloneMeta(meta), f: f, tmp: tmp, final: final, header: header,
		w: bufio.NewWriterSize(f, snapshotWriteBufferBytes), crc: crc32.New(castagnoli),
	}
	if _, err := w.w.Write(header); err != nil {
		w.Abort()
		return nil, fmt.Errorf("wal: write %s: %w", tmp, err)
	}
	return w, nil
}

// Write appends body bytes.
func (w *SnapshotWriter) Write(p []byte) (int, error) {
	if w.finished {
		return 0, fmt.Errorf("wal: write to finished snapshot %s", w.tmp)
	}
	n, err := w.w.Write(p)
	w.crc.Write(p[:n])
	w.bodyBytes += uint64(n)
	if err != nil {
		return n, fmt.Errorf("wal: write %s: %w", w.tmp, err)
	}
	return n, nil
}

// Commit seals the snapshot (length, checksums), makes it durable and
// visible, and deletes snapshots beyond the newest Keep.
func (w *SnapshotWriter) Commit() error {
	if w.finished {
		return fmt.Errorf("wal: commit of finished snapshot %s", w.tmp)
	}
	fail := func(err error) error {
		w.Abort()
		return err
	}
	var trailer [snapshotTrailerBytes]byte
	binary.LittleEndian.PutUint32(trailer[:], w.crc.Sum32())
	if _, err := w.w.Write(trailer[:]); err != nil {
		return fail(fmt.Errorf("wal: write %s: %w", w.tmp, err))
	}
	if err := w.w.Flush(); err != nil {
		return fail(fmt.Errorf("wal: write %s: %w", w.tmp, err))
	}
	header, err := appendSnapshotHeader(w.header[:0], w.meta, w.bodyBytes)
	if err != nil {
		return fail(err)
	}
	if _, err := w.f.WriteAt(header, 0); err != nil {
		return fail(fmt.Errorf("wal: write header of %s: %w", w.tmp, err))
	}
	s := w.store
	if err := syncClose(w.f, w.tmp, s.opts.NoSync); err != nil {
		return fail(err)
	}
	w.finished = true
	final := w.final
	if err := os.Rename(w.tmp, final); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("wal: rename %s: %w", w.tmp, err)
	}
	if !s.opts.NoSync {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	sf := snapshotFile{meta: w.meta, path: final, headerBytes: int64(len(header)), bodyBytes: int64(w.bodyBytes)}
	return s.add(sf)
}

// Abort discards an unfinished snapshot.
func (w *SnapshotWriter) Abort() {
	if w.finished {
		return
	}
	w.finished = true
	w.f.Close()
	os.Remove(w.tmp)
}

// add records a committed snapshot and prunes old ones.
func (s *SnapshotStore) add(sf snapshotFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps = slices.DeleteFunc(s.snaps, func(o snapshotFile) bool { return o.path == sf.path })
	s.snaps = append(s.snaps, sf)
	sortSnapshots(s.snaps)
	var errs []error
	for len(s.snaps) > s.opts.Keep {
		old := s.snaps[0]
		if err := os.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("wal: remove old snapshot %s: %w", old.path, err))
		}
		s.snaps = s.snaps[1:]
	}
	return errors.Join(errs...)
}

// WriteSnapshotChunk appends a chunk of a snapshot arriving from the
// leader to its temporary file in the store (consensus.SnapshotSpool): a
// chunk at offset 0 starts a new file and removes any partial one; after a
// failure the spool is gone and only a chunk at offset 0 is taken. The
// file is not synced here: a crash loses the consensus core's count of
// received bytes as well, so the transfer starts over, and the temporary
// is removed when the store opens.
func (s *SnapshotStore) WriteSnapshotChunk(c consensus.SnapshotChunk) error {
	if c.Offset == 0 {
		if s.spool != nil {
			s.spool.Abort()
			s.spool = nil
		}
		w, err := s.Create(c.Meta)
		if err != nil {
			return err
		}
		s.spool = w
	}
	w := s.spool
	if w == nil || w.meta.Index != c.Meta.Index || w.meta.Term != c.Meta.Term || w.bodyBytes != c.Offset {
		// A failed spool is dropped whole: the next chunk must start over.
		s.spool = nil
		if w != nil {
			w.Abort()
		}
		return fmt.Errorf("wal: chunk of snapshot %d/%d at offset %d does not continue the spool (%s)", c.Meta.Index, c.Meta.Term, c.Offset, w.describe())
	}
	if _, err := w.Write(c.Data); err != nil {
		s.spool = nil
		w.Abort()
		return err
	}
	return nil
}

// CommitSnapshot makes the complete spool for meta durable and visible
// (fsync, rename, directory fsync, older snapshots beyond Keep removed) and
// returns a reader of its body, checked against its CRC as it is read.
func (s *SnapshotStore) CommitSnapshot(meta consensus.SnapshotMeta) (io.ReadCloser, error) {
	w := s.spool
	s.spool = nil
	if w == nil || w.meta.Index != meta.Index || w.meta.Term != meta.Term {
		if w != nil {
			w.Abort()
		}
		return nil, fmt.Errorf("wal: commit of snapshot %d/%d: the spool holds %s", meta.Index, meta.Term, w.describe())
	}
	if err := w.Commit(); err != nil {
		return nil, err
	}
	return s.Open(meta.Index)
}

// describe names what w holds, for errors.
func (w *SnapshotWriter) describe() string {
	if w == nil {
		return "nothing"
	}
	return fmt.Sprintf("%d bytes of %d/%d", w.bodyBytes, w.meta.Index, w.meta.Term)
}

// Save writes a whole snapshot: write is called with the body's writer.
func (s *SnapshotStore) Save(meta consensus.SnapshotMeta, write func(io.Writer) error) error {
	w, err := s.Create(meta)
	if err != nil {
		return err
	}
	if err := write(w); err != nil {
		w.Abort()
		return fmt.Errorf("wal: write snapshot %d: %w", meta.Index, err)
	}
	return w.Commit()
}
