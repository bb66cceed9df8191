package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestLaggingFollowerGetsSnapshot: a follower that was down while the
// leader compacted its log catches up through InstallSnapshot, keeps the
// snapshot durably, and after another kill -9 starts from it.
func TestLaggingFollowerGetsSnapshot(t *testing.T) {
	c := newCluster(t, clusterOptions{extra: []string{"--snapshot-threshold", "100"}})
	l := c.RequireLeader(10 * time.Second)
	lag := c.Followers(l)[0]
	lag.Kill()

	rc := c.client(l)
	ctx := context.Background()
	const keys = 600
	for i := 0; i < keys; i++ {
		if err := rc.Set(ctx, fmt.Sprintf("snap:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET %d: %v", i, err)
		}
	}
	// Wait until the leader has snapshotted past what the follower holds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		snaps, _ := filepath.Glob(filepath.Join(l.Dir, "snapshots", "*.snap"))
		if len(snaps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader took no snapshot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.start(lag)
	check := func(when string) {
		t.Helper()
		lc := c.client(lag)
		for _, i := range []int{0, keys / 2, keys - 1} {
			got, err := lc.Get(ctx, fmt.Sprintf("snap:%d", i)).Int()
			if err != nil || got != i {
				t.Fatalf("%s: node %d GET snap:%d = %d, %v", when, lag.ID, i, got, err)
			}
		}
		if n := lc.DBSize(ctx).Val(); n < keys {
			t.Fatalf("%s: node %d DBSIZE %d, want >= %d", when, lag.ID, n, keys)
		}
	}
	check("after catching up")
	if !waitLog(t, lag, "snapshot received", time.Second) {
		t.Errorf("node %d caught up without InstallSnapshot: the test did not test it", lag.ID)
	}
	if snaps, _ := filepath.Glob(filepath.Join(lag.Dir, "snapshots", "*.snap")); len(snaps) == 0 {
		t.Errorf("node %d did not keep the leader's snapshot on disk", lag.ID)
	}
	lag.Kill()
	c.start(lag)
	c.RequireLeader(10 * time.Second)
	check("after a restart from the received snapshot")
}
