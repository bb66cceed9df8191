package server

import (
	"testing"

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
