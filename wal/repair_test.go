package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// tailSegment returns the path of the newest segment file and the offset
// just past its last record.
func tailSegment(t *testing.T, dir string) (string, int64) {
	t.Helper()
	segDir := segmentDirPath(dir)
	firsts, err := listSegmentFiles(segDir)
	if err != nil || len(firsts) == 0 {
		t.Fatalf("listSegmentFiles: %v, %d segments", err, len(firsts))
	}
	path := filepath.Join(segDir, segmentFileName(firsts[len(firsts)-1]))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, end, bad := scanRecords(data, firsts[len(firsts)-1])
	if bad != nil {
		t.Fatalf("%s: %v", path, bad)
	}
	return path, int64(end)
}

// buildLog writes batches of 3 entries, one Append each, up to index last,
// and returns the entries and where the last batch starts in the tail file.
func buildLog(t *testing.T, dir string, opts Options, last uint64) ([]consensus.Entry, int64) {
	t.Helper()
	l := openLog(t, dir, opts)
	var all []consensus.Entry
	var lastBatchOff int64
	for lo := uint64(1); lo <= last; lo += 3 {
		hi := min(lo+2, last)
		var tailBefore string
		lastBatchOff = segmentHeaderBytes
		if lo > 1 {
			tailBefore, lastBatchOff = tailSegment(t, dir)
		}
		es := mkEntries(lo, hi, 1+lo/10)
		mustAppend(t, l, es)
		all = append(all, es...)
		if tailAfter, _ := tailSegment(t, dir); tailAfter != tailBefore {
			lastBatchOff = segmentHeaderBytes // the batch went to a fresh segment
		}
	}
	closeLog(t, l)
	return all, lastBatchOff
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestTornTailEveryOffset tears the last batch (three entries) at every
// byte offset, both ways a crash can leave it in a segment that is only
// overwritten (the bytes from the tear on still zero) and as a shorter file,
// and reopens: no error, every entry before the tear that is whole
// survives, and the log is appendable again.
func TestTornTailEveryOffset(t *testing.T) {
	for _, seg := range []int{4096, 180} {
		for _, how := range []string{"zeroed", "cut"} {
			t.Run(fmt.Sprintf("segment=%d/%s", seg, how), func(t *testing.T) {
				opts := Options{NoSync: true, SegmentBytes: seg, Logger: quietLogger()}
				base := t.TempDir()
				l := openLog(t, base, opts)
				want := mkEntries(1, 11, 1)
				mustAppend(t, l, want[:4])
				mustAppend(t, l, want[4:8])
				mustAppend(t, l, want[8:]) // the batch we tear
				closeLog(t, l)
				tailPath, end := tailSegment(t, base)
				data, err := os.ReadFile(tailPath)
				if err != nil {
					t.Fatal(err)
				}
				segIndex, _ := parseSegmentFileName(filepath.Base(tailPath))
				// ends[k] is the offset just past the k-th record of the tail.
				var ends []int64
				for off := segmentHeaderBytes; off < int(end); {
					n, k := binary.Uvarint(data[off:])
					off += k + int(n)
					ends = append(ends, int64(off))
				}
				firstTorn := int64(segmentHeaderBytes) // tear only inside the last batch
				if len(ends) > 3 {
					firstTorn = ends[len(ends)-4]
				}
				for cut := firstTorn; cut < end; cut++ {
					whole := uint64(0)
					for _, e := range ends {
						if e <= cut {
							whole++
						}
					}
					wantLast := segIndex - 1 + whole
					dir := copyDir(t, base)
					path := filepath.Join(segmentDirPath(dir), filepath.Base(tailPath))
					torn := append([]byte{}, data...)
					if how == "cut" {
						torn = torn[:cut]
					} else {
						clear(torn[cut:])
					}
					if err := os.WriteFile(path, torn, 0o640); err != nil {
						t.Fatal(err)
					}
					l, err := Open(dir, opts)
					if err != nil {
						t.Fatalf("tear at %d of %d: Open: %v", cut, end, err)
					}
					checkLog(t, l, 1, want[:wantLast])
					mustAppend(t, l, mkEntries(wantLast+1, wantLast+1, 3))
					checkSegmentMirror(t, l)
					closeLog(t, l)
				}
			})
		}
	}
}

// TestTornTailGarbage: the last batch's bytes replaced by what a torn write
// may leave (zeros, or a damaged first record with the rest intact), or
// zeros appended past the end.
func TestTornTailGarbage(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 4096, Logger: quietLogger()}
	base := t.TempDir()
	all, lastBatchOff := buildLog(t, base, opts, 12) // batches 1-3,4-6,7-9,10-12
	tailPath, end := tailSegment(t, base)
	tests := []struct {
		name     string
		damage   func(b []byte) []byte
		wantLast uint64
	}{
		{"zeros over last batch", func(b []byte) []byte {
			clear(b[lastBatchOff:])
			return b
		}, 9},
		{"first record of last batch flipped", func(b []byte) []byte {
			b[lastBatchOff+5] ^= 0xff
			return b
		}, 9},
		{"length prefix of last batch flipped", func(b []byte) []byte {
			b[lastBatchOff] ^= 0x7f
			return b
		}, 9},
		{"last record's checksum flipped", func(b []byte) []byte {
			b[end-1] ^= 1
			return b
		}, 11},
		{"garbage after the end", func(b []byte) []byte {
			b[end+100] = 0x42
			return b
		}, 12},
		{"file cut at the end of the records", func(b []byte) []byte {
			return b[:end]
		}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, base)
			path := filepath.Join(segmentDirPath(dir), filepath.Base(tailPath))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			withLog := opts
			withLog.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			l, err := Open(dir, withLog)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer closeLog(t, l)
			checkLog(t, l, 1, all[:tt.wantLast])
			checkSegmentMirror(t, l)
			repaired := strings.Contains(logs.String(), "cut torn tail") && strings.Contains(logs.String(), filepath.Base(tailPath))
			// Zeros over the last batch are a batch that never reached the
			// disk: nothing to repair.
			if repaired != (tt.wantLast < 12 && tt.name != "zeros over last batch" || tt.name == "garbage after the end") {
				t.Fatalf("repair report %q", logs.String())
			}
		})
	}
}

