package resp

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestCountsInsidePipeline: a batch's command counts are tallied and
// published once per streak, yet a connection command in the same
// pipeline (INFO, CLIENT INFO) sees every command before it, and itself,
// counted, as when each command was counted on arrival.
func TestCountsInsidePipeline(t *testing.T) {
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	// One write, so that the server takes it as one batch.
	req := "set a 1\r\nget a\r\nget a\r\nnosuch\r\nping\r\nget a\r\ninfo commandstats\r\ninfo stats\r\nclient info\r\nget a\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(nc)
	line := func() string {
		t.Helper()
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return l
	}
	bulk := func() string {
		t.Helper()
		hdr := line()
		n, err := strconv.Atoi(strings.TrimSpace(hdr[1:]))
		if hdr[0] != '$' || err != nil || n < 0 {
			t.Fatalf("bulk header %q", hdr)
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			t.Fatal(err)
		}
		return string(body[:n])
	}
	if got := line(); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	for range 2 {
		if got := bulk(); got != "1" {
			t.Fatalf("GET = %q", got)
		}
	}
	if got := line(); !strings.HasPrefix(got, "-ERR unknown command 'nosuch'") {
		t.Fatalf("nosuch = %q", got)
	}
	if got := line(); got != "+PONG\r\n" {
		t.Fatalf("PING = %q", got)
	}
	if got := bulk(); got != "1" {
		t.Fatalf("GET = %q", got)
	}
	stats := bulk()
	for _, want := range []string{"cmdstat_get:calls=3,", "cmdstat_set:calls=1,", "cmdstat_ping:calls=1,", "cmdstat_info:calls=1,"} {
		if !strings.Contains(stats, want) {
			t.Errorf("INFO commandstats in the pipeline = %q, want %q", stats, want)
		}
	}
	if got := bulk(); !strings.Contains(got, "total_commands_processed:8\r\n") {
		t.Errorf("INFO stats in the pipeline = %q, want total_commands_processed:8", got)
	}
	if got := bulk(); !strings.Contains(got, " cmd=client ") {
		t.Errorf("CLIENT INFO in the pipeline = %q, want cmd=client", got)
	}
	if got := bulk(); got != "1" {
		t.Fatalf("last GET = %q", got)
	}
	// After the batch: its last streak is published too.
	nc2 := dial(t, ts.addr)
	if stats := readBulk(t, nc2, "info commandstats\r\n"); !strings.Contains(stats, "cmdstat_get:calls=4,") {
		t.Errorf("INFO commandstats after the batch = %q, want get's 4 calls", stats)
	}
}
