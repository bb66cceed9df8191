package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Segment files of our own (see doc.go, "Segments"): fixed-size files,
// zero-filled and fsynced before the log uses them, that Append only ever
// overwrites. A segment is
//
//	header   16 bytes: "RKVS", version (1 byte), 3 zero bytes, first index (uint64 LE)
//	records  uvarint(len) then len bytes of record (record.go), back to back
//	zeros    up to the end of the file; a zero byte where a length prefix
//	         would start ends the segment
//
// The file is named by its first index: "<20 digits>.seg".

const (
	segmentHeaderBytes = 16
	segmentVersion     = 1
	segmentSuffix      = ".seg"
	// preparedFileName is the one zero-filled segment kept ready for the
	// next rotation; it is renamed to its segment name when used.
	preparedFileName = "next.prep"
	// oversizedSuffix marks a segment made to measure for a record larger
	// than SegmentBytes, before it is renamed to its segment name.
	oversizedSuffix = ".big"
	// zeroChunkBytes is the buffer that zero-fills files and ranges.
	zeroChunkBytes = 256 << 10
	// segmentAlignBytes rounds the size of an oversized segment (one record
	// larger than SegmentBytes) up to whole pages.
	segmentAlignBytes = 4096
)

var segmentMagic = [4]byte{'R', 'K', 'V', 'S'}

func segmentFileName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// parseSegmentFileName returns the first index named by a segment file; ok
// is false for other files.
func parseSegmentFileName(name string) (uint64, bool) {
	digits, found := strings.CutSuffix(name, segmentSuffix)
	if !found || len(digits) != segmentNameDigits {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, false
	}
	return first, true
}

func encodeSegmentHeader(first uint64) []byte {
	h := make([]byte, segmentHeaderBytes)
	copy(h, segmentMagic[:])
	h[4] = segmentVersion
	binary.LittleEndian.PutUint64(h[8:], first)
	return h
}

func checkSegmentHeader(h []byte, first uint64) error {
	if len(h) < segmentHeaderBytes {
		return fmt.Errorf("segment of %d bytes is shorter than its header: %w", len(h), ErrCorrupt)
	}
	want := encodeSegmentHeader(first)
	if !bytes.Equal(h[:segmentHeaderBytes], want) {
		return fmt.Errorf("segment header %x, want %x: %w", h[:segmentHeaderBytes], want, ErrCorrupt)
	}
	return nil
}

// segment is one open segment file. Its fields are guarded by Log.mu
// (readers) and only changed by the holder of Log.writeMu, under mu.
type segment struct {
	first   uint64
	path    string
	file    *os.File
	offsets []uint32 // where each record's frame starts
	end     int64    // just past the last record
	size    int64    // the file's size
}

// count is the number of records in the segment.
func (s *segment) count() uint64 { return uint64(len(s.offsets)) }

// frame returns the byte range of the frame of index, which the segment holds.
func (s *segment) frame(index uint64) (lo, hi int64) {
	i := index - s.first
	lo = int64(s.offsets[i])
	hi = s.end
	if i+1 < uint64(len(s.offsets)) {
		hi = int64(s.offsets[i+1])
	}
	return lo, hi
}

// listSegmentFiles returns the first indexes of the segment files in dir,
// sorted.
func listSegmentFiles(dir string) ([]uint64, error) {
	return listIndexedFiles(dir, parseSegmentFileName)
}

// listIndexedFiles returns, sorted, the indexes that parse finds in the
// names of the plain files in dir (the files it accepts).
func listIndexedFiles(dir string, parse func(name string) (uint64, bool)) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	var indexes []uint64
	for _, de := range des {
		if index, ok := parse(de.Name()); ok && !de.IsDir() {
			indexes = append(indexes, index)
		}
	}
	slices.Sort(indexes)
	return indexes, nil
}

// scanRecords walks the records of a segment file's bytes (header
// included) whose first index is first. It returns the frame offsets of
// the good records, the offset just past them, and why the bytes there do
// not continue the log (nil when they are the zero end marker followed by
// zeros only, or the end of the file).
func scanRecords(data []byte, first uint64) (offsets []uint32, good int, bad error) {
	good = segmentHeaderBytes
	for good < len(data) && data[good] != 0 {
		frameLen, err := checkFrame(data, good, first+uint64(len(offsets)))
		if err != nil {
			return offsets, good, err
		}
		offsets = append(offsets, uint32(good))
		good += frameLen
	}
	if i := lastNonZero(data[good:]); i >= 0 {
		return offsets, good, fmt.Errorf("non-zero byte at offset %d after the end of the records: %w", good+i, ErrCorrupt)
	}
	return offsets, good, nil
}

// checkFrame checks the frame at data[at:] (uvarint length, then the
// record) and that its record holds wantIndex; it returns the frame's
// length. The segment scanners of both layouts (ours and tidwall's) share
// it.
func checkFrame(data []byte, at int, wantIndex uint64) (int, error) {
	size, n := binary.Uvarint(data[at:])
	if n <= 0 {
		return 0, fmt.Errorf("bad record length prefix: %w", ErrCorrupt)
	}
	if size > uint64(len(data)-at-n) {
		return 0, fmt.Errorf("record of %d bytes runs past the end of the file (%d bytes left): %w",
			size, len(data)-at-n, ErrCorrupt)
	}
	e, _, err := decodeRecord(data[at+n : at+n+int(size)])
	if err != nil {
		return 0, err
	}
	if e.Index != wantIndex {
		return 0, fmt.Errorf("record says index %d, want %d: %w", e.Index, wantIndex, ErrCorrupt)
	}
	return n + int(size), nil
}