// TestMiddleDamageRefused flips each byte of a record that later batches
// follow, in the tail segment and in an older one: Open must refuse, naming
// the file.
func TestMiddleDamageRefused(t *testing.T) {
	for _, seg := range []int{4096, 250} {
		t.Run(fmt.Sprintf("segment=%d", seg), func(t *testing.T) {
			opts := Options{NoSync: true, SegmentBytes: seg, Logger: quietLogger()}
			base := t.TempDir()
			buildLog(t, base, opts, 30)
			segDir := segmentDirPath(base)
			firsts, err := listSegmentFiles(segDir)
			if err != nil {
				t.Fatal(err)
			}
			if seg < 4096 && len(firsts) < 3 {
				t.Fatalf("want several segments, got %d", len(firsts))
			}
			// Damage the first segment (a non-tail one when there are
			// several) and, separately, the middle of the tail segment.
			targets := []uint64{firsts[0]}
			if len(firsts) > 1 {
				targets = append(targets, firsts[len(firsts)-1])
			}
			for _, first := range targets {
				name := segmentFileName(first)
				orig, err := os.ReadFile(filepath.Join(segDir, name))
				if err != nil {
					t.Fatal(err)
				}
				_, end, bad := scanRecords(orig, first)
				if bad != nil {
					t.Fatal(bad)
				}
				if first == firsts[len(firsts)-1] && len(firsts) > 1 && end < 150 {
					continue // the tail holds only the last batch: any damage there is a torn tail
				}
				// The header, and a record in the first half: later
				// batches follow it. Every third byte: each part of a
				// record (length prefix, varints, data, checksum) is still
				// hit many times.
				for off := 0; off < end/2; off += 3 {
					dir := copyDir(t, base)
					path := filepath.Join(segmentDirPath(dir), name)
					b := append([]byte{}, orig...)
					b[off] ^= 0x55
					if err := os.WriteFile(path, b, 0o640); err != nil {
						t.Fatal(err)
					}
					l, err := Open(dir, opts)
					if err == nil {
						l.Close()
						t.Fatalf("%s: byte %d flipped: Open succeeded", name, off)
					}
					if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
						t.Fatalf("%s: byte %d flipped: %v; want ErrCorrupt naming the file", name, off, err)
					}
				}
			}
		})
	}
}

