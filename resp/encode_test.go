package resp

import (
	"math"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/kvsm"
)

func TestAppendReply(t *testing.T) {
	bulk := func(s string) kvsm.Reply { return kvsm.BulkReply([]byte(s)) }
	cases := []struct {
		name  string
		reply kvsm.Reply
		resp2 string
		resp3 string
	}{
		{"nil", kvsm.ReplyNilValue, "$-1\r\n", "_\r\n"},
		{"status", kvsm.ReplyOK, "+OK\r\n", "+OK\r\n"},
		{"status newline", kvsm.StatusReply("a\r\nb"), "+a  b\r\n", "+a  b\r\n"},
		{"error", kvsm.ErrorReply("WRONGTYPE Operation against a key holding the wrong kind of value"),
			"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"int", kvsm.IntReply(-42), ":-42\r\n", ":-42\r\n"},
		{"bulk", bulk("hello"), "$5\r\nhello\r\n", "$5\r\nhello\r\n"},
		{"empty bulk", bulk(""), "$0\r\n\r\n", "$0\r\n\r\n"},
		{"array", kvsm.Reply{Kind: kvsm.ReplyArray, Elems: []kvsm.Reply{bulk("a"), kvsm.ReplyNilValue, kvsm.IntReply(1)}},
			"*3\r\n$1\r\na\r\n$-1\r\n:1\r\n", "*3\r\n$1\r\na\r\n_\r\n:1\r\n"},
		{"nil array", kvsm.Reply{Kind: kvsm.ReplyNilArray}, "*-1\r\n", "_\r\n"},
		{"double", kvsm.Reply{Kind: kvsm.ReplyDouble, Float: 0.1}, "$19\r\n0.10000000000000001\r\n", ",0.10000000000000001\r\n"},
		{"double int", kvsm.Reply{Kind: kvsm.ReplyDouble, Float: 1}, "$1\r\n1\r\n", ",1\r\n"},
		{"double inf", kvsm.Reply{Kind: kvsm.ReplyDouble, Float: math.Inf(1)}, "$3\r\ninf\r\n", ",inf\r\n"},
		{"double -inf", kvsm.Reply{Kind: kvsm.ReplyDouble, Float: math.Inf(-1)}, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"double nan", kvsm.Reply{Kind: kvsm.ReplyDouble, Float: math.NaN()}, "$3\r\nnan\r\n", ",nan\r\n"},
		{"double exp", kvsm.Reply{Kind: kvsm.ReplyDouble, Float: 1e21}, "$5\r\n1e+21\r\n", ",1e+21\r\n"},
		{"map", kvsm.Reply{Kind: kvsm.ReplyMap, Elems: []kvsm.Reply{bulk("k"), kvsm.IntReply(1)}},
			"*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"odd map", kvsm.Reply{Kind: kvsm.ReplyMap, Elems: []kvsm.Reply{bulk("k"), kvsm.IntReply(1), bulk("x")}},
			"*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"pairs", kvsm.Reply{Kind: kvsm.ReplyPairs, Elems: []kvsm.Reply{bulk("a"), bulk("1"), bulk("a"), bulk("1")}},
			"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n", "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"},
		{"empty pairs", kvsm.Reply{Kind: kvsm.ReplyPairs, Elems: []kvsm.Reply{}}, "*0\r\n", "*0\r\n"},
		{"set", kvsm.Reply{Kind: kvsm.ReplySet, Elems: []kvsm.Reply{bulk("m")}}, "*1\r\n$1\r\nm\r\n", "~1\r\n$1\r\nm\r\n"},
		{"bool true", kvsm.Reply{Kind: kvsm.ReplyBool, Int: 1}, ":1\r\n", "#t\r\n"},
		{"bool false", kvsm.Reply{Kind: kvsm.ReplyBool}, ":0\r\n", "#f\r\n"},
		{"unknown kind", kvsm.Reply{Kind: 200}, "-ERR internal error: unknown reply kind 200\r\n", "-ERR internal error: unknown reply kind 200\r\n"},
	}
	for _, tc := range cases {
		if got := string(appendReply(nil, &tc.reply, proto2)); got != tc.resp2 {
			t.Errorf("%s RESP2: %q, want %q", tc.name, got, tc.resp2)
		}
		if got := string(appendReply(nil, &tc.reply, proto3)); got != tc.resp3 {
			t.Errorf("%s RESP3: %q, want %q", tc.name, got, tc.resp3)
		}
	}
}

func TestAppendReplyDepthBounded(t *testing.T) {
	r := kvsm.IntReply(1)
	for i := 0; i < replyDepthMax+5; i++ {
		r = kvsm.Reply{Kind: kvsm.ReplyArray, Elems: []kvsm.Reply{r}}
	}
	got := string(appendReply(nil, &r, proto2))
	if want := "-ERR reply nested too deeply\r\n"; len(got) < len(want) || got[len(got)-len(want):] != want {
		t.Fatalf("deep reply not cut: %q", got)
	}
}

func TestAppendVerbatim(t *testing.T) {
	if got := string(appendVerbatim(nil, []byte("a:1\r\n"), proto3)); got != "=9\r\ntxt:a:1\r\n\r\n" {
		t.Fatalf("RESP3 verbatim %q", got)
	}
	if got := string(appendVerbatim(nil, []byte("a:1\r\n"), proto2)); got != "$5\r\na:1\r\n\r\n" {
		t.Fatalf("RESP2 verbatim %q", got)
	}
}

func TestUnknownCommandText(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'n'
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"foo"}, "ERR unknown command 'foo', with args beginning with: "},
		{[]string{"foo", "a", "b"}, "ERR unknown command 'foo', with args beginning with: 'a' 'b' "},
		{[]string{string(long)}, "ERR unknown command '" + string(long[:128]) + "', with args beginning with: "},
		// Redis prints with %s, which stops at NUL.
		{[]string{"fo\x00o", "a\x00b", "c"}, "ERR unknown command 'fo', with args beginning with: 'a' 'c' "},
		// The room left after an argument cut at NUL counts what was printed
		// (checked against redis-server 7.0.15).
		{[]string{"FOO", "x\x00yz", strings.Repeat("0123456789", 20)}, "ERR unknown command 'FOO', with args beginning with: 'x' '" + strings.Repeat("0123456789", 12) + "0123' "},
	}
	for _, tc := range cases {
		args := make([][]byte, len(tc.args))
		for i, a := range tc.args {
			args[i] = []byte(a)
		}
		if got := unknownCommandText(args); got != tc.want {
			t.Errorf("unknownCommandText(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
