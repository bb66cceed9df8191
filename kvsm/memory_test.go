package kvsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/raftkv/raftkv/consensus"
)

// recomputedMemory sums the accounted size of every key from scratch, to
// compare with what the store maintains incrementally.
func recomputedMemory(s *Store) (used, payload int64) {
	for _, d := range s.dbs {
		d.keys.Scan(func(it item) bool {
			if it.obj() != nil {
				var b, p int64
				it.obj().hash.Scan(func(f field) bool {
					b += fieldBytes(&f)
					p += int64(len(f.name) + len(f.val))
					return true
				})
				if b != it.obj().bytes || p != it.obj().payload {
					panic(fmt.Sprintf("hash %q: object accounts %d/%d, fields sum to %d/%d", it.key(), it.obj().bytes, it.obj().payload, b, p))
				}
			}
			used += itemBytes(&it)
			payload += itemPayloadBytes(&it)
			return true
		})
	}
	return used, payload
}

// randomWrite returns a random write touching a small key space, covering
// every command that stores, grows, shrinks or removes keys and fields.
func randomWrite(r *rand.Rand) []string {
	key := func() string { return fmt.Sprintf("k%d", r.IntN(40)) }
	val := func() string { return string(bytes.Repeat([]byte{'v'}, r.IntN(70))) + "x" }
	switch r.IntN(20) {
	case 0, 1, 2:
		return []string{"SET", key(), val()}
	case 3:
		return []string{"SET", key(), val(), "PX", fmt.Sprint(1 + r.IntN(5000))}
	case 4:
		return []string{"APPEND", key(), val()}
	case 5:
		return []string{"INCRBY", key(), fmt.Sprint(r.IntN(1000))}
	case 6, 7:
		return []string{"HSET", key(), "f" + fmt.Sprint(r.IntN(8)), val(), "g", val()}
	case 8:
		return []string{"HDEL", key(), "f" + fmt.Sprint(r.IntN(8)), "g"}
	case 9:
		return []string{"HINCRBY", key(), "n", "3"}
	case 10:
		return []string{"EXPIRE", key(), fmt.Sprint(1 + r.IntN(5))}
	case 11:
		return []string{"PERSIST", key()}
	case 12:
		return []string{"DEL", key(), key()}
	case 13:
		return []string{"RENAME", key(), key()}
	case 14:
		return []string{"COPY", key(), key(), "REPLACE"}
	case 15:
		return []string{"SETRANGE", key(), fmt.Sprint(r.IntN(90)), "abc"}
	case 16:
		return []string{"GETEX", key(), "PX", "1500"}
	case 17:
		return []string{"SWAPDB", "0", "1"}
	case 18:
		if r.IntN(10) == 0 {
			return []string{"FLUSHDB"}
		}
		return []string{"HSETNX", key(), "h", val()}
	}
	return []string{"GETDEL", key()}
}

func toArgs(words []string) [][]byte {
	args := make([][]byte, len(words))
	for i, w := range words {
		args[i] = []byte(w)
	}
	return args
}

// TestAccountingIsIncrementalAndDeterministic: after every write of a random
// stream (time advancing, so keys also expire) the maintained figure equals
// a recomputation from scratch, snapshots taken midway (copy-on-write
// clones) change nothing, and a store restored from a snapshot accounts the
// same as the one it was taken from.
func TestAccountingIsIncrementalAndDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := newTestStore(t)
	var views []consensus.SnapshotReader
	for i := 0; i < 5000; i++ {
		ts.nowMs += int64(r.IntN(20))
		ts.apply(r.IntN(2), toArgs(randomWrite(r))...)
		used, payload := recomputedMemory(ts.s)
		if ts.s.UsedMemory() != used || ts.s.DatasetBytes() != payload {
			t.Fatalf("after write %d: UsedMemory %d DatasetBytes %d, recomputed %d %d", i, ts.s.UsedMemory(), ts.s.DatasetBytes(), used, payload)
		}
		if i%500 == 0 {
			v, err := ts.s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			views = append(views, v)
		}
	}
	if ts.s.UsedMemory() == 0 {
		t.Fatal("nothing accounted: the stream left an empty store")
	}
	for _, v := range views {
		v.Close()
	}
	var buf bytes.Buffer
	v, err := ts.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	v.Close()
	restored := mustStore(t)
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if restored.UsedMemory() != ts.s.UsedMemory() || restored.DatasetBytes() != ts.s.DatasetBytes() {
		t.Fatalf("restored store accounts %d/%d, original %d/%d", restored.UsedMemory(), restored.DatasetBytes(), ts.s.UsedMemory(), ts.s.DatasetBytes())
	}
}

