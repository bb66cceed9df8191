package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// Crash review: every test here builds an on-disk state that a power cut
// could leave at some step of the normal protocol (doc.go, "Durability
// contract" and "Repair rules on Open"), opens the log and checks that it
// opens, that nothing synced is lost and that nothing a synced truncation
// removed comes back. The crash model: bytes written but not yet
// fdatasynced reach the disk in page-sized pieces, any subset, in any
// order; an unlink or rename not yet followed by a directory fsync may or
// may not survive.

// crashPageBytes is the unit in which unsynced writes reach the disk.
const crashPageBytes = 4096

// differingPages returns the indexes of the pages in which before and after
// differ (after may be longer: a grown file).
func differingPages(before, after []byte) []int {
	var pages []int
	for lo := 0; lo < max(len(before), len(after)); lo += crashPageBytes {
		hiB, hiA := min(lo+crashPageBytes, len(before)), min(lo+crashPageBytes, len(after))
		if lo >= len(before) || lo >= len(after) || !bytes.Equal(before[lo:hiB], after[lo:hiA]) {
			pages = append(pages, lo/crashPageBytes)
		}
	}
	return pages
}

// crashMix is before with the pages listed in pages (a subset of
// differingPages) taken from after: what the disk holds when only those
// pages of an unsynced write reached it.
func crashMix(before, after []byte, pages []int) []byte {
	out := append([]byte{}, before...)
	if len(after) > len(out) {
		out = append(out, make([]byte, len(after)-len(out))...)
	}
	for _, p := range pages {
		lo := p * crashPageBytes
		if lo >= len(after) {
			// The file shrank (the preparer, running beside the
			// operation, truncates its temporary): the old page stays.
			continue
		}
		hi := min(lo+crashPageBytes, len(after))
		copy(out[lo:hi], after[lo:hi])
	}
	return out
}

// pageSubsets lists the subsets of pages to try: all of them when there are
// few, else every single page, every prefix, every suffix and their
// complements (the interesting orders: front first, back first, one hole).
func pageSubsets(pages []int) [][]int {
	if len(pages) <= 8 {
		var out [][]int
		for mask := 0; mask < 1<<len(pages); mask++ {
			var s []int
			for i, p := range pages {
				if mask&(1<<i) != 0 {
					s = append(s, p)
				}
			}
			out = append(out, s)
		}
		return out
	}
	var out [][]int
	for i := range pages {
		out = append(out, []int{pages[i]}, slices.Concat(pages[:i], pages[i+1:]), pages[:i], pages[i:])
	}
	return out
}

// paddedEntries makes entries [lo, hi] whose data is pad bytes long, so that
// a few of them fill a page.
func paddedEntries(lo, hi, term uint64, pad int) []consensus.Entry {
	es := mkEntries(lo, hi, term)
	for i := range es {
		es[i].Data = append(es[i].Data, bytes.Repeat([]byte{'p'}, pad)...)
	}
	return es
}

// appendOneByOne appends es one entry per call, as a follower under light
// load does: every entry is its own batch.
func appendOneByOne(t *testing.T, l *Log, es []consensus.Entry) {
	t.Helper()
	for i := range es {
		mustAppend(t, l, es[i:i+1])
	}
}

// writeLog writes es, one Append each, to a new log in dir and closes it.
func writeLog(t *testing.T, dir string, opts Options, es []consensus.Entry) {
	t.Helper()
	l := openLog(t, dir, opts)
	appendOneByOne(t, l, es)
	closeLog(t, l)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// openAfterCrash opens dir and checks that the log holds a prefix of want
// at least minLast long (want[i] has index i+1) and is a working log: it
// takes an append of a new term and keeps it across a reopen. It returns
// the last index found.
func openAfterCrash(t *testing.T, dir string, opts Options, want []consensus.Entry, minLast uint64, what string) uint64 {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("%s: Open: %v (a crash must never make the log refuse to open)", what, err)
	}
	last := l.LastIndex()
	if last < minLast || last > uint64(len(want)) {
		l.Close()
		t.Fatalf("%s: last index %d, want between %d (synced) and %d", what, last, minLast, len(want))
	}
	got, err := l.Entries(1, last+1, 0)
	if err != nil {
		l.Close()
		t.Fatalf("%s: Entries: %v", what, err)
	}
	for i := range got {
		if !entryEqual(got[i], want[i]) {
			l.Close()
			t.Fatalf("%s: entry %d = %s/term %d, want %s/term %d", what, i+1, got[i].Data, got[i].Term, want[i].Data, want[i].Term)
		}
	}
	checkSegmentMirror(t, l)
	nextTerm := uint64(9)
	if len(want) > 0 {
		nextTerm = want[len(want)-1].Term + 1
	}
	next := mkEntries(last+1, last+2, nextTerm)
	mustAppend(t, l, next)
	closeLog(t, l)
	l = openLog(t, dir, opts)
	defer closeLog(t, l)
	checkLog(t, l, 1, slices.Concat(want[:last], next))
	checkSegmentMirror(t, l)
	return last
}

