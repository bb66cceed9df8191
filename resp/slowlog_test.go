package resp

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/redis/go-redis/v9"
)

// slowlogClient is a one-connection go-redis client (so that its address
// is the one the entries name) on a server logging every command.
func slowlogClient(t *testing.T, edit func(c *conf.Config)) (*testServer, *redis.Client) {
	t.Helper()
	ts := startServer(t, func(c *conf.Config) {
		c.SlowlogSlowerThanUs = 0
		if edit != nil {
			edit(c)
		}
	})
	rdb := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: 2, MaxRetries: -1, PoolSize: 1, ClientName: "tester"})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.SlowLogReset(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return ts, rdb
}

func slowlogArgsOf(logs []redis.SlowLog) [][]string {
	var out [][]string
	for _, l := range logs {
		out = append(out, l.Args)
	}
	return out
}

func TestSlowlogEntries(t *testing.T) {
	_, rdb := slowlogClient(t, nil)
	ctx := context.Background()
	before := time.Now().Unix()
	rdb.Set(ctx, "k", "v", 0)
	rdb.Get(ctx, "k")
	rdb.Do(ctx, "nosuch") // refused: not logged
	rdb.Do(ctx, "get")    // arity: not logged
	rdb.Ping(ctx)
	logs, err := rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Newest first; SLOWLOG RESET itself ran before the reset took effect
	// and is logged after it, as in Redis.
	want := [][]string{{"ping"}, {"get", "k"}, {"set", "k", "v"}, {"slowlog", "reset"}}
	if got := slowlogArgsOf(logs); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("SLOWLOG GET args = %q, want %q", got, want)
	}
	for i, l := range logs {
		if l.ID != logs[0].ID-int64(i) || l.Time.Unix() < before || l.Time.Unix() > time.Now().Unix() || l.Duration < 0 ||
			!strings.HasPrefix(l.ClientAddr, "127.0.0.1:") || l.ClientName != "tester" {
			t.Errorf("entry %d = %+v", i, l)
		}
	}
	if got, err := rdb.SlowLogGet(ctx, 2).Result(); err != nil || len(got) != 2 || got[0].Args[0] != "slowlog" {
		t.Errorf("SLOWLOG GET 2 = %+v, %v; want the 2 newest, the first SLOWLOG GET newest", got, err)
	}
	if n, err := rdb.Do(ctx, "slowlog", "len").Int(); err != nil || n != 6 {
		t.Errorf("SLOWLOG LEN = %d, %v; want 6", n, err)
	}
	if err := rdb.SlowLogReset(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// PING, GET, GET 2, LEN, RESET: ids go on after a reset.
	if after, err := rdb.SlowLogGet(ctx, -1).Result(); err != nil || len(after) != 1 || after[0].ID != logs[0].ID+4 {
		t.Errorf("after RESET: %+v, %v; want only RESET, id %d (ids are not reset)", after, err, logs[0].ID+4)
	}
}

func TestSlowlogTruncatesAndRedacts(t *testing.T) {
	_, rdb := slowlogClient(t, nil)
	ctx := context.Background()
	long := strings.Repeat("x", 200)
	rdb.Do(ctx, "echo", long)
	many := []any{"del"}
	for i := range 40 {
		many = append(many, "k"+strconv.Itoa(i))
	}
	rdb.Do(ctx, many...)
	rdb.Do(ctx, "auth", "default", "secret")
	rdb.Do(ctx, "hello", "2", "auth", "default", "secret", "setname", "tester")
	logs, err := rdb.SlowLogGet(ctx, 4).Result()
	if err != nil || len(logs) != 4 {
		t.Fatalf("SLOWLOG GET 4 = %+v, %v", logs, err)
	}
	if got, want := logs[0].Args, []string{"hello", "2", "auth", "(redacted)", "(redacted)", "setname", "tester"}; !slices.Equal(got, want) {
		t.Errorf("HELLO entry = %q, want %q", got, want)
	}
	if got, want := logs[1].Args, []string{"auth", "(redacted)", "(redacted)"}; !slices.Equal(got, want) {
		t.Errorf("AUTH entry = %q, want %q", got, want)
	}
	del := logs[2].Args
	if len(del) != 32 || del[30] != "k29" || del[31] != "... (10 more arguments)" {
		t.Errorf("DEL entry = %q, want 31 arguments then \"... (10 more arguments)\"", del)
	}
	if got, want := logs[3].Args, []string{"echo", strings.Repeat("x", 128) + "... (72 more bytes)"}; !slices.Equal(got, want) {
		t.Errorf("ECHO entry = %q, want %q", got, want)
	}
}

