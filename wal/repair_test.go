package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// tailSegment returns the path and size of the newest segment file.
func tailSegment(t *testing.T, dir string) (string, int64) {
	t.Helper()
	segs, err := listSegments(filepath.Join(dir, logDirName))
	if err != nil || len(segs) == 0 {
		t.Fatalf("listSegments: %v, %d segments", err, len(segs))
	}
	path := filepath.Join(dir, logDirName, segmentName(segs[len(segs)-1]))
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, st.Size()
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
		_, size := tailSegment(t, dir)
		es := mkEntries(lo, hi, 1+lo/10)
		mustAppend(t, l, es)
		all = append(all, es...)
		lastBatchOff = size
		if _, after := tailSegment(t, dir); after < size {
			lastBatchOff = 0 // the batch went to a fresh segment
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

// TestTornTailEveryOffset cuts the last batch (three entries) at every
// byte offset and reopens: no error, every entry before the cut that is
// whole survives, and the log is appendable again.
func TestTornTailEveryOffset(t *testing.T) {
	for _, seg := range []int{0, 180} {
		t.Run(fmt.Sprintf("segment=%d", seg), func(t *testing.T) {
			opts := Options{NoSync: true, SegmentBytes: seg, Logger: quietLogger()}
			base := t.TempDir()
			l := openLog(t, base, opts)
			want := mkEntries(1, 11, 1)
			mustAppend(t, l, want[:4])
			mustAppend(t, l, want[4:8])
			mustAppend(t, l, want[8:]) // the batch we tear
			closeLog(t, l)
			tailPath, size := tailSegment(t, base)
			data, err := os.ReadFile(tailPath)
			if err != nil {
				t.Fatal(err)
			}
			segIndex, _, _ := parseSegmentName(filepath.Base(tailPath))
			// ends[k] is the offset just past the k-th record of the tail.
			var ends []int64
			for off := 0; off < len(data); {
				n, k := binary.Uvarint(data[off:])
				off += k + int(n)
				ends = append(ends, int64(off))
			}
			firstTorn := int64(0) // tear only inside the last batch
			if len(ends) > 3 {
				firstTorn = ends[len(ends)-4]
			}
			for cut := firstTorn; cut < size; cut++ {
				whole := uint64(0)
				for _, e := range ends {
					if e <= cut {
						whole++
					}
				}
				wantLast := segIndex - 1 + whole
				dir := copyDir(t, base)
				path := filepath.Join(dir, logDirName, filepath.Base(tailPath))
				if err := os.Truncate(path, cut); err != nil {
					t.Fatal(err)
				}
				l, err := Open(dir, opts)
				if err != nil {
					t.Fatalf("cut at %d of %d: Open: %v", cut, size, err)
				}
				checkLog(t, l, 1, want[:wantLast])
				mustAppend(t, l, mkEntries(wantLast+1, wantLast+1, 3))
				closeLog(t, l)
			}
		})
	}
}

// TestTornTailGarbage: the last batch's bytes replaced by what a torn write
// may leave (zeros, or a damaged first record with the rest intact), or
// zeros appended past the end.
func TestTornTailGarbage(t *testing.T) {
	opts := Options{NoSync: true, Logger: quietLogger()}
	base := t.TempDir()
	all, lastBatchOff := buildLog(t, base, opts, 12) // batches 1-3,4-6,7-9,10-12
	tailPath, size := tailSegment(t, base)
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
			b[size-1] ^= 1
			return b
		}, 11},
		{"zeros appended", func(b []byte) []byte {
			return append(b, make([]byte, 4096)...)
		}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, base)
			path := filepath.Join(dir, logDirName, filepath.Base(tailPath))
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
			repaired := strings.Contains(logs.String(), "cut torn tail") && strings.Contains(logs.String(), filepath.Base(tailPath))
			if repaired != (tt.wantLast < 12 || tt.name == "zeros appended") {
				t.Fatalf("repair report %q", logs.String())
			}
		})
	}
}

// TestMiddleDamageRefused flips each byte of a record that later batches
// follow, in the tail segment and in an older one: Open must refuse, naming
// the file.
func TestMiddleDamageRefused(t *testing.T) {
	for _, seg := range []int{0, 250} {
		t.Run(fmt.Sprintf("segment=%d", seg), func(t *testing.T) {
			opts := Options{NoSync: true, SegmentBytes: seg, Logger: quietLogger()}
			base := t.TempDir()
			buildLog(t, base, opts, 30)
			logDir := filepath.Join(base, logDirName)
			segs, err := listSegments(logDir)
			if err != nil {
				t.Fatal(err)
			}
			if seg > 0 && len(segs) < 3 {
				t.Fatalf("want several segments, got %d", len(segs))
			}
			// Damage the first segment (a non-tail one when there are
			// several) and, separately, the middle of the tail segment.
			targets := []string{segmentName(segs[0])}
			if len(segs) > 1 {
				targets = append(targets, segmentName(segs[len(segs)-1]))
			}
			for _, name := range targets {
				orig, err := os.ReadFile(filepath.Join(logDir, name))
				if err != nil {
					t.Fatal(err)
				}
				if name == segmentName(segs[len(segs)-1]) && len(segs) > 1 && len(orig) < 150 {
					continue // the tail holds only the last batch: any damage there is a torn tail
				}
				// A record in the first half: later batches follow it.
				// Every third byte: each part of a record (length prefix,
				// varints, data, checksum) is still hit many times.
				lo, hi := 0, len(orig)/2
				for off := lo; off < hi; off += 3 {
					dir := copyDir(t, base)
					path := filepath.Join(dir, logDirName, name)
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
		remove func(segs []uint64) uint64
	}{
		{"middle", func(segs []uint64) uint64 { return segs[1] }},
		{"first", func(segs []uint64) uint64 { return segs[0] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, opts, 30)
			logDir := filepath.Join(dir, logDirName)
			segs, err := listSegments(logDir)
			if err != nil || len(segs) < 3 {
				t.Fatalf("segments %v, %v", segs, err)
			}
			if err := os.Remove(filepath.Join(logDir, segmentName(tt.remove(segs)))); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir, opts)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing segment") {
				t.Fatalf("Open: %v, want ErrCorrupt for a missing segment", err)
			}
		})
	}
}

// TestInterruptedTruncateBack leaves an END file as tidwall's TruncateBack
// would after a crash, and checks that Open finishes it.
func TestInterruptedTruncations(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 200, Logger: quietLogger()}
	dir := t.TempDir()
	all, _ := buildLog(t, dir, opts, 30)
	logDir := filepath.Join(dir, logDirName)
	segs, err := listSegments(logDir)
	if err != nil {
		t.Fatal(err)
	}
	// END copy of the second segment: everything after it goes.
	src := filepath.Join(logDir, segmentName(segs[1]))
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src+".END", b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "junk.TEMP"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, opts)
	defer closeLog(t, l)
	last := segs[2] - 1
	checkLog(t, l, 1, all[:last])
	if _, err := os.Stat(filepath.Join(logDir, "junk.TEMP")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file left: %v", err)
	}
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