// dirImage is the content of every file under a directory, by relative
// path, and the inode each name points to: the state of a data directory
// at one moment.
type dirImage struct {
	files  map[string][]byte
	inodes map[string]uint64
}

func captureDir(t *testing.T, dir string) dirImage {
	t.Helper()
	img := dirImage{files: map[string][]byte{}, inodes: map[string]uint64{}}
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a temporary renamed away meanwhile (the preparer)
		}
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		img.files[rel] = b
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			img.inodes[rel] = st.Ino
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeDirImage writes img into a new directory and returns it.
func writeDirImage(t *testing.T, img dirImage) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(segmentDirPath(dir), 0o750); err != nil {
		t.Fatal(err)
	}
	for rel, b := range img.files {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, b)
	}
	return dir
}

// crashImages returns the states a crash between two durable points a and
// b can leave: each unlink, creation, rename over a name (the name points
// to another inode: all or nothing) and changed page of a file written in
// place reached the disk or not, independently of the others.
func crashImages(ai, bi dirImage) []dirImage {
	a, b := ai.files, bi.files
	type change struct {
		path string
		page int // -1: the whole file appears or disappears
	}
	var changes []change
	for _, path := range slices.Sorted(func(yield func(string) bool) {
		for p := range a {
			if !yield(p) {
				return
			}
		}
		for p := range b {
			if _, ok := a[p]; !ok && !yield(p) {
				return
			}
		}
	}) {
		before, inA := a[path]
		after, inB := b[path]
		// A file replaced (another inode) or cut shorter (a truncate: a
		// metadata change, all or nothing) is one change; only writes
		// within a file reach the disk page by page.
		if !inA || !inB || ai.inodes[path] != bi.inodes[path] || len(after) < len(before) {
			changes = append(changes, change{path, -1})
			continue
		}
		for _, p := range differingPages(before, after) {
			changes = append(changes, change{path, p})
		}
	}
	idx := make([]int, len(changes))
	for i := range idx {
		idx[i] = i
	}
	var out []dirImage
	for _, subset := range pageSubsets(idx) {
		img := dirImage{files: map[string][]byte{}}
		for p, content := range a {
			img.files[p] = content
		}
		pages := map[string][]int{}
		for _, i := range subset {
			c := changes[i]
			switch {
			case c.page >= 0:
				pages[c.path] = append(pages[c.path], c.page)
			case b[c.path] == nil:
				delete(img.files, c.path)
			default:
				img.files[c.path] = b[c.path]
			}
		}
		for p, ps := range pages {
			img.files[p] = crashMix(a[p], b[p], ps)
		}
		out = append(out, img)
	}
	return out
}

// checkCrashes opens a copy of base with a hook at every durable point,
// runs op, and hands every state that a crash during op can leave to check
// (final: the state when op has returned). It returns how many states it
// checked.
func checkCrashes(t *testing.T, base string, opts Options, op func(l *Log) error, check func(dir, what string, final bool)) int {
	t.Helper()
	work := copyDir(t, base)
	// The first state is the log as Open left it, once its preparer has
	// made the next segment file: before that, whether a prepared file of
	// the previous run is there (and whether the new one reuses its inode)
	// depends on timing, which made the states found vary from run to run.
	var points []dirImage
	armed := false
	opts.durablePoint = func() {
		if armed {
			points = append(points, captureDir(t, work))
		}
	}
	l := openLog(t, work, opts)
	waitPrepared(t, work)
	points = append(points, captureDir(t, work))
	armed = true
	if err := op(l); err != nil {
		t.Fatal(err)
	}
	points = append(points, captureDir(t, work))
	closeLog(t, l)
	n := 0
	for i := 1; i < len(points); i++ {
		for j, img := range crashImages(points[i-1], points[i]) {
			check(writeDirImage(t, img), fmt.Sprintf("crash %d between durable points %d and %d", j, i-1, i), false)
			n++
		}
	}
	check(writeDirImage(t, points[len(points)-1]), "after the operation", true)
	return n
}

// waitPrepared waits until the log in dir has its next segment file ready
// (the preparer renames it into place as its last step).
func waitPrepared(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(segmentDirPath(dir), preparedFileName)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no prepared segment %s after 10 s", path)
		}
	}
}

