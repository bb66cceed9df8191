package resp

import (
	"context"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
)

// TestLatencyMonitor: with latency-monitor-threshold 1 ms a write that the
// backend holds for a few milliseconds is sampled as a "command" event (SET
// is not flagged fast); LATEST, HISTORY and RESET answer in Redis's shapes;
// threshold 0 turns sampling off.
func TestLatencyMonitor(t *testing.T) {
	ts := startServer(t, func(c *conf.Config) { c.LatencyMonitorThresholdMs = 1 })
	ts.backend.gate = make(chan struct{})
	ts.backend.entered = make(chan struct{}, 1)
	nc := dial(t, ts.addr)
	rdb := newGoRedis(t, ts.addr, 2)
	ctx := context.Background()

	slowSet := func() {
		t.Helper()
		if _, err := nc.Write([]byte("set k v\r\n")); err != nil {
			t.Fatal(err)
		}
		<-ts.backend.entered
		time.Sleep(3 * time.Millisecond) // the latency under test
		ts.backend.gate <- struct{}{}
		if got := readN(t, nc, len("+OK\r\n")); got != "+OK\r\n" {
			t.Fatalf("SET = %q", got)
		}
	}
	before := time.Now().Unix()
	slowSet()
	latest, err := rdb.Do(ctx, "latency", "latest").Slice()
	if err != nil || len(latest) != 1 {
		t.Fatalf("LATENCY LATEST = %v, %v; want one event", latest, err)
	}
	ev := latest[0].([]any)
	if ev[0] != "command" || ev[1].(int64) < before || ev[2].(int64) < 3 || ev[3].(int64) < ev[2].(int64) {
		t.Errorf("LATENCY LATEST event = %v, want [command, time, >= 3 ms, max]", ev)
	}
	hist, err := rdb.Do(ctx, "latency", "history", "command").Slice()
	if err != nil || len(hist) != 1 || hist[0].([]any)[1].(int64) < 3 {
		t.Errorf("LATENCY HISTORY command = %v, %v; want one sample >= 3 ms", hist, err)
	}
	if fast, err := rdb.Do(ctx, "latency", "history", "fast-command").Slice(); err != nil || len(fast) != 0 {
		t.Errorf("LATENCY HISTORY fast-command = %v, %v; want none", fast, err)
	}
	if n, err := rdb.Do(ctx, "latency", "reset").Int(); err != nil || n != 1 {
		t.Errorf("LATENCY RESET = %d, %v; want 1", n, err)
	}
	if err := rdb.ConfigSet(ctx, "latency-monitor-threshold", "0").Err(); err != nil {
		t.Fatal(err)
	}
	slowSet()
	if latest, err := rdb.Do(ctx, "latency", "latest").Slice(); err != nil || len(latest) != 0 {
		t.Errorf("LATENCY LATEST after reset, threshold 0 = %v, %v; want none", latest, err)
	}
	for _, tt := range []struct{ req, want string }{
		{"latency latest x\r\n", "-ERR wrong number of arguments for 'latency|latest' command\r\n"},
		{"latency foo\r\n", "-ERR unknown subcommand 'foo'. Try LATENCY HELP.\r\n"},
		{"latency history nosuch\r\n", "*0\r\n"},
		{"latency reset nosuch\r\n", ":0\r\n"},
	} {
		if got := roundTrip(t, nc, tt.req, len(tt.want)); got != tt.want {
			t.Errorf("%q = %q, want %q", tt.req, got, tt.want)
		}
	}
}

// TestLatencySeries: one sample per second (its largest latency), at most
// latencySamplesMax kept, oldest first, and the all-time max.
func TestLatencySeries(t *testing.T) {
	var m latencyMonitor
	m.thresholdMs.Store(5)
	base := time.Unix(1_000_000, 0)
	m.observe(true, base, 4*time.Millisecond) // under the threshold
	m.observe(true, base, 7*time.Millisecond)
	m.observe(true, base, 9*time.Millisecond) // same second: kept as the max
	m.observe(true, base, 6*time.Millisecond)
	s := &m.series[latencyEventFastCommand]
	if h := s.history(); len(h) != 1 || h[0] != (latencySample{unixSec: 1_000_000, ms: 9}) {
		t.Fatalf("history = %v, want one sample of 9 ms", h)
	}
	for i := 1; i <= 2*latencySamplesMax; i++ {
		m.observe(true, base.Add(time.Duration(i)*time.Second), time.Duration(5+i%3)*time.Millisecond)
	}
	h := s.history()
	if len(h) != latencySamplesMax || h[0].unixSec != 1_000_000+latencySamplesMax+1 || h[len(h)-1].unixSec != 1_000_000+2*latencySamplesMax {
		t.Errorf("history holds %d samples from %d to %d, want the newest %d", len(h), h[0].unixSec, h[len(h)-1].unixSec, latencySamplesMax)
	}
	if s.maxMs != 9 || m.series[latencyEventCommand].n != 0 {
		t.Errorf("max = %d (want 9), command samples = %d (want 0)", s.maxMs, m.series[latencyEventCommand].n)
	}
}