// TestAccountingTracksHeap: the accounted size of a key is within a quarter
// of what it really costs in the heap, for plain strings, volatile strings
// and small hashes, so that maxmemory bounds the process about as it bounds
// Redis.
func TestAccountingTracksHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k keys per case")
	}
	cases := []struct {
		name string
		cmd  func(i int) []string
	}{
		{"string 16/32", func(i int) []string {
			return []string{"SET", fmt.Sprintf("key:%012d", i), "0123456789abcdef0123456789abcdef"}
		}},
		{"string with TTL", func(i int) []string {
			return []string{"SET", fmt.Sprintf("key:%012d", i), "0123456789abcdef0123456789abcdef", "EX", "1000"}
		}},
		{"hash of 4 fields", func(i int) []string {
			return []string{"HSET", fmt.Sprintf("key:%012d", i), "name", "alice", "city", "paris", "age", "42", "id", fmt.Sprint(i)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 100_000
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s := mustStore(t)
			const perBatch = 64
			cmds := make([]Command, perBatch)
			for i := 0; i < n; i += perBatch {
				for j := range cmds {
					cmds[j] = Command{Args: toArgs(tc.cmd(i + j))}
				}
				s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, cmds)}})
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapAlloc-before.HeapAlloc) / n
			accounted := float64(s.UsedMemory()) / float64(s.DBSize(0))
			runtime.KeepAlive(s)
			t.Logf("heap %.0f B/key, accounted %.0f B/key", heap, accounted)
			if accounted < heap*0.75 || accounted > heap*1.25 {
				t.Errorf("accounted %.0f B/key, heap %.0f B/key: more than 25%% apart", accounted, heap)
			}
		})
	}
}

// TestAppendGrowsInPlaceInvisibly: APPEND extends a value in its own
// allocation when there is room (amortised O(1)), yet an item read before
// (as a snapshot or a reply holds it) keeps its value, and COPY and RENAME
// give the new key an allocation of its own.
func TestAppendGrowsInPlaceInvisibly(t *testing.T) {
	ts := newTestStore(t)
	var want []byte
	var held []item
	var heldVals []string
	for i := 0; i < 300; i++ {
		part := []byte(fmt.Sprintf("<%d>", i))
		want = append(want, part...)
		ts.do("APPEND k " + string(part))
		it, ok := ts.s.dbs[0].keys.Get(probe([]byte("k")))
		if !ok || string(it.str()) != string(want) {
			t.Fatalf("after %d appends: %q, want %q", i+1, it.str(), want)
		}
		if i%37 == 0 {
			held = append(held, it)
			heldVals = append(heldVals, string(it.str()))
		}
	}
	for i := range held {
		if string(held[i].str()) != heldVals[i] {
			t.Fatalf("an item read before later APPENDs changed: %q, was %q", held[i].str(), heldVals[i])
		}
	}
	ts.do("COPY k c")
	ts.do("RENAME k r")
	ts.do("APPEND c -copy")
	ts.do("APPEND r -renamed")
	if got := ts.s.Exec(Command{Args: splitArgs("GET r")}, ts.nowMs); string(got.Str) != string(want)+"-renamed" {
		t.Fatalf("GET r = %q", got.Str)
	}
	if got := ts.s.Exec(Command{Args: splitArgs("GET c")}, ts.nowMs); string(got.Str) != string(want)+"-copy" {
		t.Fatalf("GET c = %q", got.Str)
	}
}

// TestItemSize pins the item's size: it is most of a key's cost.
func TestItemSize(t *testing.T) {
	if got := unsafe.Sizeof(item{}); got != 40 {
		t.Fatalf("item is %d bytes, want 40", got)
	}
}

// TestMemoryUsage: MEMORY USAGE answers the accounted size, nil for a
// missing key, and Redis's errors for bad arguments.
func TestMemoryUsage(t *testing.T) {
	ts := newTestStore(t)
	ts.do("SET key:000000000001 0123456789abcdef0123456789abcdef")
	exec := func(cmd string) string { return fmtReply(ts.s.Exec(Command{Args: splitArgs(cmd)}, ts.nowMs), false) }
	want := fmt.Sprintf(":%d", keyOverheadBytes+16+32)
	cases := []struct{ cmd, want string }{
		{"MEMORY USAGE key:000000000001", want},
		{"MEMORY USAGE key:000000000001 SAMPLES 0", want},
		{"MEMORY USAGE missing", "(nil)"},
		{"MEMORY USAGE key:000000000001 SAMPLES", "-ERR syntax error"},
		{"MEMORY USAGE key:000000000001 SAMPLES x", "-ERR value is not an integer or out of range"},
		{"MEMORY USAGE", "-ERR wrong number of arguments for 'memory|usage' command"},
		{"MEMORY FOO", "-ERR unknown subcommand 'FOO'. Try MEMORY HELP."},
	}
	for _, tc := range cases {
		if got := exec(tc.cmd); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.cmd, got, tc.want)
		}
	}
}
