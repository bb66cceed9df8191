package kvsm

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// measurePerKey loads n keys of 16 bytes with 32-byte values and returns the
// live heap growth per key.
func measurePerKey(t *testing.T, n int) float64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := mustStore(t)
	val := make([]byte, 32)
	const perBatch = 64
	cmds := make([]Command, perBatch)
	for i := 0; i < n; i += perBatch {
		for j := range cmds {
			cmds[j] = Command{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprintf("key:%012d", i+j)), val}}
		}
		s.Apply([]consensus.Entry{{Index: uint64(i + 1), TimeMs: testNowMs, Data: AppendBatch(nil, cmds)}})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.DBSize(0) != n {
		t.Fatalf("DBSize %d, want %d", s.DBSize(0), n)
	}
	runtime.KeepAlive(s)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