// findLaterBatch looks in the bytes after a damaged record (whose index
// would be badIndex) for an intact record written by a later Append call
// than the damaged one. Finding one proves that the damage is not a torn
// final write: the later batch was only written after the damaged batch was
// fsynced. It tries every byte offset, because the damage may have hit a
// length prefix and lost the framing; cheap header checks come before the
// checksum so that the scan stays linear in practice.
func findLaterBatch(rest []byte, badIndex uint64) (uint64, bool) {
	// Records after the damage can be at most one per byte.
	indexMax := badIndex + uint64(len(rest))
	for p := 1; p < len(rest); p++ {
		size, n := binary.Uvarint(rest[p:])
		if n <= 0 || size < recordBytesMin || size > uint64(len(rest)-p-n) {
			continue
		}
		rec := rest[p+n : p+n+int(size)]
		e, batchPos, err := decodeRecordBody(rec[:len(rec)-recordCRCBytes])
		if err != nil || e.Index <= badIndex || e.Index > indexMax {
			continue
		}
		if e.Index-batchPos <= badIndex {
			continue // same batch as the damage: consistent with a torn write
		}
		if _, _, err := decodeRecord(rec); err == nil {
			return e.Index, true
		}
	}
	return 0, false
}

// lastNonZero is the index of the last non-zero byte of b, or -1.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i
		}
	}
	return -1
}

// zeroRange overwrites [lo, hi) of f with zeros.
func zeroRange(f *os.File, lo, hi int64) error {
	zeros := make([]byte, min(hi-lo, zeroChunkBytes))
	for off := lo; off < hi; {
		n := min(int64(len(zeros)), hi-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// fdatasync flushes f's data and what is needed to read it back. On a
// segment that is only overwritten (no size change, blocks allocated and
// written) ext4 completes it without a journal commit.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// createZeroFile writes a file of size bytes of real zeros at path (through
// path+".tmp" and a rename, so that a file under the final name is always
// whole) and fsyncs it. Real zeros, not fallocate: fallocate leaves
// unwritten extents, whose conversion on the first overwrite is a journaled
// metadata change. With noSync the file is sparse (truncate) and nothing is
// synced. stop, when closed, abandons the work.
func createZeroFile(path string, size int64, noSync bool, stop <-chan struct{}) error {
	tmp := path + tempSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if noSync {
		if err := f.Truncate(size); err != nil {
			return fail(fmt.Errorf("wal: size %s: %w", tmp, err))
		}
	} else {
		zeros := make([]byte, min(size, zeroChunkBytes))
		for off := int64(0); off < size; {
			select {
			case <-stop:
				return fail(errPreparerStopped)
			default:
			}
			n, err := f.Write(zeros[:min(int64(len(zeros)), size-off)])
			if err != nil {
				return fail(fmt.Errorf("wal: zero-fill %s: %w", tmp, err))
			}
			off += int64(n)
		}
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("wal: fsync %s: %w", tmp, err))
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: rename %s: %w", tmp, err)
	}
	return nil
}

var errPreparerStopped = errors.New("wal: segment preparer stopped")

// preparer keeps one zero-filled segment file ready (preparedFileName) so
// that a rotation only renames it: the zero-fill and its fsync (a journal
// commit: the blocks are allocated) happen off the Append path. Its rename
// needs no directory fsync: a prepared file lost in a crash is only made
// again.
type preparer struct {
	path   string
	bytes  int64
	noSync bool
	want   chan struct{} // a request to prepare the next file (capacity 1)
	ready  chan error    // the outcome of one preparation (capacity 1)
	stop   chan struct{}
	done   chan struct{}
}

// startPreparer starts the goroutine and its first preparation.
func startPreparer(path string, size int64, noSync bool) *preparer {
	p := &preparer{path: path, bytes: size, noSync: noSync,
		want: make(chan struct{}, 1), ready: make(chan error, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	p.want <- struct{}{}
	go p.run()
	return p
}

func (p *preparer) run() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case <-p.want:
			p.ready <- createZeroFile(p.path, p.bytes, p.noSync, p.stop)
		}
	}
}

// take waits until the prepared file is in place; the caller then renames
// it away and calls refill. At most one take is outstanding (Log.writeMu).
func (p *preparer) take() error {
	if err := <-p.ready; err != nil {
		p.refill() // try again for the next rotation
		return err
	}
	return nil
}

func (p *preparer) refill() { p.want <- struct{}{} }

// close stops the goroutine and waits for it.
func (p *preparer) close() {
	close(p.stop)
	<-p.done
}

// segmentDirPath is where the segments live, under the Log's directory.
func segmentDirPath(dir string) string { return filepath.Join(dir, segmentDirName) }
