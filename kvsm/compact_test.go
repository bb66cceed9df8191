package kvsm

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// loadKeys applies SETs of keys 0..n-1 (16-byte keys, 32-byte values) into
// db 0 of s, from index first+1 on, and returns the last index.
func loadKeys(t *testing.T, s *Store, first uint64, n int) uint64 {
	t.Helper()
	val := make([]byte, 32)
	const perBatch = 64
	cmds := make([]Command, perBatch)
	index := first
	for i := 0; i < n; i += perBatch {
		for j := range cmds {
			cmds[j] = Command{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprintf("key:%012d", i+j)), val}}
		}
		index++
		s.Apply([]consensus.Entry{{Index: index, TimeMs: testNowMs, Data: AppendBatch(nil, cmds)}})
	}
	return index
}

func heapAllocBytes() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestCompactionPacksKeyTrees: the rebuilt tree holds the same keys (same
// digest, lookups and SCAN order) in much less memory, and the store
// keeps working on it.
func TestCompactionPacksKeyTrees(t *testing.T) {
	const n = 102_400 // a multiple of loadKeys's batch
	s := mustStore(t)
	index := loadKeys(t, s, 0, n)
	digest := s.Digest()
	before := heapAllocBytes()
	c := s.StartCompaction()
	if err := c.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.FinishCompaction(c) {
		t.Fatal("FinishCompaction refused with nothing applied since the start")
	}
	c = nil
	after := heapAllocBytes()
	savedPerKey := float64(before-after) / n
	t.Logf("compaction gave back %.1f B/key (heap %.1f -> %.1f MiB)", savedPerKey, float64(before)/(1<<20), float64(after)/(1<<20))
	// Keys arrive in hash order (random): nodes are about 70 % full and
	// their arrays longer still; packed, the tree takes ~44 B per 40-byte
	// item instead of ~69.
	if savedPerKey < 10 {
		t.Errorf("compaction gave back %.1f B/key, want at least 10", savedPerKey)
	}
	if got := s.Digest(); got != digest {
		t.Fatalf("digest after compaction %x, want %x", got, digest)
	}
	if s.DBSize(0) != n {
		t.Fatalf("DBSize %d, want %d", s.DBSize(0), n)
	}
	// Writes go on into the packed tree: overwrite, delete, insert.
	ts := &testStore{t: t, s: s, index: index, nowMs: testNowMs}
	for _, cmd := range []struct{ cmd, want string }{
		{"SET key:000000000007 x", "+OK"},
		{"GET key:000000000007", "$x"},
		{"DEL key:000000000008", ":1"},
		{"EXISTS key:000000000008", ":0"},
		{"SET newkey y", "+OK"},
		{"DBSIZE", fmt.Sprint(":", n)},
		{"GET key:000000102399", "$" + string(make([]byte, 32))},
	} {
		if got := fmtReply(ts.do(cmd.cmd), false); got != cmd.want {
			t.Errorf("%s = %q, want %q", cmd.cmd, got, cmd.want)
		}
	}
}

// TestCompactionDroppedAfterApply: a write applied between the start and
// the finish makes the rebuilt trees stale; they must not be installed.
func TestCompactionDroppedAfterApply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write string
	}{
		{"set", "SET key:000000000001 changed"},
		{"flushall", "FLUSHALL"},
		{"swapdb", "SWAPDB 0 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStore(t)
			index := loadKeys(t, s, 0, 1024)
			c := s.StartCompaction()
			if err := c.Build(context.Background()); err != nil {
				t.Fatal(err)
			}
			ts := &testStore{t: t, s: s, index: index, nowMs: testNowMs}
			ts.do(tc.write)
			digest := s.Digest()
			if s.FinishCompaction(c) {
				t.Fatal("FinishCompaction installed trees built before a write")
			}
			if got := s.Digest(); got != digest {
				t.Fatalf("digest changed by a refused compaction: %x, want %x", got, digest)
			}
		})
	}
}

func TestCompactionUnbuiltOrCancelled(t *testing.T) {
	s := mustStore(t)
	loadKeys(t, s, 0, 1024)
	if s.FinishCompaction(s.StartCompaction()) {
		t.Error("FinishCompaction installed a compaction that was never built")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := s.StartCompaction()
	if err := c.Build(ctx); err == nil {
		t.Error("Build with a cancelled context succeeded")
	}
	if s.FinishCompaction(c) {
		t.Error("FinishCompaction installed a cancelled build")
	}
	if s.DBSize(0) != 1024 {
		t.Errorf("DBSize %d, want 1024", s.DBSize(0))
	}
}

// TestCompactionBuildConcurrentWithApply: Build reads its copy-on-write
// views while the applier writes the live trees (run with -race); the
// result is then stale and refused, and the live trees hold the writes.
func TestCompactionBuildConcurrentWithApply(t *testing.T) {
	s := mustStore(t)
	index := loadKeys(t, s, 0, 20_480)
	c := s.StartCompaction()
	built := make(chan error, 1)
	go func() { built <- c.Build(context.Background()) }()
	ts := &testStore{t: t, s: s, index: index, nowMs: testNowMs}
	for i := range 2000 {
		ts.do(fmt.Sprintf("SET new:%d v", i))
		ts.do(fmt.Sprintf("DEL key:%012d", i))
	}
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	if s.FinishCompaction(c) {
		t.Fatal("FinishCompaction installed trees built while writes were applied")
	}
	if got := fmtReply(ts.do("DBSIZE"), false); got != ":20480" {
		t.Fatalf("DBSIZE = %s, want :20480", got)
	}
	if got := fmtReply(ts.do("EXISTS key:000000000001 new:1999"), false); got != ":1" {
		t.Fatalf("EXISTS = %s, want :1", got)
	}
}
