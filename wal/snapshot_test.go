package wal

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

func snapMeta(index, term uint64) consensus.SnapshotMeta {
	return consensus.SnapshotMeta{Index: index, Term: term, ConfState: consensus.ConfState{
		Voters: []consensus.NodeID{1, 2, 3}, Learners: []consensus.NodeID{4},
	}}
}

func snapBody(index uint64, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(uint64(i)*31 + index)
	}
	return b
}

func saveSnap(t *testing.T, s *SnapshotStore, meta consensus.SnapshotMeta, body []byte) {
	t.Helper()
	err := s.Save(meta, func(w io.Writer) error {
		// Write in uneven pieces, as a state machine would.
		for len(body) > 0 {
			n := min(len(body), 1000)
			if _, err := w.Write(body[:n]); err != nil {
				return err
			}
			body = body[n:]
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Save(%d): %v", meta.Index, err)
	}
}

func readSnap(t *testing.T, s *SnapshotStore, index uint64) []byte {
	t.Helper()
	r, err := s.Open(index)
	if err != nil {
		t.Fatalf("Open(%d): %v", index, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read snapshot %d: %v", index, err)
	}
	return b
}

func TestSnapshotSaveOpenChunks(t *testing.T) {
	tests := []struct {
		name      string
		bodyBytes int
		chunk     int
	}{
		{"empty", 0, 10},
		{"small", 10, 3},
		{"exact chunks", 4000, 1000},
		{"large", 600 << 10, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenSnapshotsWithOptions(dir, SnapshotOptions{NoSync: true, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := s.Latest(); ok {
				t.Fatal("Latest on empty store reported a snapshot")
			}
			meta, body := snapMeta(42, 3), snapBody(42, tt.bodyBytes)
			saveSnap(t, s, meta, body)
			for _, s := range []*SnapshotStore{s, reopenSnaps(t, dir)} {
				got, ok := s.Latest()
				if !ok || !reflect.DeepEqual(got, meta) {
					t.Fatalf("Latest = %+v, %v; want %+v", got, ok, meta)
				}
				if b := readSnap(t, s, 42); !bytes.Equal(b, body) {
					t.Fatalf("body differs: %d bytes, want %d", len(b), len(body))
				}
				var joined []byte
				for off := uint64(0); ; {
					chunk, done, err := s.ReadChunk(42, off, tt.chunk)
					if err != nil {
						t.Fatalf("ReadChunk(%d): %v", off, err)
					}
					joined = append(joined, chunk...)
					off += uint64(len(chunk))
					if done {
						break
					}
					if len(chunk) == 0 {
						t.Fatal("ReadChunk returned nothing before the end")
					}
				}
				if !bytes.Equal(joined, body) {
					t.Fatalf("chunks differ from the body")
				}
			}
			if _, err := s.Open(41); !errors.Is(err, ErrSnapshotNotFound) {
				t.Fatalf("Open(41): %v", err)
			}
		})
	}
}

func reopenSnaps(t *testing.T, dir string) *SnapshotStore {
	t.Helper()
	s, err := OpenSnapshotsWithOptions(dir, SnapshotOptions{NoSync: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSnapshotKeepsNewestTwo(t *testing.T) {
	dir := t.TempDir()
	s := reopenSnaps(t, dir)
	for _, idx := range []uint64{10, 20, 30, 25} {
		saveSnap(t, s, snapMeta(idx, 1), snapBody(idx, 100))
	}
	names, err := filepath.Glob(filepath.Join(dir, "snap-*"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{snapshotName(25, 1), snapshotName(30, 1)}
	var got []string
	for _, n := range names {
		got = append(got, filepath.Base(n))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if m, _ := s.Latest(); m.Index != 30 {
		t.Fatalf("Latest index %d, want 30", m.Index)
	}
}

// lockedBuffer collects log output from a slog handler.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDamagedSnapshotFallsBack(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"body byte", func(b []byte) []byte { b[len(b)-10] ^= 1; return b }},
		{"header byte", func(b []byte) []byte { b[12] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }},
		{"trailer", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
		{"empty file", func(b []byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := reopenSnaps(t, dir)
			saveSnap(t, s, snapMeta(10, 1), snapBody(10, 500))
			saveSnap(t, s, snapMeta(20, 2), snapBody(20, 500))
			path := filepath.Join(dir, snapshotName(20, 2))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			s, err = OpenSnapshotsWithOptions(dir, SnapshotOptions{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := s.Latest(); !ok || m.Index != 10 {
				t.Fatalf("Latest = %+v, %v; want the previous snapshot (10)", m, ok)
			}
			if !strings.Contains(logs.String(), snapshotName(20, 2)) {
				t.Fatalf("damage report does not name the file: %q", logs.String())
			}
			if _, err := os.Stat(path + damagedSuffix); err != nil {
				t.Fatalf("damaged file not set aside: %v", err)
			}
			// Reopening reports nothing new and still serves 10.
			var again lockedBuffer
			s, err = OpenSnapshotsWithOptions(dir, SnapshotOptions{NoSync: true, Logger: slog.New(slog.NewTextHandler(&again, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := s.Latest(); !ok || m.Index != 10 || again.String() != "" {
				t.Fatalf("after reopen: Latest %+v %v, log %q", m, ok, again.String())
			}
		})
	}
}

func TestSnapshotReaderChecksCRCAtEOF(t *testing.T) {
	dir := t.TempDir()
	s := reopenSnaps(t, dir)
	saveSnap(t, s, snapMeta(7, 1), snapBody(7, 5000))
	// Damage after the store verified it: the reader must notice.
	path := filepath.Join(dir, snapshotName(7, 1))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xEE}, 2000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := s.Open(7)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), snapshotName(7, 1)) {
		t.Fatalf("ReadAll of damaged body: %v; want ErrCorrupt naming the file", err)
	}
}

func TestSnapshotAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := reopenSnaps(t, dir)
	err := s.Save(snapMeta(5, 1), func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("state machine failed")
	})
	if err == nil {
		t.Fatal("Save succeeded although write failed")
	}
	if _, ok := s.Latest(); ok {
		t.Fatal("aborted snapshot is visible")
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("files left behind: %v", names)
	}
}

func TestSnapshotHeaderRoundTrip(t *testing.T) {
	tests := []consensus.SnapshotMeta{
		{},
		snapMeta(1, 1),
		{Index: 1 << 60, Term: 1 << 40, TimeMs: 1700000000123, ConfState: consensus.ConfState{Voters: []consensus.NodeID{9}}},
		{Index: 5, Term: 1, TimeMs: -1},
	}
	for _, meta := range tests {
		b, err := appendSnapshotHeader(nil, meta, 12345)
		if err != nil {
			t.Fatal(err)
		}
		got, body, n, err := decodeSnapshotHeader(append(b, 1, 2, 3))
		if err != nil || body != 12345 || n != len(b) || !reflect.DeepEqual(got, meta) {
			t.Fatalf("round trip of %+v: %+v, %d, %d, %v", meta, got, body, n, err)
		}
		for cut := 0; cut < len(b); cut++ {
			if _, _, _, err := decodeSnapshotHeader(b[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("header cut at %d: %v, want ErrCorrupt", cut, err)
			}
		}
	}
	tooMany := consensus.SnapshotMeta{ConfState: consensus.ConfState{Voters: make([]consensus.NodeID, snapshotMembersMax+1)}}
	if _, err := appendSnapshotHeader(nil, tooMany, 0); err == nil {
		t.Fatal("header with too many voters accepted")
	}
}

func FuzzSnapshotHeader(f *testing.F) {
	for _, meta := range []consensus.SnapshotMeta{{}, snapMeta(10, 2)} {
		b, err := appendSnapshotHeader(nil, meta, 77)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("RKVSNAP\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, body, n, err := decodeSnapshotHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("header length %d beyond input %d", n, len(b))
		}
		re, err := appendSnapshotHeader(nil, meta, body)
		if err != nil || !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

// TestSnapshotChunkedReceive writes a snapshot chunk by chunk, as a
// follower receiving InstallSnapshot does, from another store's chunks.
func TestSnapshotChunkedReceive(t *testing.T) {
	src := reopenSnaps(t, t.TempDir())
	meta, body := snapMeta(99, 4), snapBody(99, 10_000)
	saveSnap(t, src, meta, body)
	dst := reopenSnaps(t, t.TempDir())
	w, err := dst.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	for off := uint64(0); ; {
		chunk, done, err := src.ReadChunk(99, off, 3000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		off += uint64(len(chunk))
		if done {
			break
		}
	}
	if _, ok := dst.Latest(); ok {
		t.Fatal("snapshot visible before Commit")
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readSnap(t, dst, 99); !bytes.Equal(got, body) {
		t.Fatal("received body differs")
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Fatal("Write after Commit succeeded")
	}
}

// TestSnapshotTwoWritersSameIndex: two receivers of one snapshot (a
// retried InstallSnapshot) must not write into one temporary.
func TestSnapshotTwoWritersSameIndex(t *testing.T) {
	dir := t.TempDir()
	s := reopenSnaps(t, dir)
	meta := snapMeta(8, 2)
	a, err := s.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	bodyA, bodyB := snapBody(1, 3000), snapBody(2, 2000)
	if _, err := a.Write(bodyA[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(bodyB); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(bodyA[1000:]); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readSnap(t, reopenSnaps(t, dir), 8); !bytes.Equal(got, bodyA) {
		t.Fatalf("body after both commits: %d bytes, want the last committed (%d)", len(got), len(bodyA))
	}
}

// tempFiles returns the temporaries in a snapshot directory.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	tmps, err := filepath.Glob(filepath.Join(dir, "*"+tempSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return tmps
}

// TestSnapshotSpool: the consensus.SnapshotSpool side of the store. Chunks
// go to one temporary file (nothing in memory, nothing visible) until
// CommitSnapshot, which makes the snapshot the store's latest and returns
// its body; a chunk at offset 0 starts over and removes the partial file; a
// chunk that does not continue the spool, or a commit of another snapshot,
// is an error; a partial spool is gone after a restart.
func TestSnapshotSpool(t *testing.T) {
	chunk := func(meta consensus.SnapshotMeta, body []byte, from, to int) consensus.SnapshotChunk {
		return consensus.SnapshotChunk{Meta: meta, Offset: uint64(from), Data: body[from:to], Done: to == len(body)}
	}
	meta, body := snapMeta(50, 3), snapBody(50, 9_000)
	other := snapMeta(60, 3)
	dir := t.TempDir()
	s := reopenSnaps(t, dir)

	steps := []struct {
		name    string
		chunk   consensus.SnapshotChunk
		wantErr bool
	}{
		{"first chunk of another snapshot", chunk(other, body, 0, 1000), false},
		{"restart with ours at 0", chunk(meta, body, 0, 4000), false},
		{"gap", chunk(meta, body, 5000, 6000), true},
		{"after a failure the spool is gone", chunk(meta, body, 4000, 6000), true},
		{"start again", chunk(meta, body, 0, 4000), false},
		{"next", chunk(meta, body, 4000, 8000), false},
		{"last", chunk(meta, body, 8000, 9000), false},
	}
	for _, st := range steps {
		err := s.WriteSnapshotChunk(st.chunk)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err %v, want error %v", st.name, err, st.wantErr)
		}
		if n := len(tempFiles(t, dir)); n > 1 {
			t.Fatalf("%s: %d temporaries, want at most one", st.name, n)
		}
	}
	if _, ok := s.Latest(); ok {
		t.Fatal("a spooled snapshot is visible before CommitSnapshot")
	}
	if _, err := s.CommitSnapshot(other); err == nil {
		t.Fatal("commit of a snapshot the spool does not hold succeeded")
	}
	// That failed commit dropped the spool: send it again and commit.
	for _, c := range []consensus.SnapshotChunk{chunk(meta, body, 0, 5000), chunk(meta, body, 5000, 9000)} {
		if err := s.WriteSnapshotChunk(c); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := s.CommitSnapshot(meta)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("committed body: %d bytes, %v; want the %d sent", len(got), err, len(body))
	}
	if latest, ok := s.Latest(); !ok || latest.Index != meta.Index {
		t.Fatalf("latest %+v %v, want %d", latest, ok, meta.Index)
	}
	if tmps := tempFiles(t, dir); len(tmps) != 0 {
		t.Fatalf("temporaries left after commit: %v", tmps)
	}

	// A partial spool does not survive a restart.
	if err := s.WriteSnapshotChunk(chunk(other, body, 0, 1000)); err != nil {
		t.Fatal(err)
	}
	s = reopenSnaps(t, dir)
	if tmps := tempFiles(t, dir); len(tmps) != 0 {
		t.Fatalf("temporaries after reopening: %v", tmps)
	}
	if err := s.WriteSnapshotChunk(chunk(other, body, 1000, 2000)); err == nil {
		t.Fatal("a chunk continued a spool from before the restart")
	}
	if got := readSnap(t, s, meta.Index); !bytes.Equal(got, body) {
		t.Fatal("the committed snapshot changed across the restart")
	}
}
