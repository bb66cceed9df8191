package resp

import (
	"regexp"
	"strings"
	"testing"
)

// TestMonitor: a monitoring connection sees every command other
// connections run, in Redis's format, with passwords redacted and the
// database each ran in; a command that failed its arity check is not shown.
func TestMonitor(t *testing.T) {
	ts := startServer(t, nil)
	mon := dial(t, ts.addr)
	if got := roundTrip(t, mon, "*1\r\n$7\r\nMONITOR\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("MONITOR = %q", got)
	}
	cl := dial(t, ts.addr)
	roundTrip(t, cl, "*3\r\n$3\r\nSET\r\n$3\r\na b\r\n$4\r\nx\"\n\x01\r\n", 5)
	roundTrip(t, cl, "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n", 5)
	roundTrip(t, cl, "*1\r\n$3\r\nGET\r\n", len("-ERR wrong number of arguments for 'get' command\r\n"))
	roundTrip(t, cl, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 5)
	roundTrip(t, cl, "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n", len("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"))
	prefix := regexp.MustCompile(`^\+\d{10}\.\d{6} \[(\d+) 127\.0\.0\.1:\d+\] (.*)\r\n$`)
	want := []struct{ db, rest string }{
		{"0", `"SET" "a b" "x\"\n\x01"`},
		{"3", `"SELECT" "3"`},
		{"3", `"GET" "k"`},
		{"3", `"AUTH" "(redacted)"`},
	}
	for i, w := range want {
		line := readLine(t, mon)
		m := prefix.FindStringSubmatch(line)
		if m == nil || m[1] != w.db || m[2] != w.rest {
			t.Fatalf("monitor line %d = %q, want db %s and %s", i, line, w.db, w.rest)
		}
		if strings.Contains(line, "secret") {
			t.Fatalf("the password reached the monitor: %q", line)
		}
	}
}