// TestCrashDuringTruncateSuffix: a follower's conflicting suffix is cut
// (TruncateSuffix, or an Append that overwrites it: the same code) and the
// power fails part way: later segments unlinked, the zeros over the cut
// records on their way to the disk. The log must open with a prefix of the
// old log that keeps everything before the cut: a state it was in. Every
// entry is its own batch, so stale records after a zeroed page look like
// later batches: zeroing them in one write, any page first, made Open
// refuse the log.
func TestCrashDuringTruncateSuffix(t *testing.T) {
	old := paddedEntries(1, 100, 1, 180) // about 200 bytes each: 20 a page
	tests := []struct {
		name        string
		segment     int
		from        uint64
		openSegment int // SegmentBytes when truncating, if not segment
		// statesMin: the crash states the case must at least explore (a
		// check that the harness saw the writes; a segment of another
		// size is replaced by a file made whole on the spot: two states).
		statesMin int
	}{
		{"over several pages", 64 << 10, 30, 0, 4},
		{"in the last page", 64 << 10, 95, 0, 4},
		{"from the first record", 64 << 10, 1, 0, 4},
		{"removing later segments", 4096, 25, 0, 4},
		{"segment of another size than SegmentBytes", 64 << 10, 30, 16 << 10, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{NoSync: true, SegmentBytes: tt.segment, Logger: quietLogger()}
			base := t.TempDir()
			writeLog(t, base, opts, old)
			if tt.openSegment != 0 {
				opts.SegmentBytes = tt.openSegment
			}
			n := checkCrashes(t, base, opts, func(l *Log) error { return l.TruncateSuffix(tt.from) },
				func(dir, what string, final bool) {
					if final {
						openAfterCrash(t, dir, opts, old[:tt.from-1], tt.from-1, what)
						return
					}
					openAfterCrash(t, dir, opts, old, tt.from-1, what)
				})
			if n < tt.statesMin {
				t.Fatalf("%d crash states: want at least %d", n, tt.statesMin)
			}
		})
	}
}

