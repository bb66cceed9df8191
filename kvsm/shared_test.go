package kvsm

import (
	"bytes"
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
				if !s.ExecShared(cmds, testNowMs, replies) {
					errs <- "ExecShared declined with the default eviction policy"
					return
				}
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
		if !s.ExecShared(cmds, testNowMs, replies) {
			b.Fatal("declined")
		}
		if replies[0].Kind != ReplyBulk {
			b.Fatal("miss")
		}
	}
}

// TestExecSharedDeclinesWhenReadsTrack: with a limit and an LRU/LFU policy a
// read stamps access data (a write), so ExecShared must decline and leave
// the read to Exec on the applier, which excludes shared readers. Readers
// race with the applier switching the policy back and forth; -race checks
// that no shared reader overlaps a stamping Exec.
func TestExecSharedDeclinesWhenReadsTrack(t *testing.T) {
	s := mustStore(t)
	for i := range 100 {
		s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, setBatch(16, i))}})
	}
	tracking := DefaultEvictionConfig()
	tracking.MaxMemoryBytes, tracking.Policy = 1<<30, PolicyAllKeysLRU
	plain := DefaultEvictionConfig()

	get := []Command{{Args: [][]byte{[]byte("GET"), []byte("key:000000000042")}}}
	replies := make([]Reply, 1)
	s.SetEvictionConfig(tracking)
	if s.ExecShared(get, testNowMs, replies) {
		t.Fatal("ExecShared ran a read while reads stamp access data")
	}
	s.SetEvictionConfig(plain)
	if !s.ExecShared(get, testNowMs, replies) || replies[0].Kind != ReplyBulk {
		t.Fatalf("ExecShared with no read tracking: %+v", replies[0])
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies := make([]Reply, 1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.ExecShared(get, testNowMs, replies)
			}
		}()
	}
	for i := range 2000 {
		if i%2 == 0 {
			s.SetEvictionConfig(tracking)
		} else {
			s.SetEvictionConfig(plain)
		}
		// A later clock each time, so that the touch rewrites the item.
		if r := s.Exec(get[0], testNowMs+int64(i)*lruTickMs); r.Kind != ReplyBulk {
			t.Fatalf("Exec GET: %+v", r)
		}
	}
	close(stop)
	wg.Wait()
}
