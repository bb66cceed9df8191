package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// TestRedisCLI: redis-cli one-shot commands, and an interactive session
// (which sends COMMAND DOCS at start-up for its hints), against a follower
// and the leader.
func TestRedisCLI(t *testing.T) {
	cli := testproc.RequireProgram(t, "redis-cli")
	c := newCluster(t, clusterOptions{})
	l := c.RequireLeader(10 * time.Second)
	f := c.Followers(l)[0]
	run := func(n *node, stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(n.ClientPort())}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(f, "", "SET", "cli:key", "cli value"); got != "OK" {
		t.Fatalf("redis-cli SET via follower = %q", got)
	}
	if got := run(l, "", "GET", "cli:key"); got != "cli value" {
		t.Fatalf("redis-cli GET via leader = %q", got)
	}
	if got := run(f, "", "INCR", "cli:n"); got != "1" {
		t.Fatalf("redis-cli INCR = %q", got)
	}
	if got := run(f, "", "PING"); got != "PONG" {
		t.Fatalf("redis-cli PING = %q", got)
	}
	// Interactive mode (stdin not a terminal still runs the REPL with -i? no:
	// redis-cli reads commands line by line from stdin when no command is
	// given).
	out := run(f, "SET cli:a 1\nGET cli:a\nDBSIZE\n")
	if !strings.Contains(out, "OK") || !strings.Contains(out, "1") {
		t.Fatalf("redis-cli from stdin: %q", out)
	}
	// --pipe mass insertion needs ECHO.
	var proto strings.Builder
	for i := 0; i < 1000; i++ {
		k, v := fmt.Sprintf("pipe:%d", i), fmt.Sprintf("v%d", i)
		fmt.Fprintf(&proto, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	out = run(l, proto.String(), "--pipe")
	if !strings.Contains(out, "errors: 0, replies: 1000") {
		t.Fatalf("redis-cli --pipe: %q", out)
	}
	if got := run(f, "", "GET", "pipe:999"); got != "v999" {
		t.Fatalf("GET after --pipe = %q", got)
	}
}

// TestRedisBenchmark: redis-benchmark's SET and GET tests run against the
// cluster without errors.
func TestRedisBenchmark(t *testing.T) {
	bench := testproc.RequireProgram(t, "redis-benchmark")
	c := newCluster(t, clusterOptions{})
	l := c.RequireLeader(10 * time.Second)
	for _, n := range []*node{l, c.Followers(l)[0]} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, bench, "-h", "127.0.0.1", "-p", strconv.Itoa(n.ClientPort()), "-t", "set,get", "-n", "100000", "-q")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("redis-benchmark against node %d: %v\n%s", n.ID, err, out)
		}
		s := string(out)
		t.Logf("redis-benchmark against node %d:\n%s", n.ID, s)
		if strings.Contains(strings.ToLower(s), "error") || !strings.Contains(s, "SET:") || !strings.Contains(s, "GET:") {
			t.Fatalf("redis-benchmark output is not clean:\n%s", s)
		}
	}
}

// rawConn is a plain TCP connection for exact RESP bytes.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, rd: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := r.rd.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read reply: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// closed reports whether the server closed the connection.
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.rd.ReadByte()
	return err != nil
}

// TestBadInput: unknown commands, wrong arity, malformed frames and huge bulk
// lengths get Redis's replies; the server keeps serving other clients.
func TestBadInput(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	l := c.RequireLeader(10 * time.Second)
	addr := c.Followers(l)[0].ClientAddr

	r := dialRaw(t, addr)
	r.send("*2\r\n$7\r\nFOOBARX\r\n$1\r\na\r\n")
	if got, want := r.line(), "-ERR unknown command 'FOOBARX', with args beginning with: 'a' "; got != want {
		t.Errorf("unknown command: %q, want %q", got, want)
	}
	r.send("*1\r\n$3\r\nGET\r\n")
	if got, want := r.line(), "-ERR wrong number of arguments for 'get' command"; got != want {
		t.Errorf("wrong arity: %q, want %q", got, want)
	}
	r.send("*1\r\n$4\r\nPING\r\n")
	if got := r.line(); got != "+PONG" {
		t.Errorf("the connection stopped working after errors: %q", got)
	}

	// A 600 MB bulk length: refused before anything is allocated, then closed.
	big := dialRaw(t, addr)
	big.send("*2\r\n$3\r\nGET\r\n$600000000\r\n")
	if got := big.line(); !strings.HasPrefix(got, "-ERR Protocol error") {
		t.Errorf("600 MB bulk: %q, want a protocol error", got)
	}
	if !big.closed() {
		t.Errorf("connection still open after a protocol error")
	}

	// A malformed frame: protocol error, then the connection is closed.
	bad := dialRaw(t, addr)
	bad.send("*1\r\n+GET\r\n")
	if got := bad.line(); !strings.HasPrefix(got, "-ERR Protocol error") {
		t.Errorf("malformed frame: %q, want a protocol error", got)
	}
	if !bad.closed() {
		t.Errorf("connection still open after a malformed frame")
	}

	// Others are unaffected.
	ok := dialRaw(t, addr)
	ok.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
	if got := ok.line(); got != "+OK" {
		t.Errorf("SET after bad clients: %q", got)
	}
}

// TestStatusCLI: `raftkv status ADDR` shows every member, one leader, and a
// dead member as unreachable; --json gives the same rows.
func TestStatusCLI(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	l := c.RequireLeader(10 * time.Second)
	f := c.Followers(l)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binPath, append([]string{"status"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("raftkv status %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	table := run(f[0].ClientAddr)
	t.Logf("raftkv status:\n%s", table)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || strings.Count(table, " leader ") != 1 {
		t.Fatalf("want a header and 3 rows with one leader:\n%s", table)
	}
	f[1].Kill()
	table = run(l.ClientAddr)
	if !strings.Contains(table, "unreachable") {
		t.Fatalf("a dead member is not shown as unreachable:\n%s", table)
	}
	js := run(l.ClientAddr, "--json")
	if !strings.Contains(js, `"reachable": false`) || !strings.Contains(js, `"role": "leader"`) {
		t.Fatalf("--json:\n%s", js)
	}
}