// TestCrashDuringAppend: the pages of an unsynced Append reach the disk in
// any order. The entries synced before it survive, and what is found of
// the batch is a prefix of it. The batch is large (several pages), is
// split over a rotation in one case, and follows a synced overwrite of a
// longer suffix in another (no stale entry of the old term may come back).
func TestCrashDuringAppend(t *testing.T) {
	type build struct {
		synced []consensus.Entry // the log when the last Append began
		batch  []consensus.Entry // the last Append, unsynced at the crash
	}
	tests := []struct {
		name    string
		segment int
		setup   func(t *testing.T, l *Log) build
	}{
		{"batch of several pages", 64 << 10, func(t *testing.T, l *Log) build {
			synced := paddedEntries(1, 10, 1, 180)
			appendOneByOne(t, l, synced)
			return build{synced, paddedEntries(11, 60, 1, 180)}
		}},
		{"batch after a synced overwrite of a longer suffix", 64 << 10, func(t *testing.T, l *Log) build {
			appendOneByOne(t, l, paddedEntries(1, 100, 1, 180))
			mustAppend(t, l, paddedEntries(20, 22, 2, 180)) // cuts 20..100 of term 1
			synced := slices.Concat(paddedEntries(1, 19, 1, 180), paddedEntries(20, 22, 2, 180))
			return build{synced, paddedEntries(23, 40, 2, 180)}
		}},
		{"batch split over a rotation", 8192, func(t *testing.T, l *Log) build {
			synced := paddedEntries(1, 30, 1, 180)
			appendOneByOne(t, l, synced)
			return build{synced, paddedEntries(31, 80, 1, 180)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{NoSync: true, SegmentBytes: tt.segment, Logger: quietLogger()}
			base := t.TempDir()
			l := openLog(t, base, opts)
			b := tt.setup(t, l)
			closeLog(t, l)
			after := copyDir(t, base)
			l = openLog(t, after, opts)
			mustAppend(t, l, b.batch)
			closeLog(t, l)
			want := slices.Concat(b.synced, b.batch)
			firsts, err := listSegmentFiles(segmentDirPath(after))
			if err != nil {
				t.Fatal(err)
			}
			// The batch's part in the old tail was synced before the new
			// segment was made: only the newest segment holds unsynced
			// pages. Segments that did not exist before start as zeros.
			for _, first := range firsts {
				name := segmentFileName(first)
				afterBytes := readFile(t, filepath.Join(segmentDirPath(after), name))
				before, err := os.ReadFile(filepath.Join(segmentDirPath(base), name))
				if errors.Is(err, fs.ErrNotExist) {
					before = append(encodeSegmentHeader(first), make([]byte, len(afterBytes)-segmentHeaderBytes)...)
				} else if err != nil {
					t.Fatal(err)
				}
				if first != firsts[len(firsts)-1] {
					// Synced: copy it whole into the base.
					writeFile(t, filepath.Join(segmentDirPath(base), name), afterBytes)
					continue
				}
				for _, subset := range pageSubsets(differingPages(before, afterBytes)) {
					dir := copyDir(t, base)
					writeFile(t, filepath.Join(segmentDirPath(dir), name), crashMix(before, afterBytes, subset))
					minLast := uint64(len(b.synced))
					if first > minLast+1 {
						minLast = first - 1 // the part before the rotation was synced
					}
					openAfterCrash(t, dir, opts, want, minLast, fmt.Sprintf("%s: pages %v written", name, subset))
				}
			}
		})
	}
}

// TestCrashDuringAppendProtocol: an Append checked at every state a crash
// between two of its durable points can leave (the part in the old tail
// synced, the new segment's header synced and renamed, the rest synced):
// within a segment, split over rotations, with a record larger than a
// segment, into an empty tail. What was synced before the Append stays,
// and what is found of the batch is a prefix of it.
func TestCrashDuringAppendProtocol(t *testing.T) {
	const segBytes = 8192
	opts := Options{NoSync: true, SegmentBytes: segBytes, Logger: quietLogger()}
	huge := func(index uint64) consensus.Entry {
		return consensus.Entry{Term: 2, Index: index, Type: consensus.EntryNormal, Data: bytes.Repeat([]byte{byte(index)}, 3*segBytes)}
	}
	tests := []struct {
		name   string
		synced uint64 // entries 1..synced appended one by one first
		batch  func(next uint64) []consensus.Entry
		setup  func(t *testing.T, l *Log)
	}{
		{"within a segment", 10, func(next uint64) []consensus.Entry { return paddedEntries(next, next+15, 2, 180) }, nil},
		{"split over two rotations", 30, func(next uint64) []consensus.Entry { return paddedEntries(next, next+90, 2, 180) }, nil},
		{"a record larger than a segment in the middle", 30, func(next uint64) []consensus.Entry {
			return slices.Concat(paddedEntries(next, next+4, 2, 180), []consensus.Entry{huge(next + 5)}, paddedEntries(next+6, next+9, 2, 180))
		}, nil},
		{"a record larger than a segment into an empty tail", 38, func(next uint64) []consensus.Entry {
			return slices.Concat([]consensus.Entry{huge(next)}, paddedEntries(next+1, next+3, 2, 180))
		}, func(t *testing.T, l *Log) {
			first := l.segs[len(l.segs)-1].first
			if err := l.TruncateSuffix(first); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			l := openLog(t, base, opts)
			appendOneByOne(t, l, paddedEntries(1, tt.synced, 1, 180))
			if tt.setup != nil {
				tt.setup(t, l)
			}
			last := l.LastIndex()
			closeLog(t, l)
			synced := paddedEntries(1, last, 1, 180)
			batch := tt.batch(last + 1)
			want := slices.Concat(synced, batch)
			var durable []uint64 // the last index durable at each point
			n := checkCrashes(t, base, opts, func(l *Log) error { return l.Append(batch) }, func(dir, what string, final bool) {
				minLast := last
				if final {
					minLast = uint64(len(want))
				}
				durable = append(durable, openAfterCrash(t, dir, opts, want, minLast, what))
			})
			if n < 4 || slices.Max(durable) != uint64(len(want)) {
				t.Fatalf("%d crash states, longest log found %d: want several, and the whole batch at the end", n, slices.Max(durable))
			}
		})
	}
}

// TestCrashDuringRepair: Open zeroes a torn tail and syncs; a second power
// cut during that zeroing leaves any subset of its pages written. The next
// Open must repair again and find the same log.
func TestCrashDuringRepair(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 64 << 10, Logger: quietLogger()}
	base := t.TempDir()
	l := openLog(t, base, opts)
	synced := paddedEntries(1, 10, 1, 180)
	appendOneByOne(t, l, synced)
	closeLog(t, l)
	path, end := tailSegment(t, base)
	before := readFile(t, path)
	// The torn batch: entries 11..60, of which only every other page
	// reached the disk.
	grown := copyDir(t, base)
	l = openLog(t, grown, opts)
	batch := paddedEntries(11, 60, 1, 180)
	mustAppend(t, l, batch)
	closeLog(t, l)
	full := readFile(t, filepath.Join(segmentDirPath(grown), filepath.Base(path)))
	pages := differingPages(before, full)
	var odd []int
	for i, p := range pages {
		if i%2 == 1 {
			odd = append(odd, p)
		}
	}
	torn := crashMix(before, full, odd)
	if int64(len(torn)) < end {
		t.Fatal("short segment")
	}
	repaired := t.TempDir()
	if err := os.CopyFS(repaired, os.DirFS(base)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(segmentDirPath(repaired), filepath.Base(path)), torn)
	l = openLog(t, repaired, opts)
	wantLast := l.LastIndex()
	closeLog(t, l)
	fixed := readFile(t, filepath.Join(segmentDirPath(repaired), filepath.Base(path)))
	want := slices.Concat(synced, batch)
	for _, subset := range pageSubsets(differingPages(torn, fixed)) {
		dir := copyDir(t, base)
		writeFile(t, filepath.Join(segmentDirPath(dir), filepath.Base(path)), crashMix(torn, fixed, subset))
		if got := openAfterCrash(t, dir, opts, want, uint64(len(synced)), fmt.Sprintf("repair pages %v written", subset)); got != wantLast {
			t.Fatalf("repair pages %v written: last index %d, the first repair found %d", subset, got, wantLast)
		}
	}
}

