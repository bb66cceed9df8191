package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions() Options { return Options{NoSync: true, Logger: quietLogger()} }

func openLog(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

func closeLog(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mkEntries makes entries [lo, hi] with the given term and data that names
// the index, so that a mix-up shows.
func mkEntries(lo, hi, term uint64) []consensus.Entry {
	var es []consensus.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, consensus.Entry{
			Term: term, Index: i, Type: consensus.EntryNormal, TimeMs: int64(1000 + i),
			Data: []byte(fmt.Sprintf("entry-%d-term-%d", i, term)),
		})
	}
	return es
}

func mustAppend(t *testing.T, l *Log, es []consensus.Entry) {
	t.Helper()
	if err := l.Append(es); err != nil {
		t.Fatalf("Append [%d..]: %v", es[0].Index, err)
	}
}

// checkLog compares the log's whole content with want.
func checkLog(t *testing.T, l *Log, first uint64, want []consensus.Entry) {
	t.Helper()
	if got := l.FirstIndex(); got != first {
		t.Fatalf("FirstIndex = %d, want %d", got, first)
	}
	wantLast := first - 1 + uint64(len(want))
	if got := l.LastIndex(); got != wantLast {
		t.Fatalf("LastIndex = %d, want %d", got, wantLast)
	}
	if len(want) > 0 {
		if got := l.LastTerm(); got != want[len(want)-1].Term {
			t.Fatalf("LastTerm = %d, want %d", got, want[len(want)-1].Term)
		}
	}
	got, err := l.Entries(first, wantLast+1, 0)
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, wantLast+1, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Entries returned %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !entryEqual(got[i], want[i]) {
			t.Fatalf("entry %d = %+v, want %+v", want[i].Index, got[i], want[i])
		}
		term, err := l.Term(want[i].Index)
		if err != nil || term != want[i].Term {
			t.Fatalf("Term(%d) = %d, %v; want %d", want[i].Index, term, err, want[i].Term)
		}
	}
}

func entryEqual(a, b consensus.Entry) bool {
	return a.Term == b.Term && a.Index == b.Index && a.Type == b.Type && a.TimeMs == b.TimeMs && bytes.Equal(a.Data, b.Data)
}

func TestAppendReadReopen(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"default", testOptions()},
		{"tiny segments", Options{NoSync: true, SegmentBytes: 200, Logger: quietLogger()}},
		{"tiny cache", Options{NoSync: true, CacheEntriesMax: 3, CacheBytesMax: 40, Logger: quietLogger()}},
		{"fsync", Options{SegmentBytes: 300, Logger: quietLogger()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, tt.opts)
			checkLog(t, l, 1, nil)
			if term, err := l.Term(0); err != nil || term != 0 {
				t.Fatalf("Term(0) on empty log = %d, %v", term, err)
			}
			var want []consensus.Entry
			for b := uint64(0); b < 10; b++ {
				es := mkEntries(b*5+1, b*5+5, b/3+1)
				mustAppend(t, l, es)
				want = append(want, es...)
			}
			checkLog(t, l, 1, want)
			closeLog(t, l)
			l = openLog(t, dir, tt.opts)
			defer closeLog(t, l)
			checkLog(t, l, 1, want)
			more := mkEntries(51, 52, 9)
			mustAppend(t, l, more)
			checkLog(t, l, 1, append(want, more...))
		})
	}
}

func TestAppendOverwritesSuffix(t *testing.T) {
	tests := []struct {
		name      string
		from      uint64 // first index of the conflicting batch
		wantFirst uint64
	}{
		{"replace last", 20, 1},
		{"replace middle", 7, 1},
		{"replace all", 1, 1},
		{"append at end", 21, 1},
	}
	for _, tt := range tests {
		for _, seg := range []int{0, 150} {
			t.Run(fmt.Sprintf("%s/segment=%d", tt.name, seg), func(t *testing.T) {
				dir := t.TempDir()
				opts := Options{NoSync: true, SegmentBytes: seg, Logger: quietLogger()}
				l := openLog(t, dir, opts)
				old := mkEntries(1, 20, 1)
				mustAppend(t, l, old)
				repl := mkEntries(tt.from, tt.from+2, 2)
				mustAppend(t, l, repl)
				want := append(append([]consensus.Entry{}, old[:tt.from-1]...), repl...)
				checkLog(t, l, 1, want)
				closeLog(t, l)
				l = openLog(t, dir, opts)
				defer closeLog(t, l)
				checkLog(t, l, 1, want)
			})
		}
	}
}