func TestMissingSegmentRefused(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 200, Logger: quietLogger()}
	tests := []struct {
		name   string
		remove func(firsts []uint64) uint64
	}{
		{"middle", func(firsts []uint64) uint64 { return firsts[1] }},
		{"first", func(firsts []uint64) uint64 { return firsts[0] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, opts, 30)
			segDir := segmentDirPath(dir)
			firsts, err := listSegmentFiles(segDir)
			if err != nil || len(firsts) < 3 {
				t.Fatalf("segments %v, %v", firsts, err)
			}
			if err := os.Remove(filepath.Join(segDir, segmentFileName(tt.remove(firsts)))); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir, opts)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing segment") {
				t.Fatalf("Open: %v, want ErrCorrupt for a missing segment", err)
			}
		})
	}
}

// TestTruncateSuffixLeavesNoStaleRecords: a follower's log overwritten by a
// shorter suffix of a new term must not bring the old, longer suffix back
// at Open (the old records sit in the same bytes that Append overwrites).
func TestTruncateSuffixLeavesNoStaleRecords(t *testing.T) {
	for _, seg := range []int{4096, 200} {
		t.Run(fmt.Sprintf("segment=%d", seg), func(t *testing.T) {
			opts := Options{NoSync: true, SegmentBytes: seg, Logger: quietLogger()}
			dir := t.TempDir()
			l := openLog(t, dir, opts)
			mustAppend(t, l, mkEntries(1, 30, 1))
			mustAppend(t, l, mkEntries(12, 13, 2)) // replaces 12..30
			want := append(mkEntries(1, 11, 1), mkEntries(12, 13, 2)...)
			checkLog(t, l, 1, want)
			closeLog(t, l)
			l = openLog(t, dir, opts)
			checkLog(t, l, 1, want)
			if err := l.TruncateSuffix(5); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l)
			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			checkLog(t, l, 1, want[:4])
			checkSegmentMirror(t, l)
		})
	}
}

// TestOversizedRecord: a record larger than a segment gets a segment of its
// own, and the log goes on in normal segments after it.
func TestOversizedRecord(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 256, Logger: quietLogger()}
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	want := mkEntries(1, 3, 1)
	big := consensus.Entry{Term: 1, Index: 4, Data: bytes.Repeat([]byte("x"), 1000)}
	want = append(want, big)
	want = append(want, mkEntries(5, 9, 1)...)
	mustAppend(t, l, want[:3])
	mustAppend(t, l, want[3:6])
	mustAppend(t, l, want[6:])
	checkLog(t, l, 1, want)
	checkSegmentMirror(t, l)
	closeLog(t, l)
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	checkLog(t, l, 1, want)
	if len(l.segs) < 2 || l.segs[1].size < 1000 || l.segs[1].first != 4 {
		t.Fatalf("segments %+v: want the big record in a segment of its own", l.segs)
	}
}

