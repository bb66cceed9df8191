package consensus

import (
	"testing"
)

// BenchmarkCommit3Nodes measures committed proposals per second through a
// 3-node cluster of cores over MemoryStorage, with the test network doing
// the Ready/Advance loop and delivering messages in memory. Proposals come
// in batches of `batch` per loop iteration, as a pipelining client would
// send them; every 4096 proposals the logs are compacted so that memory
// stays flat.
func BenchmarkCommit3Nodes(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(benchName(batch), func(b *testing.B) {
			nw := newNetwork(b, 3)
			nw.discardApplied = true
			lead := nw.electLeader()
			r := nw.nodes[lead].r
			data := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			proposed := 0
			for proposed < b.N {
				for k := 0; k < batch && proposed < b.N; k++ {
					r.Propose(uint64(proposed), data)
					proposed++
				}
				nw.stabilize()
				if proposed%4096 < batch {
					for _, n := range nw.nodes {
						applied := n.r.log.applied
						t, _ := n.storage.Term(applied)
						_ = n.storage.TruncatePrefix(applied, t)
					}
				}
			}
			b.StopTimer()
			if r.log.committed < uint64(b.N) {
				b.Fatalf("committed %d of %d proposals", r.log.committed, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
		})
	}
}

func benchName(batch int) string {
	switch batch {
	case 1:
		return "batch=1"
	case 16:
		return "batch=16"
	}
	return "batch=256"
}
