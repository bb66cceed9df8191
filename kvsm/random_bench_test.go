package kvsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// randomKeysN is redis-benchmark's keyspace in the bench harness (-r
// 100000): lookups of random keys in a tree of that size miss the CPU
// caches at most levels, which the one-key benchmarks above never show.
const randomKeysN = 100_000

// randomBenchKey is redis-benchmark's key for n ("key:" and 12 digits).
func randomBenchKey(n int) []byte { return fmt.Appendf(nil, "key:%012d", n) }

// loadedRandomStore holds randomKeysN string keys with 16-byte values.
func loadedRandomStore(b *testing.B) *Store {
	b.Helper()
	s := mustStore(b)
	val := bytes.Repeat([]byte("v"), 16)
	const perEntry = 1000
	for e := 0; e < randomKeysN/perEntry; e++ {
		cmds := make([]Command, perEntry)
		for i := range cmds {
			cmds[i] = Command{Args: [][]byte{[]byte("SET"), randomBenchKey(e*perEntry + i), val}}
		}
		s.Apply([]consensus.Entry{{Index: uint64(e + 1), TimeMs: testNowMs, Data: AppendBatch(nil, cmds)}})
	}
	return s
}

// BenchmarkExecSharedGetRandom is a pipeline of 16 GETs of random keys
// among 100,000, as the leader serves redis-benchmark's GET -P 16; one op
// is one GET.
func BenchmarkExecSharedGetRandom(b *testing.B) {
	s := loadedRandomStore(b)
	rng := rand.New(rand.NewPCG(1, 2))
	const pipeline = 16
	runs := make([][]Command, 4096)
	for r := range runs {
		runs[r] = make([]Command, pipeline)
		for i := range runs[r] {
			runs[r][i] = Command{Args: [][]byte{[]byte("GET"), randomBenchKey(rng.IntN(randomKeysN))}}
		}
	}
	replies := make([]Reply, pipeline)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%pipeline == 0 {
			s.ExecShared(runs[(i/pipeline)%len(runs)], testNowMs, replies)
			if replies[0].Kind != ReplyBulk {
				b.Fatal("miss")
			}
		}
		i++
	}
}

// BenchmarkApplySetRandom applies entries of 16 SETs of random keys among
// 100,000 (redis-benchmark's SET -P 16 as one log entry per pipeline);
// one op is one SET.
func BenchmarkApplySetRandom(b *testing.B) {
	s := loadedRandomStore(b)
	rng := rand.New(rand.NewPCG(3, 4))
	const pipeline = 16
	val := bytes.Repeat([]byte("w"), 16)
	datas := make([][]byte, 4096)
	for d := range datas {
		cmds := make([]Command, pipeline)
		for i := range cmds {
			cmds[i] = Command{Args: [][]byte{[]byte("SET"), randomBenchKey(rng.IntN(randomKeysN)), val}}
		}
		datas[d] = AppendBatch(nil, cmds)
	}
	entry := make([]consensus.Entry, 1)
	index := uint64(randomKeysN)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%pipeline == 0 {
			index++
			entry[0] = consensus.Entry{Index: index, TimeMs: testNowMs, Data: datas[(i/pipeline)%len(datas)]}
			s.Apply(entry)
		}
		i++
	}
}
