package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestCleanShutdownSnapshots: a clean shutdown takes a snapshot at the
// applied index, so the next start restores everything from it and
// replays no write. The threshold is far above the writes made, so no
// periodic snapshot exists.
func TestCleanShutdownSnapshots(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startServer(t, dir)
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	ctx := context.Background()
	const keys = 200
	for i := range keys {
		if err := rc.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	info := rc.Info(ctx, "raft").Val()
	rc.Close()
	stop()

	var restoredIndex, appliedAtStart uint64
	addr, stop = startServerWith(t, dir, func(s *Server) {
		// Before Run: what New restored from the snapshot.
		restoredIndex = s.lastSnapshot.Load()
		appliedAtStart = s.store.AppliedIndex()
	})
	defer stop()
	if restoredIndex == 0 || appliedAtStart != restoredIndex {
		t.Fatalf("restart restored snapshot index %d, store applied %d; want a snapshot of every write (INFO before stop: %q)",
			restoredIndex, appliedAtStart, info)
	}
	// Every write before the stop is in that snapshot: the store had them
	// all before the log was replayed.
	if appliedAtStart < keys {
		t.Errorf("snapshot at index %d holds fewer than the %d writes", appliedAtStart, keys)
	}
	rc = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	for _, i := range []int{0, keys / 2, keys - 1} {
		if got, err := rc.Get(ctx, fmt.Sprintf("k%d", i)).Result(); err != nil || got != fmt.Sprintf("v%d", i) {
			t.Errorf("after restart k%d = %q, %v", i, got, err)
		}
	}
}

// TestLeaseReadMode: read-mode lease serves reads (a single node confirms
// its own rounds) and derives the lease from the election timeout with the
// drift margin conf/doc.go states.
func TestLeaseReadMode(t *testing.T) {
	for _, tc := range []struct{ election, want int }{{100, 88}, {20, 16}, {4, 1}, {3, 0}} {
		if got := leaseTicks(tc.election); got != tc.want {
			t.Errorf("leaseTicks(%d) = %d, want %d", tc.election, got, tc.want)
		}
	}
	addr, stop := startServer(t, t.TempDir(), "--read-mode", "lease")
	defer stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	ctx := context.Background()
	for i := range 20 {
		if err := rc.Set(ctx, "k", i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := rc.Get(ctx, "k").Int(); err != nil || got != i {
			t.Fatalf("GET after SET %d: %d, %v", i, got, err)
		}
	}
}