// TestCrashDuringRotation: each state a rotation passes through (doc.go:
// header written into next.prep and synced, renamed, directory fsynced,
// then the records) and the oversized path (a ".big" file made to
// measure). In each the log opens with what was synced and goes on.
func TestCrashDuringRotation(t *testing.T) {
	const segBytes = 4096
	opts := Options{NoSync: true, SegmentBytes: segBytes, Logger: quietLogger()}
	synced := paddedEntries(1, 15, 1, 180) // one segment and part of a second
	tests := []struct {
		name  string
		crash func(t *testing.T, segDir string, nextFirst uint64)
	}{
		{"header in next.prep, rename lost", func(t *testing.T, segDir string, nextFirst uint64) {
			writeFile(t, filepath.Join(segDir, preparedFileName), append(encodeSegmentHeader(nextFirst), make([]byte, segBytes-segmentHeaderBytes)...))
		}},
		{"renamed, no record yet (header-only tail)", func(t *testing.T, segDir string, nextFirst uint64) {
			writeFile(t, filepath.Join(segDir, segmentFileName(nextFirst)), append(encodeSegmentHeader(nextFirst), make([]byte, segBytes-segmentHeaderBytes)...))
		}},
		{"half-made next.prep", func(t *testing.T, segDir string, _ uint64) {
			writeFile(t, filepath.Join(segDir, preparedFileName+tempSuffix), make([]byte, 1000))
		}},
		{"next.prep of another size", func(t *testing.T, segDir string, _ uint64) {
			writeFile(t, filepath.Join(segDir, preparedFileName), make([]byte, 2*segBytes))
		}},
		{"oversized segment being zero-filled", func(t *testing.T, segDir string, nextFirst uint64) {
			writeFile(t, filepath.Join(segDir, segmentFileName(nextFirst)+oversizedSuffix+tempSuffix), make([]byte, 100))
		}},
		{"oversized segment with its header, not renamed", func(t *testing.T, segDir string, nextFirst uint64) {
			writeFile(t, filepath.Join(segDir, segmentFileName(nextFirst)+oversizedSuffix), append(encodeSegmentHeader(nextFirst), make([]byte, 3*segBytes)...))
		}},
		{"oversized segment renamed, record lost", func(t *testing.T, segDir string, nextFirst uint64) {
			writeFile(t, filepath.Join(segDir, segmentFileName(nextFirst)), append(encodeSegmentHeader(nextFirst), make([]byte, 3*segBytes)...))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, opts, synced)
			tt.crash(t, segmentDirPath(dir), uint64(len(synced))+1)
			want := slices.Concat(synced, paddedEntries(16, 40, 1, 180))
			openAfterCrash(t, dir, opts, want, uint64(len(synced)), tt.name)
			// The log goes on through several rotations after it.
			l := openLog(t, dir, opts)
			last := l.LastIndex()
			more := paddedEntries(last+1, last+40, 9, 180)
			appendOneByOne(t, l, more)
			checkSegmentMirror(t, l)
			closeLog(t, l)
			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			got, err := l.Entries(last+1, last+41, 0)
			if err != nil || len(got) != 40 || !entryEqual(got[39], more[39]) {
				t.Fatalf("after more rotations: %d entries, %v", len(got), err)
			}
			checkSegmentMirror(t, l)
		})
	}
}

