package wal

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment files are tidwall/wal's: the name is the first index as 20 decimal
// digits; a ".START" or ".END" suffix marks a truncation that was cut short
// by a crash (tidwall finishes it on open). A record in a segment is
// tidwall's frame, uvarint(len) then len bytes, and the bytes are ours.

const segmentNameDigits = 20

func segmentName(index uint64) string { return fmt.Sprintf("%020d", index) }

// parseSegmentName returns the first index named by a segment file and its
// suffix ("", ".START" or ".END"); ok is false for files that are not
// segments.
func parseSegmentName(name string) (index uint64, suffix string, ok bool) {
	if len(name) < segmentNameDigits {
		return 0, "", false
	}
	suffix = name[segmentNameDigits:]
	if suffix != "" && suffix != ".START" && suffix != ".END" {
		return 0, "", false
	}
	index, err := strconv.ParseUint(name[:segmentNameDigits], 10, 64)
	if err != nil || index == 0 {
		return 0, "", false
	}
	return index, suffix, true
}

// listSegments returns the first indexes of the plain segment files in dir,
// sorted.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	var segs []uint64
	for _, de := range des {
		if idx, suffix, ok := parseSegmentName(de.Name()); ok && suffix == "" && !de.IsDir() {
			segs = append(segs, idx)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// finishTruncations completes what tidwall/wal's load would do with a
// leftover START or END file (a truncation interrupted by a crash), so that
// the tail segment we repair is the one tidwall will append to. The START
// and END files were fsynced before they were renamed into place, so their
// contents are whole. Stale temporary files are removed.
func finishTruncations(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", dir, err)
	}
	type seg struct {
		index  uint64
		name   string
		suffix string
	}
	var segs []seg
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".TEMP") || strings.HasSuffix(name, tempSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("wal: remove stale %s: %w", name, err)
			}
			continue
		}
		if idx, suffix, ok := parseSegmentName(name); ok && !de.IsDir() {
			segs = append(segs, seg{idx, name, suffix})
		}
	}
	// ReadDir sorts by name, which is tidwall's order.
	start, end := -1, -1
	for i, s := range segs {
		switch {
		case s.suffix == ".START":
			start = i
		case s.suffix == ".END" && end == -1:
			end = i
		}
	}
	if start == -1 && end == -1 {
		return nil
	}
	if start != -1 && end != -1 {
		return fmt.Errorf("wal: both %s and %s in %s: %w", segs[start].name, segs[end].name, dir, ErrCorrupt)
	}
	remove := func(s seg) error {
		if err := os.Remove(filepath.Join(dir, s.name)); err != nil {
			return fmt.Errorf("wal: finish truncation: remove %s: %w", s.name, err)
		}
		return nil
	}
	var keep seg
	if start != -1 {
		for _, s := range segs[:start] {
			if err := remove(s); err != nil {
				return err
			}
		}
		keep = segs[start]
	} else {
		for _, s := range segs[end+1:] {
			if err := remove(s); err != nil {
				return err
			}
		}
		keep = segs[end]
		if end > 0 && segs[end-1].index == keep.index {
			if err := remove(segs[end-1]); err != nil {
				return err
			}
		}
	}
	final := filepath.Join(dir, segmentName(keep.index))
	if err := os.Rename(filepath.Join(dir, keep.name), final); err != nil {
		return fmt.Errorf("wal: finish truncation: rename %s: %w", keep.name, err)
	}
	return syncDir(dir)
}

// scanResult is what verifying the segments found.
type scanResult struct {
	segments []uint64 // first index of each segment, sorted
	first    uint64   // first index in the log
	last     uint64   // last index (first-1 when empty)
	tailSize int      // bytes in the tail segment after repair
}

// scanSegments reads every segment, checks every record's CRC and index and
// that segments are contiguous, and repairs a torn tail of the last segment
// by truncating the file at the last good record. Damage anywhere else is
// an ErrCorrupt naming the file, the index and the byte offset.
func scanSegments(dir string, logger *slog.Logger, noSync bool) (scanResult, error) {
	var res scanResult
	segs, err := listSegments(dir)
	if err != nil {
		return res, err
	}
	res.segments = segs
	if len(segs) == 0 {
		return res, nil
	}
	res.first = segs[0]
	next := segs[0]
	for i, segIndex := range segs {
		path := filepath.Join(dir, segmentName(segIndex))
		if segIndex != next {
			return res, fmt.Errorf("wal: %s starts at index %d but the previous segment ends at %d (missing segment): %w",
				path, segIndex, next-1, ErrCorrupt)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return res, fmt.Errorf("wal: read %s: %w", path, err)
		}
		isTail := i == len(segs)-1
		good, count, bad := scanSegment(data, segIndex)
		if bad != nil {
			if !isTail {
				return res, fmt.Errorf("wal: %s: index %d at offset %d: %w", path, segIndex+count, good, bad)
			}
			badIndex := segIndex + count
			if laterIndex, later := findLaterBatch(data[good:], badIndex); later {
				return res, fmt.Errorf("wal: %s: index %d at offset %d is damaged but index %d of a later batch follows it intact: %w",
					path, badIndex, good, laterIndex, bad)
			}
			if err := truncateFile(path, int64(good), noSync); err != nil {
				return res, err
			}
			logger.Warn("wal: cut torn tail", "file", path, "index", badIndex, "offset", good,
				"bytes_dropped", len(data)-good, "reason", bad.Error())
			data = data[:good]
		}
		next = segIndex + count
		if isTail {
			res.tailSize = len(data)
		}
	}
	res.last = next - 1
	return res, nil
}

// scanSegment walks the records of one segment whose first index is
// segIndex. It returns the offset just past the last good record, the
// number of good records, and why the record after them is bad (nil when
// the whole segment is good).
func scanSegment(data []byte, segIndex uint64) (good int, count uint64, bad error) {
	for good < len(data) {
		size, n := binary.Uvarint(data[good:])
		if n <= 0 {
			return good, count, fmt.Errorf("bad record length prefix: %w", ErrCorrupt)
		}
		if size > uint64(len(data)-good-n) {
			return good, count, fmt.Errorf("record of %d bytes runs past the end of the file (%d bytes left): %w",
				size, len(data)-good-n, ErrCorrupt)
		}
		rec := data[good+n : good+n+int(size)]
		e, _, err := decodeRecord(rec)
		if err != nil {
			return good, count, err
		}
		if want := segIndex + count; e.Index != want {
			return good, count, fmt.Errorf("record says index %d, want %d: %w", e.Index, want, ErrCorrupt)
		}
		good += n + int(size)
		count++
	}
	return good, count, nil
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

func truncateFile(path string, size int64, noSync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: repair %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("wal: repair %s: truncate to %d: %w", path, size, err)
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("wal: repair %s: fsync: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: repair %s: close: %w", path, err)
	}
	return nil
}
