package wal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// requireSyncsTail checks that the descriptor Append fdatasyncs is the tail
// segment file (same inode as the newest segment on disk) and that no sync
// had to fall back to tidwall's.
func requireSyncsTail(t *testing.T, l *Log, step string) {
	t.Helper()
	if l.syncer.fallbacks != 0 {
		t.Fatalf("%s: %d syncs fell back to tidwall: the tail mirror disagrees with tidwall", step, l.syncer.fallbacks)
	}
	segs, err := listSegments(l.logDir)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := os.Stat(filepath.Join(l.logDir, segmentName(segs[len(segs)-1])))
	if err != nil {
		t.Fatal(err)
	}
	if l.syncer.file == nil {
		t.Fatalf("%s: no sync descriptor after an Append", step)
	}
	got, err := l.syncer.file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(got, tail) {
		t.Fatalf("%s: fdatasync goes to %s, the tail is %s", step, l.syncer.file.Name(), tail.Name())
	}
	if got.Size() != int64(l.tailSize) {
		t.Fatalf("%s: tail holds %d bytes, mirrored %d", step, got.Size(), l.tailSize)
	}
}

// TestTailSyncFollowsTail drives the log through segment cycles (inside a
// batch and between batches), suffix and prefix truncations, a reset and a
// reopen, and checks after every Append that fdatasync went to the tail.
func TestTailSyncFollowsTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 300, Logger: quietLogger()}
	l := openLog(t, dir, opts)
	var want []consensus.Entry
	next := uint64(1)
	appendN := func(n uint64, term uint64, step string) {
		t.Helper()
		es := mkEntries(next, next+n-1, term)
		mustAppend(t, l, es)
		want = append(want, es...)
		next += n
		requireSyncsTail(t, l, step)
	}
	for i, n := range []uint64{1, 3, 20, 1, 1, 40, 2} { // 20 and 40 entries cross segments within the batch
		appendN(n, 1, "append "+string(rune('a'+i)))
	}
	if len(l.segments) < 4 {
		t.Fatalf("only %d segments: the test does not cycle", len(l.segments))
	}
	// A new leader's conflicting suffix, cutting into an older segment.
	from := next - 45
	es := mkEntries(from, from+4, 2)
	mustAppend(t, l, es)
	want = append(want[:from-1], es...)
	next = from + 5
	requireSyncsTail(t, l, "conflicting suffix")
	appendN(30, 2, "after the suffix")
	// A conflicting suffix within the tail segment: tidwall rewrites the
	// tail under the same name, so only the inode tells the files apart.
	from = next - 2
	es = mkEntries(from, from, 3)
	mustAppend(t, l, es)
	want = append(want[:from-1], es...)
	next = from + 1
	requireSyncsTail(t, l, "conflicting suffix in the tail")
	// Compaction that keeps the suffix, then a reset (term mismatch).
	if err := l.TruncatePrefix(10, 1); err != nil {
		t.Fatal(err)
	}
	appendN(5, 3, "after compaction")
	checkLog(t, l, 11, want[10:])
	if err := l.TruncatePrefix(next+10, 3); err != nil {
		t.Fatal(err)
	}
	want, next = nil, next+11
	appendN(25, 3, "after reset")
	closeLog(t, l)
	l = openLog(t, dir, opts)
	appendN(25, 3, "after reopen")
	checkLog(t, l, want[0].Index, want)
	closeLog(t, l)
}

// TestTailSyncFallsBack: when the mirrored tail size is wrong, Append does
// not fdatasync a file it cannot vouch for; it syncs through tidwall, and
// the log stays correct.
func TestTailSyncFallsBack(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 20, Logger: quietLogger()}
	l := openLog(t, dir, opts)
	mustAppend(t, l, mkEntries(1, 3, 1))
	l.writeMu.Lock()
	l.tailSize += 7 // the mirror is now wrong
	l.writeMu.Unlock()
	mustAppend(t, l, mkEntries(4, 6, 1))
	if l.syncer.fallbacks != 1 {
		t.Fatalf("fallbacks = %d, want 1", l.syncer.fallbacks)
	}
	checkLog(t, l, 1, mkEntries(1, 6, 1))
	closeLog(t, l)
}
