package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The legacy layout: the log as github.com/tidwall/wal wrote it, before
// our own segments (segment.go), in <dir>/log. A file's name is its first
// index as 20 decimal digits; a ".START" or ".END" suffix marks a
// truncation that was cut short by a crash (tidwall finished it on open).
// A record is tidwall's frame, uvarint(len) then len bytes, and the bytes
// are our record (record.go): the same frames as in our segments, so
// migrating a segment is copying its bytes behind a header.

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

// listSegments returns the first indexes of the plain tidwall segment files
// in dir, sorted.
func listSegments(dir string) ([]uint64, error) {
	return listIndexedFiles(dir, func(name string) (uint64, bool) {
		idx, suffix, ok := parseSegmentName(name)
		return idx, ok && suffix == ""
	})
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
		frameLen, err := checkFrame(data, good, segIndex+count)
		if err != nil {
			return good, count, err
		}
		good += frameLen
		count++
	}
	return good, count, nil
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
	return syncClose(f, path, noSync)
}

// migrateLegacy converts a log in tidwall/wal's layout (<dir>/log) to our
// segments (<dir>/segments), once. The old segments are first finished and
// verified exactly as before (a torn tail repaired, other damage refused);
// each becomes one of our segments with the same first index: a header,
// the same frames, zeros up to SegmentBytes. The new directory is built as
// "segments.migrate", fsynced, and renamed into place (fsync of dir) before
// the old one is removed, so a crash at any point leaves either the old log
// (migrated again) or the new one (the old removed again).
func migrateLegacy(dir string, opts Options, logger *slog.Logger) error {
	legacy := filepath.Join(dir, legacyLogDirName)
	segDir := segmentDirPath(dir)
	if _, err := os.Stat(legacy); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("wal: stat %s: %w", legacy, err)
	}
	if _, err := os.Stat(segDir); err == nil {
		// Migrated; the crash came before the old log was removed.
		return removeLegacy(dir, legacy, opts.NoSync)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("wal: stat %s: %w", segDir, err)
	}
	if err := finishTruncations(legacy); err != nil {
		return err
	}
	scan, err := scanSegments(legacy, logger, opts.NoSync)
	if err != nil {
		return fmt.Errorf("wal: migrating %s (tidwall/wal layout): %w", legacy, err)
	}
	tmp := segDir + ".migrate"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("wal: remove stale %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	for _, first := range scan.segments {
		data, err := os.ReadFile(filepath.Join(legacy, segmentName(first)))
		if err != nil {
			return fmt.Errorf("wal: migrate: %w", err)
		}
		if err := writeMigratedSegment(filepath.Join(tmp, segmentFileName(first)), first, data, opts); err != nil {
			return err
		}
	}
	if !opts.NoSync {
		if err := syncDir(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, segDir); err != nil {
		return fmt.Errorf("wal: migrate: rename %s: %w", tmp, err)
	}
	if !opts.NoSync {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	logger.Info("wal: migrated the log from tidwall/wal's layout", "from", legacy, "to", segDir,
		"segments", len(scan.segments), "first", scan.first, "last", scan.last)
	return removeLegacy(dir, legacy, opts.NoSync)
}

// writeMigratedSegment writes one of our segments holding a legacy
// segment's frames, zero-filled to the segment size, and fsyncs it.
func writeMigratedSegment(path string, first uint64, frames []byte, opts Options) error {
	size := max(int64(opts.SegmentBytes), int64(segmentHeaderBytes+len(frames)))
	size = (size + segmentAlignBytes - 1) / segmentAlignBytes * segmentAlignBytes
	if err := createZeroFile(path, size, opts.NoSync, nil); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: migrate: %w", err)
	}
	if _, err := f.WriteAt(append(encodeSegmentHeader(first), frames...), 0); err != nil {
		f.Close()
		return fmt.Errorf("wal: migrate: write %s: %w", path, err)
	}
	return syncClose(f, path, opts.NoSync)
}

func removeLegacy(dir, legacy string, noSync bool) error {
	if err := os.RemoveAll(legacy); err != nil {
		return fmt.Errorf("wal: remove migrated %s: %w", legacy, err)
	}
	if noSync {
		return nil
	}
	return syncDir(dir)
}