// TestPreparedSegment: Open keeps a zero-filled segment ready, sized as
// configured, and rotations use it (the segment files are all that size).
func TestPreparedSegment(t *testing.T) {
	opts := Options{SegmentBytes: 2048, Logger: quietLogger()} // real zero-fill and syncs
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	for lo := uint64(1); lo <= 300; lo += 10 {
		mustAppend(t, l, mkEntries(lo, lo+9, 1))
	}
	checkSegmentMirror(t, l)
	closeLog(t, l)
	des, err := os.ReadDir(segmentDirPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	segs := 0
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		_, isSeg := parseSegmentFileName(de.Name())
		if !isSeg && de.Name() != preparedFileName || info.Size() != 2048 {
			t.Fatalf("file %s of %d bytes in the segment directory", de.Name(), info.Size())
		}
		if isSeg {
			segs++
		}
	}
	if segs < 3 {
		t.Fatalf("%d segments; want several", segs)
	}
	// A prepared file left by Close (the preparer may also have been
	// stopped mid-way: then there is none) is whole zeros.
	if b, err := os.ReadFile(filepath.Join(segmentDirPath(dir), preparedFileName)); err == nil && (len(b) != 2048 || lastNonZero(b) >= 0) {
		t.Fatalf("prepared segment of %d bytes, last non-zero byte at %d", len(b), lastNonZero(b))
	}
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	checkLog(t, l, 1, mkEntries(1, 300, 1))
}

// writeLegacyLog writes entries in tidwall/wal's layout under dir/log, in
// segments of perSegment entries (one batch each), and returns the names.
func writeLegacyLog(t *testing.T, dir string, entries []consensus.Entry, perSegment int) []string {
	t.Helper()
	legacy := filepath.Join(dir, legacyLogDirName)
	if err := os.MkdirAll(legacy, 0o750); err != nil {
		t.Fatal(err)
	}
	var names []string
	for lo := 0; lo < len(entries); lo += perSegment {
		var b []byte
		for i, e := range entries[lo:min(lo+perSegment, len(entries))] {
			rec := appendRecord(nil, &e, uint64(i))
			b = binary.AppendUvarint(b, uint64(len(rec)))
			b = append(b, rec...)
		}
		name := segmentName(entries[lo].Index)
		if err := os.WriteFile(filepath.Join(legacy, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// TestMigrateLegacyLog: a data directory written by tidwall/wal (the layout
// before our segments) is migrated at Open, including its unfinished
// truncations and torn tail, and a migration cut short by a crash is
// finished.
func TestMigrateLegacyLog(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 512, Logger: quietLogger()}
	all := mkEntries(1, 30, 1)
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string, names []string)
		wantLast uint64
	}{
		{"plain", func(*testing.T, string, []string) {}, 30},
		{"unfinished truncate back (END file)", func(t *testing.T, dir string, names []string) {
			// END copy of the second segment: everything after it goes.
			legacy := filepath.Join(dir, legacyLogDirName)
			b, err := os.ReadFile(filepath.Join(legacy, names[1]))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(legacy, names[1]+".END"), b, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(legacy, "junk.TEMP"), []byte("x"), 0o640); err != nil {
				t.Fatal(err)
			}
		}, 20},
		{"torn tail", func(t *testing.T, dir string, names []string) {
			path := filepath.Join(dir, legacyLogDirName, names[len(names)-1])
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, st.Size()-3); err != nil {
				t.Fatal(err)
			}
		}, 29},
		{"crash during migration", func(t *testing.T, dir string, _ []string) {
			junk := filepath.Join(segmentDirPath(dir)+".migrate", segmentFileName(1))
			if err := os.MkdirAll(filepath.Dir(junk), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(junk, []byte("half a segment"), 0o640); err != nil {
				t.Fatal(err)
			}
		}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			names := writeLegacyLog(t, dir, all, 10)
			tt.setup(t, dir, names)
			l := openLog(t, dir, opts)
			checkLog(t, l, 1, all[:tt.wantLast])
			checkSegmentMirror(t, l)
			mustAppend(t, l, mkEntries(tt.wantLast+1, tt.wantLast+2, 2))
			closeLog(t, l)
			for _, gone := range []string{legacyLogDirName, segmentDirName + ".migrate"} {
				if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s left after migration: %v", gone, err)
				}
			}
			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			checkLog(t, l, 1, append(append([]consensus.Entry{}, all[:tt.wantLast]...), mkEntries(tt.wantLast+1, tt.wantLast+2, 2)...))
		})
	}
	t.Run("crash before the old log was removed", func(t *testing.T) {
		dir := t.TempDir()
		writeLegacyLog(t, dir, all, 10)
		l := openLog(t, dir, opts)
		mustAppend(t, l, mkEntries(31, 31, 2))
		closeLog(t, l)
		// The old log reappears beside the migrated one: it must not win.
		writeLegacyLog(t, dir, all[:5], 10)
		l = openLog(t, dir, opts)
		defer closeLog(t, l)
		checkLog(t, l, 1, append(append([]consensus.Entry{}, all...), mkEntries(31, 31, 2)...))
		if _, err := os.Stat(filepath.Join(dir, legacyLogDirName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("old log left: %v", err)
		}
	})
}