// TestSlowlogBoundedAndLive: the ring keeps slowlog-max-len entries, the
// newest; both directives change live; a command faster than the
// threshold, or any with -1, is not logged.
func TestSlowlogBoundedAndLive(t *testing.T) {
	_, rdb := slowlogClient(t, func(c *conf.Config) { c.SlowlogMaxLen = 3 })
	ctx := context.Background()
	for i := range 5 {
		rdb.Echo(ctx, strconv.Itoa(i))
	}
	logs, err := rdb.SlowLogGet(ctx, -1).Result()
	if want := [][]string{{"echo", "4"}, {"echo", "3"}, {"echo", "2"}}; err != nil || !slices.EqualFunc(slowlogArgsOf(logs), want, slices.Equal) {
		t.Fatalf("SLOWLOG GET = %q, %v; want %q", slowlogArgsOf(logs), err, want)
	}
	if err := rdb.ConfigSet(ctx, "slowlog-max-len", "1").Err(); err != nil {
		t.Fatal(err)
	}
	// CONFIG SET itself is logged after it shrank the ring.
	if logs, err := rdb.SlowLogGet(ctx, -1).Result(); err != nil || len(logs) != 1 || logs[0].Args[0] != "config" {
		t.Fatalf("after slowlog-max-len 1: %q, %v", slowlogArgsOf(logs), err)
	}
	for _, threshold := range []string{"-1", "10000000"} {
		if err := rdb.ConfigSet(ctx, "slowlog-log-slower-than", threshold).Err(); err != nil {
			t.Fatal(err)
		}
		rdb.SlowLogReset(ctx)
		rdb.Echo(ctx, "fast")
		if n, err := rdb.Do(ctx, "slowlog", "len").Int(); err != nil || n != 0 {
			t.Errorf("slowlog-log-slower-than %s: SLOWLOG LEN = %d, %v; want 0", threshold, n, err)
		}
	}
	if v, err := rdb.ConfigGet(ctx, "slowlog*").Result(); err != nil || v["slowlog-max-len"] != "1" || v["slowlog-log-slower-than"] != "10000000" {
		t.Errorf("CONFIG GET slowlog* = %v, %v", v, err)
	}
}

func TestSlowlogErrors(t *testing.T) {
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	tests := []struct{ req, want string }{
		{"slowlog get -2\r\n", "-ERR count should be greater than or equal to -1\r\n"},
		{"slowlog get x\r\n", "-ERR count should be greater than or equal to -1\r\n"},
		{"slowlog GET 1 2\r\n", "-ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.\r\n"},
		{"slowlog len x\r\n", "-ERR wrong number of arguments for 'slowlog|len' command\r\n"},
		{"slowlog foo\r\n", "-ERR unknown subcommand 'foo'. Try SLOWLOG HELP.\r\n"},
		{"slowlog\r\n", "-ERR wrong number of arguments for 'slowlog' command\r\n"},
		{"slowlog get\r\n", "*0\r\n"},
		{"slowlog len\r\n", ":0\r\n"},
	}
	for _, tt := range tests {
		if got := roundTrip(t, nc, tt.req, len(tt.want)); got != tt.want {
			t.Errorf("%q = %q, want %q", tt.req, got, tt.want)
		}
	}
}

// BenchmarkSlowlogObserveFast: a command under the threshold costs a
// compare and no allocation.
func BenchmarkSlowlogObserveFast(b *testing.B) {
	var l slowlog
	l.configure(10000, 128)
	c := &client{addr: "127.0.0.1:1"}
	args := [][]byte{[]byte("get"), []byte("k")}
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		l.observe(c, args, start, time.Microsecond)
	}
}

// TestSlowlogReusesOldestEntry: once the ring is full a new entry takes
// the oldest one's storage; what every entry shows stays its own command's
// (long, truncated and redacted arguments overwritten by short ones and
// back).
func TestSlowlogReusesOldestEntry(t *testing.T) {
	var l slowlog
	l.configure(0, 2)
	c := &client{addr: "127.0.0.1:1"}
	long := []byte(strings.Repeat("y", 200))
	many := [][]byte{[]byte("del")}
	for i := range 40 {
		many = append(many, []byte("k"+strconv.Itoa(i)))
	}
	cmds := [][][]byte{
		{[]byte("set"), []byte("a"), long},
		{[]byte("auth"), []byte("secret")},
		{[]byte("get"), []byte("b")},
		many,
		{[]byte("echo"), long},
		{[]byte("get"), []byte("c")},
	}
	want := [][]string{
		{"set", "a", strings.Repeat("y", 128) + "... (72 more bytes)"},
		{"auth", "(redacted)"},
		{"get", "b"},
		append(append([]string{"del"}, func() []string {
			var ks []string
			for i := range 30 {
				ks = append(ks, "k"+strconv.Itoa(i))
			}
			return ks
		}()...), "... (10 more arguments)"),
		{"echo", strings.Repeat("y", 128) + "... (72 more bytes)"},
		{"get", "c"},
	}
	for i, cmd := range cmds {
		args := make([][]byte, len(cmd))
		for j, a := range cmd {
			args[j] = slices.Clone(a)
		}
		l.observe(c, args, time.Unix(int64(1000+i), 0), time.Millisecond)
		// The request buffer is reused by the connection: the entry must
		// not alias it.
		for _, a := range args {
			for j := range a {
				a[j] = '!'
			}
		}
		l.mu.Lock()
		entries := l.inOrderLocked()
		l.mu.Unlock()
		first := max(0, i-1)
		if len(entries) != i-first+1 {
			t.Fatalf("after %d commands: %d entries", i+1, len(entries))
		}
		for j, e := range entries {
			var got []string
			for _, a := range e.args {
				got = append(got, string(a))
			}
			if w := want[first+j]; !slices.Equal(got, w) || e.id != uint64(first+j) || e.unixSec != int64(1000+first+j) {
				t.Fatalf("after %d commands, entry %d = id %d at %d %q; want id %d at %d %q", i+1, j, e.id, e.unixSec, got, first+j, 1000+first+j, w)
			}
		}
	}
}

// BenchmarkSlowlogObserveSlow: every command logged (a loaded server,
// where whole runs pass the threshold) costs no allocation once the ring
// is full.
func BenchmarkSlowlogObserveSlow(b *testing.B) {
	var l slowlog
	l.configure(0, 128)
	c := &client{addr: "127.0.0.1:1"}
	args := [][]byte{[]byte("set"), []byte("key:000000012345"), []byte("xxxxxxxxxxxxxxxx")}
	start := time.Now()
	for range 128 {
		l.observe(c, args, start, time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.observe(c, args, start, time.Millisecond)
	}
}
