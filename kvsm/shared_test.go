package kvsm

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// TestExecSharedConcurrentWithApply runs shared readers against an applier
// that writes, snapshots and restores. Each entry sets keys a and b to the
// same number (one batch): a reader's batch must see them equal (it runs
// between two Apply calls) and never see the number go down. Run it with
// -race: a reader that skipped the lock also shows up as a data race.
func TestExecSharedConcurrentWithApply(t *testing.T) {
	s := mustStore(t)
	const entries = 3000
	const readers = 3

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmds := []Command{
				{Args: [][]byte{[]byte("GET"), []byte("a")}},
				{Args: [][]byte{[]byte("HGETALL"), []byte("h")}},
				{Args: [][]byte{[]byte("SCAN"), []byte("0"), []byte("COUNT"), []byte("5")}},
				{Args: [][]byte{[]byte("RANDOMKEY")}},
				{Args: [][]byte{[]byte("TTL"), []byte("tmp")}},
				{Args: [][]byte{[]byte("GET"), []byte("b")}},
			}
			replies := make([]Reply, len(cmds))
			last := int64(-1)
			for reads := 0; ; reads++ {
				select {
				case <-stop:
					if reads == 0 {
						errs <- "reader " + strconv.Itoa(r) + " never read"
					}
					return
				default:
				}
				s.ExecShared(cmds, testNowMs, replies)
				a, b := replies[0], replies[5]
				if a.Kind == ReplyNil && b.Kind == ReplyNil {
					continue // before the first entry
				}
				if a.Kind != ReplyBulk || !bytes.Equal(a.Str, b.Str) {
					errs <- "torn batch: a=" + fmtReply(a, false) + " b=" + fmtReply(b, false)
					return
				}
				n, err := strconv.ParseInt(string(a.Str), 10, 64)
				if err != nil || n < last {
					errs <- "a went from " + strconv.FormatInt(last, 10) + " to " + string(a.Str)
					return
				}
				last = n
			}
		}()
	}

	for i := 1; i <= entries; i++ {
		v := []byte(strconv.Itoa(i))
		batch := []Command{
			{Args: [][]byte{[]byte("SET"), []byte("a"), v}},
			{Args: [][]byte{[]byte("HSET"), []byte("h"), v, v}},
			{Args: [][]byte{[]byte("SET"), []byte("tmp"), v, []byte("EX"), []byte("100")}},
			{Args: [][]byte{[]byte("APPEND"), []byte("log"), []byte("x")}},
			{Args: [][]byte{[]byte("SET"), []byte("b"), v}},
		}
		s.Apply([]consensus.Entry{{Index: uint64(i), TimeMs: testNowMs, Data: AppendBatch(nil, batch)}})
		switch i % 1000 {
		case 100:
			// Written out while the next entries apply (copy on write).
			sr, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				var buf bytes.Buffer
				sr.WriteTo(&buf)
				sr.Close()
			}()
		case 999:
			// Restore the state just taken: readers see the same numbers
			// (so the monotonic check holds) while the trees are swapped.
			sr, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var snap bytes.Buffer
			if _, err := sr.WriteTo(&snap); err != nil {
				t.Fatal(err)
			}
			sr.Close()
			if err := s.Restore(&snap); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkExecSharedGet(b *testing.B) {
	s := mustStore(b)
	for i := 0; i < 1<<14; i++ {
		s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(16, i))}})
	}
	cmds := []Command{{Args: [][]byte{[]byte("GET"), []byte("key:000000012345")}}}
	replies := make([]Reply, 1)
	b.ReportAllocs()
	for b.Loop() {
		s.ExecShared(cmds, testNowMs, replies)
		if replies[0].Kind != ReplyBulk {
			b.Fatal("miss")
		}
	}
}