func TestAppendRejectsGapsAndDisorder(t *testing.T) {
	l := openLog(t, t.TempDir(), testOptions())
	defer closeLog(t, l)
	mustAppend(t, l, mkEntries(1, 3, 1))
	if err := l.Append(mkEntries(5, 6, 1)); !errors.Is(err, consensus.ErrUnavailable) {
		t.Fatalf("Append with a gap: %v, want ErrUnavailable", err)
	}
	bad := mkEntries(4, 6, 1)
	bad[1].Index = 9
	if err := l.Append(bad); err == nil {
		t.Fatal("Append of non-contiguous batch succeeded")
	}
	huge := mkEntries(4, 4, 1)
	huge[0].Data = make([]byte, entryDataBytesMax+1)
	if err := l.Append(huge); err == nil {
		t.Fatal("Append of an oversized entry succeeded")
	}
	checkLog(t, l, 1, mkEntries(1, 3, 1))
}

func TestEntriesMaxBytes(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{NoSync: true, CacheEntriesMax: 4, Logger: quietLogger()})
	defer closeLog(t, l)
	es := mkEntries(1, 10, 1) // each Data is 16 or 17 bytes
	mustAppend(t, l, es)
	tests := []struct {
		lo, hi   uint64
		maxBytes int
		want     int
	}{
		{1, 11, 0, 10},
		{1, 11, 1, 1}, // at least one
		{1, 11, 32, 2},
		{1, 11, 33, 2},
		{8, 11, 1000, 3},
		{5, 5, 10, 0},
		{6, 5, 10, 0},
		{2, 9, 50, 3}, // crosses cache boundary (cache holds 7..10)
	}
	for _, tt := range tests {
		got, err := l.Entries(tt.lo, tt.hi, tt.maxBytes)
		if err != nil {
			t.Fatalf("Entries(%d,%d,%d): %v", tt.lo, tt.hi, tt.maxBytes, err)
		}
		if len(got) != tt.want {
			t.Fatalf("Entries(%d,%d,%d) returned %d entries, want %d", tt.lo, tt.hi, tt.maxBytes, len(got), tt.want)
		}
		for i, e := range got {
			if !entryEqual(e, es[tt.lo-1+uint64(i)]) {
				t.Fatalf("Entries(%d,%d,%d)[%d] = %+v", tt.lo, tt.hi, tt.maxBytes, i, e)
			}
		}
	}
	errTests := []struct {
		lo, hi uint64
		want   error
	}{
		{0, 3, consensus.ErrCompacted},
		{5, 12, consensus.ErrUnavailable},
	}
	for _, tt := range errTests {
		if _, err := l.Entries(tt.lo, tt.hi, 0); !errors.Is(err, tt.want) {
			t.Fatalf("Entries(%d,%d) error %v, want %v", tt.lo, tt.hi, err, tt.want)
		}
	}
	if _, err := l.Entry(11); !errors.Is(err, consensus.ErrUnavailable) {
		t.Fatalf("Entry(11): %v", err)
	}
}

