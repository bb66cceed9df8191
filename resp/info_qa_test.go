package resp

import (
	"strings"
	"testing"
)

// TestInfoCommandstats: INFO commandstats counts calls per command as
// Redis's does (redis-cli info commandstats, exporters), INFO alone and
// INFO default leave the section out and INFO all and everything include
// it, as in Redis 7.0; CONFIG RESETSTAT clears it.
func TestInfoCommandstats(t *testing.T) {
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	roundTrip(t, nc, "ping\r\nping\r\necho a\r\n", len("+PONG\r\n+PONG\r\n$1\r\na\r\n"))
	info := func(args string) string {
		t.Helper()
		return readBulk(t, nc, "info"+args+"\r\n")
	}
	const pingLine = "cmdstat_ping:calls=2,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n"
	stats := info(" commandstats")
	if !strings.HasPrefix(stats, "# Commandstats\r\n") || !strings.Contains(stats, pingLine) ||
		!strings.Contains(stats, "cmdstat_echo:calls=1,") {
		t.Errorf("INFO commandstats = %q, want the header, %q and echo's one call", stats, pingLine)
	}
	tests := []struct {
		args string
		has  bool
	}{
		{"", false},
		{" default", false},
		{" all", true},
		{" everything", true},
		{" server commandstats", true},
		{" server", false},
	}
	for _, tt := range tests {
		if got := strings.Contains(info(tt.args), "# Commandstats\r\n"); got != tt.has {
			t.Errorf("INFO%s has commandstats: %v, want %v", tt.args, got, tt.has)
		}
	}
	roundTrip(t, nc, "config resetstat\r\n", len("+OK\r\n"))
	if stats := info(" commandstats"); strings.Contains(stats, "cmdstat_ping") {
		t.Errorf("INFO commandstats after CONFIG RESETSTAT = %q, want no ping", stats)
	}
}