// TestExecSharedTracksReads: with a limit and an LRU policy, shared reads
// stamp the key's access data (atomics outside the tree) while the applier
// applies writes to other keys and stamps its own reads of another key;
// -race checks the access data's synchronisation, and OBJECT IDLETIME sees
// the shared reads.
func TestExecSharedTracksReads(t *testing.T) {
	s := mustStore(t)
	for i := range 100 {
		s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(16, i))}})
	}
	tracking := DefaultEvictionConfig()
	tracking.MaxMemoryBytes, tracking.Policy = 1<<30, PolicyAllKeysLRU
	s.SetEvictionConfig(tracking)

	get := []Command{{Args: [][]byte{[]byte("GET"), []byte("key:000000000042")}}}
	other := Command{Args: [][]byte{[]byte("GET"), []byte("key:000000000007")}}
	idle := Command{Args: [][]byte{[]byte("OBJECT"), []byte("IDLETIME"), []byte("key:000000000042")}}
	stop := make(chan struct{})
	var started, wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			replies := make([]Reply, 1)
			for n := 0; ; n++ {
				s.ExecShared(get, testNowMs+100_000, replies)
				if n == 0 {
					started.Done()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	started.Wait()
	for i := range 200 {
		s.Apply([]consensus.Entry{{Index: uint64(101 + i), TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(16, 200+i))}})
		if r := s.Exec(other, testNowMs+int64(i)*lruTickMs); r.Kind != ReplyBulk {
			t.Fatalf("Exec GET: %+v", r)
		}
	}
	close(stop)
	wg.Wait()
	// The shared readers read at testNowMs+100 s: 100 s later the key has
	// been idle for 100 s, not 200 (since its write).
	replies := make([]Reply, 1)
	s.ExecShared([]Command{idle}, testNowMs+200_000, replies)
	if replies[0].Int != 100 {
		t.Fatalf("OBJECT IDLETIME after shared reads = %+v, want 100", replies[0])
	}
}

// TestReadCountsPerPath: keyspace hits and misses are tallied per call and
// added to the store's counters before the call returns, on every path
// that runs commands (Apply, Exec, ExecShared), exactly once per lookup.
func TestReadCountsPerPath(t *testing.T) {
	s := mustStore(t)
	s.Apply([]consensus.Entry{{Index: 1, TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(4, 0))}})
	get := func(k string) Command { return Command{Args: [][]byte{[]byte("GET"), []byte(k)}} }
	hit, miss := get("key:000000000001"), get("nosuch")
	tests := []struct {
		name               string
		run                func()
		wantHits, wantMiss uint64
	}{
		{"Exec hit", func() { s.Exec(hit, testNowMs) }, 1, 0},
		{"Exec miss", func() { s.Exec(miss, testNowMs) }, 0, 1},
		{"ExecShared", func() {
			s.ExecShared([]Command{hit, miss, hit, hit, miss}, testNowMs, make([]Reply, 5))
		}, 3, 2},
		{"Apply", func() {
			set := Command{Args: [][]byte{[]byte("SET"), []byte("x"), []byte("y")}}
			s.Apply([]consensus.Entry{{Index: 2, TimeMs: testNowMs, Data: AppendBatch(nil, []Command{hit, set, miss, get("x")})}})
		}, 2, 1},
		{"Apply, nothing read", func() {
			s.Apply([]consensus.Entry{{Index: 3, TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(2, 9))}})
		}, 0, 0},
	}
	for _, tt := range tests {
		before := s.Stats()
		tt.run()
		after := s.Stats()
		if h, m := after.KeyspaceHits-before.KeyspaceHits, after.KeyspaceMisses-before.KeyspaceMisses; h != tt.wantHits || m != tt.wantMiss {
			t.Errorf("%s: hits +%d, misses +%d; want +%d, +%d", tt.name, h, m, tt.wantHits, tt.wantMiss)
		}
	}
}

// BenchmarkExecSharedGetParallel: pipelines of 16 GETs from as many
// goroutines as cores, as connections run them on the leader; the store's
// shared counters are what the goroutines contend on. One op is one GET.
func BenchmarkExecSharedGetParallel(b *testing.B) {
	s := mustStore(b)
	const keys = 1 << 12
	for i := 0; i < keys/16; i++ {
		s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(16, i))}})
	}
	const pipeline = 16
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cmds := make([]Command, pipeline)
		for i := range cmds {
			cmds[i] = Command{Args: [][]byte{[]byte("GET"), fmt.Appendf(nil, "key:%012d", (i*257)%keys)}}
		}
		replies := make([]Reply, pipeline)
		n := 0
		for pb.Next() {
			if n%pipeline == 0 {
				s.ExecShared(cmds, testNowMs, replies)
				if replies[0].Kind != ReplyBulk {
					b.Fatal("miss")
				}
			}
			n++
		}
	})
}
