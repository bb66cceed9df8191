package server

import (
	"context"
	"fmt"
	"runtime"
	rtmetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/kvsm"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		liveBytes int64
		want      int
	}{
		{0, 100},
		{10 * mib, 100},  // small heaps: Go's default
		{64 * mib, 62},   // 8 + 32 MiB of growth on 64
		{256 * mib, 25},  // 32 + 32 on 256
		{4096 * mib, 13}, // large: an eighth (plus 32 MiB)
		{1 << 40, memTuneMinPercent},
	}
	for _, tc := range cases {
		if got := gcPercentFor(tc.liveBytes); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.liveBytes/mib, got, tc.want)
		}
	}
}

func TestEvictionConfigFromDirectives(t *testing.T) {
	c := conf.Default()
	for name, value := range map[string]string{"maxmemory": "10mb", "maxmemory-policy": "volatile-ttl",
		"maxmemory-samples": "9", "lfu-log-factor": "3", "lfu-decay-time": "0"} {
		if err := c.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	got := evictionConfig(c)
	want := kvsm.EvictionConfig{MaxMemoryBytes: 10 << 20, Policy: kvsm.PolicyVolatileTTL, Samples: 9, LFULogFactor: 3}
	if got != want {
		t.Fatalf("evictionConfig = %+v, want %+v", got, want)
	}
}

func TestScavengeDue(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name                     string
		allocated, reclaim, live int64
		sinceLast                time.Duration
		want                     bool
	}{
		{"quiet after a bulk load", 0, 40 * mib, 130 * mib, time.Hour, true},
		{"under steady load", 8 * mib, 40 * mib, 130 * mib, time.Hour, false},
		{"just under the quiet bound", memScavengeQuietAllocBytes - 1, 40 * mib, 130 * mib, time.Hour, true},
		{"too little to give back", 0, memScavengeMinBytes, 10 * mib, time.Hour, false},
		{"small next to a large heap", 0, 60 * mib, 1024 * mib, time.Hour, false},
		{"large next to a large heap", 0, 65 * mib, 1024 * mib, time.Hour, true},
		{"too soon after the last", 0, 40 * mib, 130 * mib, memScavengeIntervalMin - time.Second, false},
		{"interval elapsed", 0, 40 * mib, 130 * mib, memScavengeIntervalMin, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scavengeDue(tc.allocated, tc.reclaim, tc.live, tc.sinceLast); got != tc.want {
				t.Errorf("scavengeDue(alloc %d, reclaimable %d, live %d, %v) = %v, want %v",
					tc.allocated, tc.reclaim, tc.live, tc.sinceLast, got, tc.want)
			}
		})
	}
}

// TestReadMemSample: the metric names exist in this Go version (an unknown
// name reads as KindBad, which would silently turn the policy off).
func TestReadMemSample(t *testing.T) {
	samples := make([]rtmetrics.Sample, len(memTuneMetricNames))
	for i, name := range memTuneMetricNames {
		samples[i].Name = name
	}
	rtmetrics.Read(samples)
	for _, s := range samples {
		if s.Value.Kind() != rtmetrics.KindUint64 {
			t.Errorf("runtime metric %s: kind %v, want uint64", s.Name, s.Value.Kind())
		}
	}
	keep := make([]byte, 1<<20)
	m := readMemSample(samples)
	if m.allocated < int64(len(keep)) || m.objects <= 0 {
		t.Errorf("readMemSample = %+v: want allocations of at least %d bytes and live objects", m, len(keep))
	}
	runtime.KeepAlive(keep)
}

func TestCompactionDue(t *testing.T) {
	cases := []struct {
		name                string
		keys, compactedKeys int
		want                bool
	}{
		{"bulk load from empty", 1_000_000, 0, true},
		{"few keys", compactKeysMin - 1, 0, false},
		{"exactly the minimum", compactKeysMin, 0, true},
		{"a quarter more", 1_250_000, 1_000_000, true},
		{"under a quarter more", 1_200_000, 1_000_000, false},
		{"a quarter deleted", 750_000, 1_000_000, true},
		{"unchanged", 1_000_000, 1_000_000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := compactionDue(tc.keys, tc.compactedKeys); got != tc.want {
				t.Errorf("compactionDue(%d, %d) = %v, want %v", tc.keys, tc.compactedKeys, got, tc.want)
			}
		})
	}
}

// TestQuietNodeCompactsKeyTrees: a node that goes quiet after a load of
// more than compactKeysMin keys rebuilds its key trees, and serves the
// same keys afterwards.
func TestQuietNodeCompactsKeyTrees(t *testing.T) {
	var srv *Server
	addr, stop := startServerWith(t, t.TempDir(), func(s *Server) { srv = s })
	defer stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	ctx := context.Background()
	const keys, perPipeline = compactKeysMin + 4096, 1024
	for lo := 0; lo < keys; lo += perPipeline {
		pipe := rc.Pipeline()
		for i := lo; i < lo+perPipeline; i++ {
			pipe.Set(ctx, fmt.Sprintf("key:%012d", i), i, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The node is quiet now: tuneGC's next ticks compact.
	deadline := time.Now().Add(20 * time.Second)
	for srv.keyTreeCompactions.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no key tree compaction within 20 s of a %d-key load", keys)
		}
		time.Sleep(memTuneInterval)
	}
	if n, err := rc.DBSize(ctx).Result(); err != nil || n != keys+1 { // + startServer's probe key
		t.Fatalf("DBSIZE = %d, %v; want %d", n, err, keys+1)
	}
	for _, i := range []int{0, keys / 2, keys - 1} {
		if got, err := rc.Get(ctx, fmt.Sprintf("key:%012d", i)).Int(); err != nil || got != i {
			t.Errorf("GET key %d = %d, %v after the compaction", i, got, err)
		}
	}
}