// FuzzScanRecords feeds arbitrary bytes to the segment scanner and the
// later-batch search that Open runs on files from disk.
func FuzzScanRecords(f *testing.F) {
	seg := encodeSegmentHeader(5)
	for i, e := range mkEntries(5, 8, 2) {
		rec := appendRecord(nil, &e, uint64(i))
		seg = binary.AppendUvarint(seg, uint64(len(rec)))
		seg = append(seg, rec...)
	}
	f.Add(append(seg, make([]byte, 64)...), uint64(5))
	f.Add(seg[:len(seg)-3], uint64(5))
	f.Add(append(seg[:40:40], 0, 0, 7, 0), uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, first uint64) {
		if first == 0 {
			first = 1
		}
		if len(data) < segmentHeaderBytes || checkSegmentHeader(data, first) != nil {
			return
		}
		offsets, good, bad := scanRecords(data, first)
		if good > len(data) || good < segmentHeaderBytes {
			t.Fatalf("good offset %d outside [%d, %d]", good, segmentHeaderBytes, len(data))
		}
		for i, off := range offsets {
			if int(off) >= good || i > 0 && off <= offsets[i-1] {
				t.Fatalf("offsets %v with good %d", offsets, good)
			}
		}
		if bad == nil && lastNonZero(data[good:]) >= 0 {
			t.Fatalf("no error but non-zero bytes after %d", good)
		}
		if bad != nil {
			if !errors.Is(bad, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", bad)
			}
			findLaterBatch(data[good:], first+uint64(len(offsets)))
		}
	})
}

// FuzzScanSegment feeds arbitrary bytes to the segment scanner and the
// later-batch search that Open runs on files from disk.
func FuzzScanSegment(f *testing.F) {
	var seg []byte
	for i, e := range mkEntries(5, 8, 2) {
		rec := appendRecord(nil, &e, uint64(i))
		seg = binary.AppendUvarint(seg, uint64(len(rec)))
		seg = append(seg, rec...)
	}
	f.Add(seg, uint64(5))
	f.Add(seg[:len(seg)-3], uint64(5))
	f.Add([]byte{0, 0, 0}, uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, segIndex uint64) {
		if segIndex == 0 {
			segIndex = 1
		}
		good, count, bad := scanSegment(data, segIndex)
		if good > len(data) {
			t.Fatalf("good offset %d beyond %d bytes", good, len(data))
		}
		if bad == nil && good != len(data) {
			t.Fatalf("no error but stopped at %d of %d", good, len(data))
		}
		if bad != nil {
			if !errors.Is(bad, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", bad)
			}
			findLaterBatch(data[good:], segIndex+count)
		}
	})
}

