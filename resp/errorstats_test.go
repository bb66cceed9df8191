package resp

import (
	"strings"
	"testing"

	"github.com/raftkv/raftkv/kvsm"
)

// TestInfoErrorstats: every error reply counts by its prefix, whether the
// connection, the backend or a queued command in EXEC sent it, and also
// with replies off, as in Redis; CONFIG RESETSTAT clears the counts.
func TestInfoErrorstats(t *testing.T) {
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	roundTrip(t, nc, "foo\r\n", len("-ERR unknown command 'foo', with args beginning with: \r\n"))
	roundTrip(t, nc, "hello 4\r\n", len("-NOPROTO unsupported protocol version\r\n"))
	roundTrip(t, nc, "auth a b\r\n", len("-WRONGPASS invalid username-password pair or user is disabled.\r\n"))
	roundTrip(t, nc, "set k x\r\nincr k\r\n", len("+OK\r\n-ERR value is not an integer or out of range\r\n"))
	roundTrip(t, nc, "multi\r\nincr k\r\nexec\r\n", len("+OK\r\n+QUEUED\r\n*1\r\n-ERR value is not an integer or out of range\r\n"))
	roundTrip(t, nc, "client reply off\r\nincr k\r\nclient reply on\r\n", len("+OK\r\n"))

	const want = "# Errorstats\r\nerrorstat_ERR:count=4\r\nerrorstat_NOPROTO:count=1\r\nerrorstat_WRONGPASS:count=1\r\n"
	if got := readBulk(t, nc, "info errorstats\r\n"); got != want {
		t.Errorf("INFO errorstats = %q, want %q", got, want)
	}
	if got := readBulk(t, nc, "info stats\r\n"); !strings.Contains(got, "total_error_replies:6\r\n") {
		t.Errorf("INFO stats = %q, want total_error_replies:6", got)
	}
	if got := readBulk(t, nc, "info\r\n"); !strings.Contains(got, "# Errorstats\r\n") {
		t.Errorf("INFO lacks the errorstats section, which Redis shows by default")
	}
	roundTrip(t, nc, "config resetstat\r\n", len("+OK\r\n"))
	if got := readBulk(t, nc, "info errorstats\r\n"); got != "# Errorstats\r\n" {
		t.Errorf("INFO errorstats after CONFIG RESETSTAT = %q, want it empty", got)
	}
}

func TestErrorPrefix(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"ERR syntax error", "ERR"},
		{"WRONGTYPE Operation against a key", "WRONGTYPE"},
		{"-MOVED 1 a:1", "MOVED"},
		{"NOSPACE", ""},
		{strings.Repeat("X", 40) + " y", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := errorPrefix(tt.msg); got != tt.want {
			t.Errorf("errorPrefix(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// TestErrorStatsBounded: past errorPrefixesMax distinct prefixes, new ones
// count only in the total.
func TestErrorStatsBounded(t *testing.T) {
	var e errorStats
	for i := range 1000 {
		countError(&e, "P"+itoa(int64(i))+" x")
	}
	e.countReply(&kvsm.Reply{Kind: kvsm.ReplyArray, Elems: []kvsm.Reply{kvsm.ErrorReply("WRONGTYPE x"), {Kind: kvsm.ReplyInt}}})
	if got := e.total.Load(); got != 1001 {
		t.Errorf("total = %d, want 1001", got)
	}
	if got := len(e.other) + len(commonErrorPrefixes); got != errorPrefixesMax {
		t.Errorf("tracked prefixes = %d, want %d", got, errorPrefixesMax)
	}
	if got := e.common[1].Load(); commonErrorPrefixes[1] != "WRONGTYPE" || got != 1 {
		t.Errorf("WRONGTYPE count = %d, want 1", got)
	}
}

func BenchmarkCountError(b *testing.B) {
	var e errorStats
	msg := []byte("WRONGTYPE Operation against a key holding the wrong kind of value")
	b.ReportAllocs()
	for b.Loop() {
		countError(&e, msg)
	}
}