// TestOversizedRecordIntoEmptyTail: a record larger than a segment appended
// when the tail segment holds no record (after a crash right after a
// rotation, or a TruncateSuffix at a segment's first index) gets a segment
// of the same first index as that tail. It must replace the empty tail, not
// sit beside it in the Log's view: two views of one name make a later
// removal delete the live file (entries lost at the next start) or fail.
func TestOversizedRecordIntoEmptyTail(t *testing.T) {
	const segBytes = 4096
	opts := Options{NoSync: true, SegmentBytes: segBytes, Logger: quietLogger()}
	big := consensus.Entry{Term: 2, Type: consensus.EntryNormal, Data: bytes.Repeat([]byte("B"), 3*segBytes)}
	tests := []struct {
		name  string
		empty func(t *testing.T, dir string, l *Log) (*Log, uint64) // leaves an empty tail; returns its first index
	}{
		{"TruncateSuffix at a segment's first index", func(t *testing.T, _ string, l *Log) (*Log, uint64) {
			first := l.segs[len(l.segs)-1].first
			if err := l.TruncateSuffix(first); err != nil {
				t.Fatal(err)
			}
			return l, first
		}},
		{"crash right after a rotation", func(t *testing.T, dir string, l *Log) (*Log, uint64) {
			closeLog(t, l)
			next := l.last + 1
			writeFile(t, filepath.Join(segmentDirPath(dir), segmentFileName(next)), append(encodeSegmentHeader(next), make([]byte, segBytes-segmentHeaderBytes)...))
			return openLog(t, dir, opts), next
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, opts)
			appendOneByOne(t, l, paddedEntries(1, 40, 1, 180))
			l, first := tt.empty(t, dir, l)
			if n := l.segs[len(l.segs)-1].count(); n != 0 {
				t.Fatalf("tail holds %d records, want an empty tail", n)
			}
			want := slices.Concat(paddedEntries(1, first-1, 1, 180))
			e := big
			e.Index = first
			want = append(want, e)
			mustAppend(t, l, want[first-1:])
			after := mkEntries(first+1, first+3, 2)
			mustAppend(t, l, after)
			want = append(want, after...)
			checkSegmentMirror(t, l)
			// Compact up to the big entry (removes the segments before
			// it), then cut the suffix after it: neither may touch it.
			if err := l.TruncatePrefix(first-1, 1); err != nil {
				t.Fatal(err)
			}
			if err := l.TruncateSuffix(first + 2); err != nil {
				t.Fatal(err)
			}
			checkSegmentMirror(t, l)
			closeLog(t, l)
			l = openLog(t, dir, opts)
			defer closeLog(t, l)
			checkLog(t, l, first, want[first-1:first+1])
		})
	}
}

// TestCrashDuringTruncatePrefix: logmeta is replaced first, then the
// covered segments are unlinked oldest first with no directory fsync, so
// any subset of those unlinks may survive a crash (not only a prefix: a
// gap among covered segments made Open refuse the log as "missing
// segment").
func TestCrashDuringTruncatePrefix(t *testing.T) {
	const segBytes = 4096
	opts := Options{NoSync: true, SegmentBytes: segBytes, Logger: quietLogger()}
	all := paddedEntries(1, 100, 1, 180) // about 6 segments
	const upTo = 70
	base := t.TempDir()
	writeLog(t, base, opts, all)
	firsts, err := listSegmentFiles(segmentDirPath(base))
	if err != nil {
		t.Fatal(err)
	}
	var gone []uint64 // what the compaction unlinks: all but the one holding upTo+1
	for i, f := range firsts {
		if i+1 < len(firsts) && firsts[i+1] <= upTo+1 {
			gone = append(gone, f)
		}
	}
	if len(gone) < 3 {
		t.Fatalf("segments %v: want several to go", firsts)
	}
	for mask := 0; mask < 1<<len(gone); mask++ {
		dir := copyDir(t, base)
		writeFile(t, filepath.Join(dir, logMetaFileName), encodeLogMeta(logMeta{upTo, 1}))
		var removed []uint64
		for i, f := range gone {
			if mask&(1<<i) != 0 {
				removed = append(removed, f)
				if err := os.Remove(filepath.Join(segmentDirPath(dir), segmentFileName(f))); err != nil {
					t.Fatal(err)
				}
			}
		}
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("unlinks of %v survived: Open: %v", removed, err)
		}
		checkLog(t, l, upTo+1, all[upTo:])
		if term, err := l.Term(upTo); err != nil || term != 1 {
			t.Fatalf("Term(%d) = %d, %v; want 1", upTo, term, err)
		}
		mustAppend(t, l, mkEntries(101, 101, 4))
		checkSegmentMirror(t, l)
		closeLog(t, l)
	}
}

