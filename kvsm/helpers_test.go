package kvsm

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// redisAddr, when set, makes the command tables also run against a real
// redis-server and compare its replies with the expected ones, e.g.
//
//	redis-server --port 6399 --save '' --daemonize yes
//	go test ./kvsm -run Commands -redis 127.0.0.1:6399
var redisAddr = flag.String("redis", "", "address of a redis-server to check the expected replies against (it is FLUSHALLed)")

const testNowMs = int64(1_700_000_000_000)

// step is one command of a script and the reply it must give, formatted by
// fmtReply.
type step struct {
	cmd  string // space-separated arguments; "" stands for an empty argument
	want string
	// noDiff skips the comparison against a real redis-server (the reply
	// depends on our fixed clock).
	noDiff bool
	// sorted compares arrays with their elements sorted (order differs
	// from Redis's hash-table order).
	sorted bool
}

func splitArgs(cmd string) [][]byte {
	var args [][]byte
	for _, f := range strings.Fields(cmd) {
		if f == `""` {
			f = ""
		}
		args = append(args, []byte(f))
	}
	return args
}

// fmtReply renders a reply compactly: +status -error :int $bulk (nil) [a b].
// Maps and sets render like arrays, as RESP2 sends them.
func fmtReply(r Reply, sorted bool) string {
	switch r.Kind {
	case ReplyNil:
		return "(nil)"
	case ReplyStatus:
		return "+" + string(r.Str)
	case ReplyError:
		return "-" + string(r.Str)
	case ReplyInt, ReplyBool:
		return ":" + strconv.FormatInt(r.Int, 10)
	case ReplyBulk:
		return "$" + string(r.Str)
	case ReplyDouble:
		return "$" + strconv.FormatFloat(r.Float, 'f', -1, 64)
	case ReplyNilArray:
		return "(nilarray)"
	case ReplyArray, ReplyMap, ReplySet, ReplyPairs:
		parts := make([]string, len(r.Elems))
		for i, e := range r.Elems {
			parts[i] = fmtReply(e, sorted)
		}
		if sorted {
			sort.Strings(parts)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("(kind %d)", r.Kind)
}

// testStore applies commands one entry at a time at a fixed clock.
type testStore struct {
	t     *testing.T
	s     *Store
	index uint64
	nowMs int64
}

func newTestStore(t *testing.T) *testStore {
	t.Helper()
	s, err := NewStore(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testStore{t: t, s: s, nowMs: testNowMs}
}

// apply runs one command through the log path and returns its reply.
func (ts *testStore) apply(db int, args ...[]byte) Reply {
	ts.t.Helper()
	ts.index++
	data := AppendBatch(nil, []Command{{DB: db, Args: args}})
	res := ts.s.Apply([]consensus.Entry{{Term: 1, Index: ts.index, TimeMs: ts.nowMs, Data: data}})
	replies, ok := res[0].([]Reply)
	if !ok || len(replies) != 1 {
		ts.t.Fatalf("Apply result %#v, want one reply", res[0])
	}
	return replies[0]
}

func (ts *testStore) do(cmd string) Reply {
	ts.t.Helper()
	return ts.apply(0, splitArgs(cmd)...)
}

// runScript runs steps on a fresh store (through Apply, and read commands
// also through Exec, which must agree) and, with -redis, on a real server.
func runScript(t *testing.T, steps []step) {
	t.Helper()
	ts := newTestStore(t)
	var rc *redisConn
	if *redisAddr != "" {
		rc = dialRedis(t, *redisAddr)
		defer rc.close()
		rc.do(t, [][]byte{[]byte("FLUSHALL")}, false)
	}
	for i, st := range steps {
		args := splitArgs(st.cmd)
		if !IsWrite(args[0]) {
			if got := fmtReply(ts.s.Exec(Command{Args: args}, ts.nowMs), st.sorted); got != st.want {
				t.Errorf("step %d Exec %q = %s, want %s", i, st.cmd, got, st.want)
			}
		}
		if got := fmtReply(ts.apply(0, args...), st.sorted); got != st.want {
			t.Errorf("step %d %q = %s, want %s", i, st.cmd, got, st.want)
		}
		if rc != nil && !st.noDiff {
			if got := rc.do(t, args, st.sorted); got != st.want {
				t.Errorf("step %d %q: redis-server says %s, the table %s", i, st.cmd, got, st.want)
			}
		}
	}
}

// redisConn is a minimal RESP2 client, enough to tell a status from a bulk
// string (which go-redis hides).
type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRedis(t *testing.T, addr string) *redisConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial redis: %v", err)
	}
	return &redisConn{c: c, r: bufio.NewReader(c)}
}

func (rc *redisConn) close() { rc.c.Close() }

func (rc *redisConn) do(t *testing.T, args [][]byte, sorted bool) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := rc.c.Write([]byte(b.String())); err != nil {
		t.Fatalf("redis write: %v", err)
	}
	s, err := rc.read(sorted)
	if err != nil {
		t.Fatalf("redis read: %v", err)
	}
	return s
}

func (rc *redisConn) read(sorted bool) (string, error) {
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty line")
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return "", err
		}
		return "$" + string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nilarray)", nil
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = rc.read(sorted); err != nil {
				return "", err
			}
		}
		if sorted {
			sort.Strings(parts)
		}
		return "[" + strings.Join(parts, " ") + "]", nil
	}
	return "", fmt.Errorf("unexpected %q", line)
}