func FuzzStateFiles(f *testing.F) {
	f.Add(encodeHardState(consensus.HardState{Term: 3, Vote: 2, Commit: 9}))
	f.Add(encodeLogMeta(logMeta{Index: 7, Term: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if hs, err := decodeHardState(b); err == nil {
			if !bytes.Equal(encodeHardState(hs), b) {
				t.Fatal("hard state does not re-encode to the same bytes")
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if m, err := decodeLogMeta(b); err == nil {
			if !bytes.Equal(encodeLogMeta(m), b) {
				t.Fatal("log meta does not re-encode to the same bytes")
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

// TestOpenRemovesStaleFiles: what a crash leaves in the segment directory
// (a half-made prepared file, an oversized segment not yet renamed, the
// prepared file itself, which a crash before a directory fsync can leave
// holding records) is removed at Open, the log itself is untouched, and the
// segments made afterwards hold nothing of it.
func TestOpenRemovesStaleFiles(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 1024, Logger: quietLogger()}
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	mustAppend(t, l, mkEntries(1, 5, 1))
	closeLog(t, l)
	segDir := segmentDirPath(dir)
	stale := []string{preparedFileName + tempSuffix, segmentFileName(6) + oversizedSuffix, segmentFileName(6) + oversizedSuffix + tempSuffix}
	for _, name := range stale {
		if err := os.WriteFile(filepath.Join(segDir, name), []byte("junk"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// A prepared file of the right size that is not all zeros.
	if err := os.WriteFile(filepath.Join(segDir, preparedFileName), bytes.Repeat([]byte{0x42}, 1024), 0o640); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	checkLog(t, l, 1, mkEntries(1, 5, 1))
	for _, name := range stale {
		// The preparer, started by Open, may already be writing its own
		// next.prep.tmp: what must be gone is the stale content.
		if b, err := os.ReadFile(filepath.Join(segDir, name)); err == nil && string(b) == "junk" {
			t.Errorf("%s left", name)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Error(err)
		}
	}
	for lo := uint64(6); lo < 200; lo += 10 {
		mustAppend(t, l, mkEntries(lo, lo+9, 1))
	}
	if len(l.segs) < 3 {
		t.Fatalf("%d segments, want rotations", len(l.segs))
	}
	checkSegmentMirror(t, l)
}

// TestScannersRefuseRecordInWrongPlace: a record whose stored index is not
// its position (a record copied or shifted by damage) ends the good part
// of the segment in both layouts' scanners, as corruption naming both
// indexes.
func TestScannersRefuseRecordInWrongPlace(t *testing.T) {
	frames := func(indexes ...uint64) []byte {
		var b []byte
		for i, index := range indexes {
			e := mkEntries(index, index, 1)[0]
			rec := appendRecord(nil, &e, uint64(i))
			b = binary.AppendUvarint(b, uint64(len(rec)))
			b = append(b, rec...)
		}
		return b
	}
	intact, shifted := frames(5, 6), frames(5, 6, 8, 9)
	wantGood := len(intact)
	const wantErr = "record says index 8, want 7"

	seg := append(encodeSegmentHeader(5), shifted...)
	offsets, good, bad := scanRecords(seg, 5)
	if len(offsets) != 2 || good != segmentHeaderBytes+wantGood || !errors.Is(bad, ErrCorrupt) || !strings.Contains(bad.Error(), wantErr) {
		t.Errorf("scanRecords: %d records, good %d, %v; want 2, %d, %q", len(offsets), good, bad, segmentHeaderBytes+wantGood, wantErr)
	}
	good, count, bad := scanSegment(shifted, 5)
	if count != 2 || good != wantGood || !errors.Is(bad, ErrCorrupt) || !strings.Contains(bad.Error(), wantErr) {
		t.Errorf("scanSegment (tidwall layout): %d records, good %d, %v; want 2, %d, %q", count, good, bad, wantGood, wantErr)
	}
}