// TestCrashDuringDiscard: a snapshot past our log, or one whose term at its
// index disagrees with ours, discards the whole log (logmeta first, then
// every segment, newest first). A crash at any point leaves either the old
// log (logmeta not yet replaced) or a prefix of it that Open discards
// against logmeta; never a gap that Open must refuse.
func TestCrashDuringDiscard(t *testing.T) {
	const segBytes = 4096
	opts := Options{NoSync: true, SegmentBytes: segBytes, Logger: quietLogger()}
	all := paddedEntries(1, 100, 1, 180) // about 6 segments
	tests := []struct {
		name       string
		upTo, term uint64
	}{
		{"snapshot past the log", 150, 3},
		{"snapshot disagrees with the log", 70, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			writeLog(t, base, opts, all)
			checkCrashes(t, base, opts, func(l *Log) error { return l.TruncatePrefix(tt.upTo, tt.term) }, func(dir, what string, final bool) {
				l, err := Open(dir, opts)
				if err != nil {
					t.Fatalf("%s: Open: %v", what, err)
				}
				defer closeLog(t, l)
				first, last := l.FirstIndex(), l.LastIndex()
				if final && first != tt.upTo+1 {
					t.Fatalf("%s: first index %d, want %d", what, first, tt.upTo+1)
				}
				switch {
				case first == tt.upTo+1 && last == tt.upTo:
					if term, err := l.Term(tt.upTo); err != nil || term != tt.term {
						t.Fatalf("%s: Term(%d) = %d, %v; want %d", what, tt.upTo, term, err, tt.term)
					}
				case first == 1 && last >= 1 && last <= 100:
					// logmeta not replaced yet: the old log or a prefix.
					checkLog(t, l, 1, all[:last])
				default:
					t.Fatalf("%s: log [%d, %d]: want the discarded log or a prefix of the old one", what, first, last)
				}
				mustAppend(t, l, mkEntries(last+1, last+1, 4))
				checkSegmentMirror(t, l)
			})
		})
	}
}

// TestCrashDuringTruncateSuffixRemovals: a TruncateSuffix that removes
// several segments unlinks them newest first, then fsyncs the directory. A
// crash before that fsync leaves the unlinks that reached the disk; in
// journal order that is a prefix of them (newest first).
func TestCrashDuringTruncateSuffixRemovals(t *testing.T) {
	const segBytes = 4096
	opts := Options{NoSync: true, SegmentBytes: segBytes, Logger: quietLogger()}
	all := paddedEntries(1, 100, 1, 180)
	base := t.TempDir()
	writeLog(t, base, opts, all)
	firsts, err := listSegmentFiles(segmentDirPath(base))
	if err != nil || len(firsts) < 5 {
		t.Fatalf("segments %v, %v", firsts, err)
	}
	from := firsts[1] + 3 // in the second segment: the later ones go
	newestFirst := slices.Clone(firsts[2:])
	slices.Reverse(newestFirst)
	for n := 0; n <= len(newestFirst); n++ {
		dir := copyDir(t, base)
		for _, f := range newestFirst[:n] {
			if err := os.Remove(filepath.Join(segmentDirPath(dir), segmentFileName(f))); err != nil {
				t.Fatal(err)
			}
		}
		// The later segments' entries were not synced away: any prefix
		// of the old log that keeps the entries before from is right.
		openAfterCrash(t, dir, opts, all, from-1, fmt.Sprintf("%d newest segments unlinked", n))
	}
}

// TestSegmentBytesChangedBetweenRuns: the log written with one segment size
// is opened, appended to, truncated and reopened with another, smaller and
// larger, and a tail shorter than a segment (cut by hand, or by an old
// version) still takes appends.
func TestSegmentBytesChangedBetweenRuns(t *testing.T) {
	tests := []struct {
		name          string
		before, after int
		shortTail     bool
	}{
		{"smaller", 16384, 4096, false},
		{"larger", 4096, 16384, false},
		{"smaller than a record", 4096, 100, false},
		{"short tail", 16384, 16384, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := Options{NoSync: true, SegmentBytes: tt.before, Logger: quietLogger()}
			second := Options{NoSync: true, SegmentBytes: tt.after, Logger: quietLogger()}
			l := openLog(t, dir, first)
			want := paddedEntries(1, 50, 1, 180)
			appendOneByOne(t, l, want)
			closeLog(t, l)
			if tt.shortTail {
				path, end := tailSegment(t, dir)
				if err := os.Truncate(path, end+5); err != nil {
					t.Fatal(err)
				}
			}
			l = openLog(t, dir, second)
			checkLog(t, l, 1, want)
			// A cut in a segment of the old size, then appends after it.
			if err := l.TruncateSuffix(48); err != nil {
				t.Fatal(err)
			}
			want = want[:47]
			checkSegmentMirror(t, l)
			more := paddedEntries(48, 120, 2, 180)
			appendOneByOne(t, l, more)
			want = append(want, more...)
			if err := l.TruncateSuffix(110); err != nil {
				t.Fatal(err)
			}
			want = want[:109]
			checkSegmentMirror(t, l)
			closeLog(t, l)
			for _, opts := range []Options{second, first} {
				l = openLog(t, dir, opts)
				checkLog(t, l, 1, want)
				checkSegmentMirror(t, l)
				closeLog(t, l)
			}
		})
	}
}

