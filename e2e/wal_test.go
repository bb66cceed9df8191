package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// lastSegment returns the path of the newest log segment of n.
func lastSegment(t *testing.T, n *node) string {
	t.Helper()
	segs, err := testproc.WALSegments(n.Dir)
	if err != nil {
		t.Fatalf("node %d: %v", n.ID, err)
	}
	return segs[len(segs)-1]
}

// TestTornWALTail: a node whose last log write was torn (the file cut in the
// middle of an entry) repairs its log on start and rejoins; a node whose log
// is damaged in the middle refuses to start and names the file.
func TestTornWALTail(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	l := c.RequireLeader(10 * time.Second)
	var w writer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	w.run(ctx, c, "torn")
	cancel()

	torn := c.Followers(l)[0]
	torn.Kill()
	seg := lastSegment(t, torn)
	// Tear the last entry: its last few bytes never reached the disk.
	if _, err := testproc.TearWALTail(seg, 3); err != nil {
		t.Fatal(err)
	}
	c.start(torn)
	if !waitLog(t, torn, "torn", 10*time.Second) {
		c.DumpLog(torn)
		t.Errorf("node %d did not log a torn-tail repair", torn.ID)
	}
	c.RequireLeader(10 * time.Second)
	// Rejoined: it serves every acknowledged write (linearizable reads wait
	// until it has caught up).
	w.checkAcked(t, c, torn)

	// Damage in the middle of the log: flip a byte early in the first
	// segment. The node must refuse to start, naming the file.
	broken := c.Followers(l)[1]
	if broken == torn {
		broken = c.Followers(l)[0]
	}
	broken.Kill()
	segs, err := testproc.WALSegments(broken.Dir)
	if err != nil {
		t.Fatal(err)
	}
	first := segs[0]
	b, err := os.ReadFile(first)
	if err != nil || len(b) < 200 {
		t.Fatalf("segment %s: %d bytes, %v", first, len(b), err)
	}
	b[20] ^= 0xFF
	if err := os.WriteFile(first, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c.start(broken)
	select {
	case <-broken.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("node %d started on a log damaged in the middle", broken.ID)
	}
	if broken.ExitCode() == 0 {
		t.Errorf("node %d exited 0 on a damaged log", broken.ID)
	}
	logText, _ := os.ReadFile(broken.LogPath)
	if !strings.Contains(string(logText), filepath.Base(first)) {
		t.Errorf("the refusal does not name the damaged file %s:\n%s", first, logText)
	}
}