func TestTruncatePrefix(t *testing.T) {
	tests := []struct {
		name      string
		upTo      uint64
		upToTerm  uint64
		wantFirst uint64
		wantKept  []consensus.Entry
	}{
		{"middle, matching term", 12, 2, 13, mkEntries(13, 30, 2)},
		{"all, matching term", 30, 2, 31, nil},
		{"beyond the log", 50, 3, 51, nil},
		{"middle, other term discards all", 12, 5, 13, nil},
		{"nothing", 0, 0, 1, append(mkEntries(1, 10, 1), mkEntries(11, 30, 2)...)},
	}
	for _, tt := range tests {
		for _, seg := range []int{0, 200} {
			t.Run(fmt.Sprintf("%s/segment=%d", tt.name, seg), func(t *testing.T) {
				dir := t.TempDir()
				opts := Options{NoSync: true, SegmentBytes: seg, CacheEntriesMax: 5, Logger: quietLogger()}
				l := openLog(t, dir, opts)
				mustAppend(t, l, mkEntries(1, 10, 1))
				mustAppend(t, l, mkEntries(11, 30, 2))
				if err := l.TruncatePrefix(tt.upTo, tt.upToTerm); err != nil {
					t.Fatalf("TruncatePrefix(%d, %d): %v", tt.upTo, tt.upToTerm, err)
				}
				check := func(l *Log) {
					t.Helper()
					checkLog(t, l, tt.wantFirst, tt.wantKept)
					if term, err := l.Term(tt.wantFirst - 1); err != nil || term != tt.upToTerm {
						t.Fatalf("Term(FirstIndex-1=%d) = %d, %v; want %d", tt.wantFirst-1, term, err, tt.upToTerm)
					}
					if len(tt.wantKept) == 0 && l.LastTerm() != tt.upToTerm {
						t.Fatalf("LastTerm of empty log = %d, want snapshot term %d", l.LastTerm(), tt.upToTerm)
					}
					if tt.upTo > 0 {
						if _, err := l.Entry(tt.upTo); !errors.Is(err, consensus.ErrCompacted) {
							t.Fatalf("Entry(%d) after compaction: %v, want ErrCompacted", tt.upTo, err)
						}
					}
				}
				check(l)
				closeLog(t, l)
				l = openLog(t, dir, opts)
				defer closeLog(t, l)
				check(l)
				// The log goes on from the new first index.
				next := tt.wantFirst + uint64(len(tt.wantKept))
				mustAppend(t, l, mkEntries(next, next+2, 7))
				checkLog(t, l, tt.wantFirst, append(append([]consensus.Entry{}, tt.wantKept...), mkEntries(next, next+2, 7)...))
			})
		}
	}
}

func TestOpenFinishesInterruptedCompaction(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testOptions())
	mustAppend(t, l, mkEntries(1, 20, 1))
	closeLog(t, l)
	// A crash after the logmeta was written, before the log was cut.
	if err := writeFileAtomic(filepath.Join(dir, logMetaFileName), encodeLogMeta(logMeta{Index: 15, Term: 1}), true); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testOptions())
	defer closeLog(t, l)
	checkLog(t, l, 16, mkEntries(16, 20, 1))
}

func TestHardState(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testOptions())
	if hs, err := l.HardState(); err != nil || !hs.IsEmpty() {
		t.Fatalf("fresh HardState = %+v, %v", hs, err)
	}
	mustAppend(t, l, mkEntries(1, 10, 1)) // so that commit 9 is not clamped on reopen
	steps := []struct {
		save       consensus.HardState
		wantOnDisk consensus.HardState // what a crash right after leaves
		wantErr    bool
	}{
		{consensus.HardState{Term: 1, Vote: 2}, consensus.HardState{Term: 1, Vote: 2}, false},
		{consensus.HardState{Term: 1, Vote: 2, Commit: 5}, consensus.HardState{Term: 1, Vote: 2}, false},
		{consensus.HardState{Term: 2, Vote: 3, Commit: 6}, consensus.HardState{Term: 2, Vote: 3, Commit: 6}, false},
		{consensus.HardState{Term: 2, Vote: 3, Commit: 9}, consensus.HardState{Term: 2, Vote: 3, Commit: 6}, false},
		{consensus.HardState{Term: 1, Vote: 3, Commit: 9}, consensus.HardState{Term: 2, Vote: 3, Commit: 6}, true},
	}
	for i, st := range steps {
		err := l.SaveHardState(st.save)
		if (err != nil) != st.wantErr {
			t.Fatalf("step %d: SaveHardState(%+v) = %v, want error %v", i, st.save, err, st.wantErr)
		}
		b, err := os.ReadFile(filepath.Join(dir, hardStateFileName))
		if err != nil {
			t.Fatal(err)
		}
		onDisk, err := decodeHardState(b)
		if err != nil || onDisk != st.wantOnDisk {
			t.Fatalf("step %d: on disk %+v, %v; want %+v", i, onDisk, err, st.wantOnDisk)
		}
	}
	if hs, _ := l.HardState(); hs != (consensus.HardState{Term: 2, Vote: 3, Commit: 9}) {
		t.Fatalf("HardState = %+v", hs)
	}
	closeLog(t, l) // folds the pending commit in
	// A crash mid-replace leaves a temporary that must not be taken for
	// the state.
	stale := encodeHardState(consensus.HardState{Term: 99, Vote: 9})
	if err := os.WriteFile(filepath.Join(dir, hardStateFileName+tempSuffix), stale, 0o640); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testOptions())
	defer closeLog(t, l)
	if hs, _ := l.HardState(); hs != (consensus.HardState{Term: 2, Vote: 3, Commit: 9}) {
		t.Fatalf("HardState after reopen = %+v", hs)
	}
	if _, err := os.Stat(filepath.Join(dir, hardStateFileName+tempSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary left behind: %v", err)
	}
}