// TestCrashDuringMigration: the tidwall/wal layout is migrated into
// segments.migrate, renamed to segments, then the old directory removed. A
// crash at each step leaves a state from which Open finishes the job.
func TestCrashDuringMigration(t *testing.T) {
	opts := Options{NoSync: true, SegmentBytes: 512, Logger: quietLogger()}
	all := mkEntries(1, 30, 1)
	// A finished migration, to copy states from.
	done := t.TempDir()
	writeLegacyLog(t, done, all, 10)
	closeLog(t, openLog(t, done, opts))
	tests := []struct {
		name  string
		state func(t *testing.T, dir string)
	}{
		{"segments.migrate complete, not renamed", func(t *testing.T, dir string) {
			writeLegacyLog(t, dir, all, 10)
			if err := os.CopyFS(segmentDirPath(dir)+".migrate", os.DirFS(segmentDirPath(done))); err != nil {
				t.Fatal(err)
			}
		}},
		{"segments.migrate with one segment half written", func(t *testing.T, dir string) {
			writeLegacyLog(t, dir, all, 10)
			tmp := segmentDirPath(dir) + ".migrate"
			if err := os.CopyFS(tmp, os.DirFS(segmentDirPath(done))); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(tmp, segmentFileName(21))
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(tmp, segmentFileName(31)+tempSuffix), []byte("x"))
		}},
		{"renamed, old log half removed", func(t *testing.T, dir string) {
			names := writeLegacyLog(t, dir, all, 10)
			if err := os.CopyFS(segmentDirPath(dir), os.DirFS(segmentDirPath(done))); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, legacyLogDirName, names[0])); err != nil {
				t.Fatal(err)
			}
		}},
		{"renamed, old log empty", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, legacyLogDirName), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(segmentDirPath(dir), os.DirFS(segmentDirPath(done))); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.state(t, dir)
			openAfterCrash(t, dir, opts, all, 30, tt.name)
			for _, gone := range []string{legacyLogDirName, segmentDirName + ".migrate"} {
				if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s left: %v", gone, err)
				}
			}
		})
	}
}

// FuzzOpen opens a log whose tail segment holds arbitrary bytes after a
// valid segment before it: Open must not panic, and when it succeeds the
// log must be consistent (its view matches the disk, every entry reads
// back, an append survives a reopen). When it fails, it is ErrCorrupt.
func FuzzOpen(f *testing.F) {
	seg := encodeSegmentHeader(4)
	for i, e := range mkEntries(4, 8, 2) {
		rec := appendRecord(nil, &e, uint64(i%2))
		seg = binary.AppendUvarint(seg, uint64(len(rec)))
		seg = append(seg, rec...)
	}
	f.Add(append(slices.Clone(seg), make([]byte, 64)...))
	f.Add(seg[:len(seg)-3])
	f.Add(append(slices.Clone(seg[:60]), 0, 0, 7, 0))
	f.Add(append(slices.Clone(seg[:16]), seg[40:]...))
	f.Add([]byte("RKVS"))
	f.Fuzz(func(t *testing.T, tail []byte) {
		opts := Options{NoSync: true, SegmentBytes: 1024, Logger: quietLogger()}
		dir := t.TempDir()
		segDir := segmentDirPath(dir)
		if err := os.MkdirAll(segDir, 0o750); err != nil {
			t.Fatal(err)
		}
		head := encodeSegmentHeader(1)
		for i, e := range mkEntries(1, 3, 1) {
			rec := appendRecord(nil, &e, uint64(i))
			head = binary.AppendUvarint(head, uint64(len(rec)))
			head = append(head, rec...)
		}
		writeFile(t, filepath.Join(segDir, segmentFileName(1)), append(head, make([]byte, 200)...))
		writeFile(t, filepath.Join(segDir, segmentFileName(4)), tail)
		l, err := Open(dir, opts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), segDir) {
				t.Fatalf("Open: %v does not name the file", err)
			}
			return
		}
		last := l.LastIndex()
		if last < 3 {
			t.Fatalf("last index %d: the synced first segment lost entries", last)
		}
		es, err := l.Entries(1, last+1, 0)
		if err != nil || uint64(len(es)) != last {
			t.Fatalf("Entries: %d, %v", len(es), err)
		}
		checkSegmentMirror(t, l)
		next := mkEntries(last+1, last+2, 5)
		mustAppend(t, l, next)
		closeLog(t, l)
		l = openLog(t, dir, opts)
		defer closeLog(t, l)
		checkLog(t, l, 1, append(es, next...))
	})
}