func TestCorruptStateFilesRefused(t *testing.T) {
	for _, name := range []string{hardStateFileName, logMetaFileName} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testOptions())
			mustAppend(t, l, mkEntries(1, 5, 1))
			if err := l.SaveHardState(consensus.HardState{Term: 1, Vote: 1}); err != nil {
				t.Fatal(err)
			}
			if err := l.TruncatePrefix(2, 1); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l)
			path := filepath.Join(dir, name)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[7] ^= 0x40
			if err := os.WriteFile(path, b, 0o640); err != nil {
				t.Fatal(err)
			}
			_, err = Open(dir, testOptions())
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
				t.Fatalf("Open with damaged %s: %v, want ErrCorrupt naming the file", name, err)
			}
		})
	}
}

func TestClosedLogRefuses(t *testing.T) {
	l := openLog(t, t.TempDir(), testOptions())
	mustAppend(t, l, mkEntries(1, 3, 1))
	closeLog(t, l)
	calls := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { return l.Append(mkEntries(4, 4, 1)) }},
		{"Entry", func() error { _, err := l.Entry(1); return err }},
		{"Entries", func() error { _, err := l.Entries(1, 2, 0); return err }},
		{"Term", func() error { _, err := l.Term(2); return err }},
		{"TruncateSuffix", func() error { return l.TruncateSuffix(2) }},
		{"TruncatePrefix", func() error { return l.TruncatePrefix(2, 1) }},
		{"Close", l.Close},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", c.name, err)
		}
	}
}

func TestRecoveredCommitIsClamped(t *testing.T) {
	tests := []struct {
		name       string
		saved      uint64 // commit in the hardstate file
		compactTo  uint64 // 0: no compaction
		wantCommit uint64
	}{
		{"within the log", 5, 0, 5},
		{"beyond the last index", 50, 0, 10},
		{"below the compaction point", 2, 6, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testOptions())
			mustAppend(t, l, mkEntries(1, 10, 1))
			if err := l.SaveHardState(consensus.HardState{Term: 1, Vote: 1, Commit: tt.saved}); err != nil {
				t.Fatal(err)
			}
			if tt.compactTo > 0 {
				if err := l.TruncatePrefix(tt.compactTo, 1); err != nil {
					t.Fatal(err)
				}
				if hs, _ := l.HardState(); hs.Commit != tt.wantCommit {
					t.Fatalf("commit after compaction %d, want %d", hs.Commit, tt.wantCommit)
				}
			}
			// Simulate a crash: drop the in-memory commit, keep the files.
			l.stateMu.Lock()
			l.hard = l.hardDurable
			l.stateMu.Unlock()
			closeLog(t, l)
			l = openLog(t, dir, testOptions())
			defer closeLog(t, l)
			if hs, _ := l.HardState(); hs.Commit != tt.wantCommit || hs.Term != 1 || hs.Vote != 1 {
				t.Fatalf("recovered %+v, want commit %d", hs, tt.wantCommit)
			}
		})
	}
}
