package resp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
)

type testServer struct {
	srv     *Server
	backend *memBackend
	addr    string
	done    chan error
}

// startServer runs a server on 127.0.0.1:0 with a memBackend; edit changes
// the configuration first.
func startServer(t *testing.T, edit func(c *conf.Config)) *testServer {
	t.Helper()
	c := conf.Default()
	if edit != nil {
		edit(c)
	}
	be := newMemBackend()
	srv := NewServer(ServerConfig{Config: c, Version: "test"}, be, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, backend: be, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// roundTrip writes req and reads exactly len(want) bytes (or until the
// connection ends or 5 s pass), returning what arrived.
func roundTrip(t *testing.T, nc net.Conn, req string, wantLen int) string {
	t.Helper()
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readN(t, nc, wantLen)
}

func readN(t *testing.T, nc net.Conn, n int) string {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, n)
	got, _ := io.ReadFull(nc, buf)
	return string(buf[:got])
}

// expectClosed checks that the server closes nc without sending more.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var one [1]byte
	n, err := nc.Read(one[:])
	if n != 0 || !errors.Is(err, io.EOF) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open")
		}
		if n != 0 {
			t.Fatalf("unexpected byte %q after the reply", one[:n])
		}
	}
}

func TestExactReplies(t *testing.T) {
	cases := []struct {
		name string
		req  string
		want string
	}{
		{"ping", "PING\r\n", "+PONG\r\n"},
		{"ping msg", "*2\r\n$4\r\nping\r\n$2\r\nhi\r\n", "$2\r\nhi\r\n"},
		{"ping too many", "ping a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n"},
		{"echo", "echo \"a b\"\r\n", "$3\r\na b\r\n"},
		{"echo arity", "ECHO\r\n", "-ERR wrong number of arguments for 'echo' command\r\n"},
		{"get arity", "GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"unknown", "foo a b\r\n", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"},
		{"internal command", "purgeexpired k\r\n", "-ERR unknown command 'purgeexpired', with args beginning with: 'k' \r\n"},
		{"unknown no args", "$3\r\n", "-ERR unknown command '$3', with args beginning with: \r\n"},
		{"unknown long", "foo " + strings.Repeat("x", 200) + " y\r\n", "-ERR unknown command 'foo', with args beginning with: '" + strings.Repeat("x", 128) + "' \r\n"},
		{"select range", "select 16\r\n", "-ERR DB index is out of range\r\n"},
		{"select nan", "select x\r\n", "-ERR value is not an integer or out of range\r\n"},
		{"select ok", "select 15\r\n", "+OK\r\n"},
		{"auth no pass", "auth x\r\n", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
		{"auth default", "auth default x\r\n", "+OK\r\n"},
		{"auth other user", "auth a b\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"hello 4", "hello 4\r\n", "-NOPROTO unsupported protocol version\r\n"},
		{"hello nan", "hello x\r\n", "-ERR Protocol version is not an integer or out of range\r\n"},
		{"hello 2", "hello 2\r\n", "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		{"hello 3", "hello 3\r\n", "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		{"resp3 nil", "hello 3\r\nget nokey\r\n", "_\r\n"},
		{"resp3 map", "hello 3\r\nhgetall h\r\n", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"resp2 map", "hgetall h\r\n", "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{"resp3 config get", "hello 3\r\nconfig get save\r\n", "%1\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{"client name bad", "client setname \"a b\"\r\n", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{"client getname", "client getname\r\n", "$-1\r\n"},
		{"client name", "client setname n1\r\nclient getname\r\n", "+OK\r\n$2\r\nn1\r\n"},
		{"client unknown", "client foo\r\n", "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"},
		{"client id", "client id\r\n", ":1\r\n"},
		{"client no-evict", "client no-evict on\r\nclient no-touch x\r\n", "+OK\r\n-ERR syntax error\r\n"},
		{"client setinfo", "client setinfo lib-name go-redis\r\nclient setinfo lib-ver 9.0\r\nclient setinfo x y\r\n", "+OK\r\n+OK\r\n-ERR Unrecognized option 'x'\r\n"},
		{"client kill none", "client kill 1.2.3.4:5\r\nclient kill id 99999\r\n", "-ERR No such client\r\n:0\r\n"},
		{"client reply skip", "client reply skip\r\nping\r\nping\r\n", "+PONG\r\n"},
		{"client reply off on", "client reply off\r\nping\r\nclient reply on\r\nping\r\n", "+OK\r\n+PONG\r\n"},
		{"config get save", "config get save\r\n", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{"config get appendonly", "config get appendonly\r\n", "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n"},
		{"config get none", "config get nothing\r\n", "*0\r\n"},
		{"config get arity", "config get\r\n", "-ERR wrong number of arguments for 'config|get' command\r\n"},
		{"config set unknown", "config set foo bar\r\n", "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"},
		{"config set bad", "config set maxclients x\r\n", "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer\r\n"},
		{"config set immutable", "config set port 7\r\n", "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n"},
		{"config set get", "config set maxclients 77\r\nconfig get maxclients\r\n", "+OK\r\n*2\r\n$10\r\nmaxclients\r\n$2\r\n77\r\n"},
		{"config unknown", "config foo\r\n", "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n"},
		{"command count", "command count\r\n", fmt.Sprintf(":%d\r\n", len(commandSpecs))},
		{"command info get", "command info get nosuch\r\n", "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n$-1\r\n"},
		{"command info resp3", "hello 3\r\ncommand info get\r\n", "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n*0\r\n*0\r\n"},
		{"set get", "set k v\r\nget k\r\n", "+OK\r\n$1\r\nv\r\n"},
		{"select isolates", "set k v\r\nselect 1\r\nget k\r\n", "+OK\r\n+OK\r\n$-1\r\n"},
		{"pipeline order", "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\nincr a\r\nping\r\nget a\r\nfoo\r\nget a\r\n",
			"+OK\r\n:2\r\n+PONG\r\n$1\r\n2\r\n-ERR unknown command 'foo', with args beginning with: \r\n$1\r\n2\r\n"},
		{"empty requests", "*0\r\n*-1\r\n\r\n   \r\nping\r\n", "+PONG\r\n"},
		{"multi exec", "multi\r\nset a 1\r\nincr a\r\nexec\r\n", "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n"},
		{"multi abort", "multi\r\nget\r\nexec\r\n", "+OK\r\n-ERR wrong number of arguments for 'get' command\r\n-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{"multi nested", "multi\r\nmulti\r\ndiscard\r\nexec\r\n", "+OK\r\n-ERR MULTI calls can not be nested\r\n+OK\r\n-ERR EXEC without MULTI\r\n"},
		{"multi empty", "multi\r\nexec\r\n", "+OK\r\n*0\r\n"},
		{"quit", "quit\r\nping\r\n", "+OK\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			nc := dial(t, ts.addr)
			req := tc.req
			want := tc.want
			if strings.HasPrefix(req, "hello 3\r\n") && tc.name != "hello 3" {
				// Skip the HELLO reply; the case is about what follows.
				wantHello := "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
				hello := roundTrip(t, nc, "hello 3\r\n", len(wantHello))
				if hello != wantHello {
					t.Fatalf("hello 3 reply %q", hello)
				}
				req = strings.TrimPrefix(req, "hello 3\r\n")
			}
			got := roundTrip(t, nc, req, len(want))
			if got != want {
				t.Fatalf("reply\n got %q\nwant %q", got, want)
			}
			if tc.name == "quit" {
				expectClosed(t, nc)
			}
		})
	}
}

func TestProtocolErrorsClose(t *testing.T) {
	cases := []struct {
		name string
		req  string
		want string
	}{
		{"multibulk len", "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"multibulk too big", "*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"bulk too big", "*3\r\n$3\r\nset\r\n$600000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk negative", "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk nan", "*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"expected dollar", "*1\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"},
		{"unbalanced", "get \"a\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"big inline", strings.Repeat("a", 70*1024), "-ERR Protocol error: too big inline request\r\n"},
		{"big mbulk count", "*" + strings.Repeat("1", 70*1024), "-ERR Protocol error: too big mbulk count string\r\n"},
		{"big bulk count", "*1\r\n$" + strings.Repeat("1", 70*1024), "-ERR Protocol error: too big bulk count string\r\n"},
		{"after good command", "ping\r\n*x\r\n", "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			nc := dial(t, ts.addr)
			got := roundTrip(t, nc, tc.req, len(tc.want))
			if got != tc.want {
				t.Fatalf("reply\n got %q\nwant %q", got, tc.want)
			}
			expectClosed(t, nc)
		})
	}
}

func TestOversizedBulkRefusedWithoutAllocation(t *testing.T) {
	ts := startServer(t, func(c *conf.Config) { c.ProtoMaxBulkLenBytes = 1 << 20 })
	other := dial(t, ts.addr)
	if got := roundTrip(t, other, "set k v\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("set: %q", got)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Within proto-max-bulk-len a client may announce a large bulk and send
	// nothing: the server must not allocate for it in advance.
	for i := 0; i < 4; i++ {
		nc := dial(t, ts.addr)
		if _, err := nc.Write([]byte("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1000000\r\nabc")); err != nil {
			t.Fatal(err)
		}
	}
	// Beyond it: an error, then close.
	nc := dial(t, ts.addr)
	want := "-ERR Protocol error: invalid bulk length\r\n"
	if got := roundTrip(t, nc, "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1048577\r\n", len(want)); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	expectClosed(t, nc)
	// The other client is unaffected.
	if got := roundTrip(t, other, "get k\r\n", 7); got != "$1\r\nv\r\n" {
		t.Fatalf("get: %q", got)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 2<<20 {
		t.Fatalf("server allocated %d bytes for announced but unsent bulks", grown)
	}
}

func TestLargeValueRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	value := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB, many reads
	req := fmt.Sprintf("*3\r\n$3\r\nset\r\n$3\r\nbig\r\n$%d\r\n%s\r\n", len(value), value)
	if got := roundTrip(t, nc, req, 5); got != "+OK\r\n" {
		t.Fatalf("set: %q", got)
	}
	want := fmt.Sprintf("$%d\r\n%s\r\n", len(value), value)
	if got := roundTrip(t, nc, "get big\r\n", len(want)); got != want {
		t.Fatalf("get returned %d bytes, want %d", len(got), len(want))
	}
}

func TestPipelineIsOneBackendCallPerRun(t *testing.T) {
	cases := []struct {
		name  string
		req   string
		calls []backendCall
	}{
		{"reads", "get a\r\nget b\r\nget c\r\n", []backendCall{{false, []string{"get", "get", "get"}}}},
		{"mixed is one write", "get a\r\nset a 1\r\nget a\r\n", []backendCall{{true, []string{"get", "set", "get"}}}},
		{"local command splits", "set a 1\r\nping\r\nget a\r\nget b\r\n", []backendCall{{true, []string{"set"}}, {false, []string{"get", "get"}}}},
		{"exec is one call", "multi\r\nget a\r\nset a 2\r\nexec\r\n", []backendCall{{true, []string{"get", "set"}}}},
		{"exec of reads reads", "multi\r\nget a\r\nget b\r\nexec\r\n", []backendCall{{false, []string{"get", "get"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			nc := dial(t, ts.addr)
			// One write holding the whole pipeline; a final PING whose reply
			// tells us everything before it has been answered.
			if _, err := nc.Write([]byte(tc.req + "ping\r\n")); err != nil {
				t.Fatal(err)
			}
			var got []byte
			buf := make([]byte, 4096)
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			for !bytes.HasSuffix(got, []byte("+PONG\r\n")) {
				n, err := nc.Read(buf)
				if err != nil {
					t.Fatalf("read: %v (so far %q)", err, got)
				}
				got = append(got, buf[:n]...)
			}
			calls := ts.backend.Calls()
			if fmt.Sprint(calls) != fmt.Sprint(tc.calls) {
				t.Fatalf("backend calls %v, want %v", calls, tc.calls)
			}
		})
	}
}

func TestBackendErrors(t *testing.T) {
	cases := []struct {
		err   error
		write bool
		want  string
	}{
		{consensus.ErrNoLeader, true, errTextNoLeader},
		{fmt.Errorf("wrapped: %w", consensus.ErrProposalDropped), true, errTextDropped},
		{consensus.ErrTimeout, true, errTextWriteTimeout},
		{consensus.ErrTimeout, false, errTextReadTimeout},
		{consensus.ErrStopped, false, errTextStopped},
		{errors.New("disk on fire"), true, "ERR disk on fire"},
		{ErrRemoved, true, "CLUSTERDOWN This node was removed from the cluster; use another node"},
	}
	for _, tc := range cases {
		if got := backendErrorText(tc.err, tc.write); got != tc.want {
			t.Errorf("backendErrorText(%v, %v) = %q, want %q", tc.err, tc.write, got, tc.want)
		}
	}
	ts := startServer(t, nil)
	ts.backend.mu.Lock()
	ts.backend.err = consensus.ErrNoLeader
	ts.backend.mu.Unlock()
	nc := dial(t, ts.addr)
	want := "-" + errTextNoLeader + "\r\n-" + errTextNoLeader + "\r\n+PONG\r\n"
	if got := roundTrip(t, nc, "set a 1\r\nget a\r\nping\r\n", len(want)); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestRequirePass(t *testing.T) {
	ts := startServer(t, func(c *conf.Config) { c.RequirePass = "s3cret" })
	nc := dial(t, ts.addr)
	steps := []struct{ req, want string }{
		{"get a\r\n", "-NOAUTH Authentication required.\r\n"},
		{"foo\r\n", "-ERR unknown command 'foo', with args beginning with: \r\n"},
		{"hello 3\r\n", "-" + errTextHelloNoAuth + "\r\n"},
		{"auth nope\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"auth s3cret\r\n", "+OK\r\n"},
		{"set a 1\r\nget a\r\n", "+OK\r\n$1\r\n1\r\n"},
	}
	for _, st := range steps {
		if got := roundTrip(t, nc, st.req, len(st.want)); got != st.want {
			t.Fatalf("%q: got %q want %q", st.req, got, st.want)
		}
	}
	// HELLO AUTH authenticates and switches protocol at once.
	nc2 := dial(t, ts.addr)
	wantHello := "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:2\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n$1\r\nx\r\n"
	if got := roundTrip(t, nc2, "hello 3 auth default s3cret setname x\r\nclient getname\r\n", len(wantHello)); got != wantHello {
		t.Fatalf("hello auth: %q", got)
	}
	// Before authentication only small requests are read.
	nc3 := dial(t, ts.addr)
	want := "-ERR Protocol error: unauthenticated multibulk length\r\n"
	if got := roundTrip(t, nc3, "*11\r\n", len(want)); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	expectClosed(t, nc3)
}

func TestMaxClients(t *testing.T) {
	ts := startServer(t, func(c *conf.Config) { c.MaxClients = 1 })
	first := dial(t, ts.addr)
	if got := roundTrip(t, first, "ping\r\n", 7); got != "+PONG\r\n" {
		t.Fatalf("first: %q", got)
	}
	second := dial(t, ts.addr)
	if got := readN(t, second, len(rejectMaxClients)); got != rejectMaxClients {
		t.Fatalf("second: %q", got)
	}
	expectClosed(t, second)
	if got := roundTrip(t, first, "config set maxclients 2\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("config set: %q", got)
	}
	third := dial(t, ts.addr)
	if got := roundTrip(t, third, "ping\r\n", 7); got != "+PONG\r\n" {
		t.Fatalf("third: %q", got)
	}
	if st := ts.srv.Stats(); st.RejectedConnections != 1 || st.ConnectedClients != 2 || st.TotalConnections != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(c *conf.Config) { c.TimeoutSeconds = 1 })
	nc := dial(t, ts.addr)
	if got := roundTrip(t, nc, "ping\r\n", 7); got != "+PONG\r\n" {
		t.Fatalf("ping: %q", got)
	}
	expectClosed(t, nc) // within expectClosed's 5 s
}

func TestClientListAndKill(t *testing.T) {
	ts := startServer(t, nil)
	a := dial(t, ts.addr)
	b := dial(t, ts.addr)
	if got := roundTrip(t, b, "client setname bee\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("setname: %q", got)
	}
	list := roundTrip(t, a, "client list\r\n", 1)
	_ = a.SetReadDeadline(time.Now().Add(time.Second))
	rest := make([]byte, 4096)
	n, _ := a.Read(rest)
	text := list + string(rest[:n])
	if !strings.Contains(text, "id=1 addr=") || !strings.Contains(text, "id=2 addr=") || !strings.Contains(text, "name=bee") ||
		!strings.Contains(text, "cmd=client") {
		t.Fatalf("client list: %q", text)
	}
	if got := roundTrip(t, a, "client kill id 2\r\n", 4); got != ":1\r\n" {
		t.Fatalf("kill: %q", got)
	}
	expectClosed(t, b)
}

func TestShutdownFinishesInFlight(t *testing.T) {
	ts := startServer(t, nil)
	ts.backend.gate = make(chan struct{})
	ts.backend.entered = make(chan struct{}, 1)
	nc := dial(t, ts.addr)
	if _, err := nc.Write([]byte("set a 1\r\n")); err != nil {
		t.Fatal(err)
	}
	<-ts.backend.entered // the write is in flight
	shut := make(chan error, 1)
	go func() { shut <- ts.srv.Shutdown(context.Background()) }()
	// New connections are refused once the listener is closed; wait for
	// that event rather than sleeping.
	for {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			break
		}
		c.Close()
		runtime.Gosched()
	}
	close(ts.backend.gate)
	if got := readN(t, nc, 5); got != "+OK\r\n" {
		t.Fatalf("in-flight reply: %q", got)
	}
	expectClosed(t, nc)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadlineCancelsBackend(t *testing.T) {
	ts := startServer(t, nil)
	ts.backend.gate = make(chan struct{}) // never released
	ts.backend.entered = make(chan struct{}, 1)
	nc := dial(t, ts.addr)
	if _, err := nc.Write([]byte("set a 1\r\n")); err != nil {
		t.Fatal(err)
	}
	<-ts.backend.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
}

func TestInfo(t *testing.T) {
	ts := startServer(t, nil)
	ts.backend.statusMu.Lock()
	ts.backend.status.Peers = []PeerStatus{{ID: 2, RaftAddr: "127.0.0.1:17002", ClientAddr: "127.0.0.1:7002", MatchIndex: 8, Voter: true}}
	ts.backend.status.Keyspace = []DBStatus{{DB: 0, Keys: 5, Expires: 1}}
	ts.backend.statusMu.Unlock()
	nc := dial(t, ts.addr)
	if _, err := nc.Write([]byte("info\r\n")); err != nil {
		t.Fatal(err)
	}
	header := readLine(t, nc)
	var size int
	if _, err := fmt.Sscanf(header, "$%d", &size); err != nil {
		t.Fatalf("info header %q", header)
	}
	body := readN(t, nc, size+2)
	for _, want := range []string{
		"# Server\r\nredis_version:7.0.15\r\n", "# Raft\r\n", "raft_role:leader\r\n", "raft_term:3\r\n",
		"raft_commit_index:10\r\n", "raft_applied_index:9\r\n",
		"raft_peer0:id=2,raft_addr=127.0.0.1:17002,client_addr=127.0.0.1:7002,match_index=8,voter=true\r\n",
		"# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=0\r\n", "role:master\r\n", "connected_clients:1\r\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
	only := roundTrip(t, nc, "info raft\r\n", 12)
	if !strings.Contains(only, "# Raft") {
		t.Fatalf("info raft: %q", only)
	}
}

func readLine(t *testing.T, nc net.Conn) string {
	t.Helper()
	var line []byte
	var one [1]byte
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if _, err := nc.Read(one[:]); err != nil {
			t.Fatalf("read line: %v", err)
		}
		line = append(line, one[0])
	}
	return string(line)
}

func TestMultiQueueBounded(t *testing.T) {
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	req := "multi\r\n" + strings.Repeat("set a 1\r\n", multiCommandsMax+1) + "exec\r\n"
	full := "-ERR MULTI queue is full (at most 10000 commands, 33554432 bytes)\r\n"
	abort := "-EXECABORT Transaction discarded because of previous errors.\r\n"
	want := "+OK\r\n" + strings.Repeat("+QUEUED\r\n", multiCommandsMax) + full + abort
	if got := roundTrip(t, nc, req, len(want)); got != want {
		t.Fatalf("got %d bytes ending %q, want %d bytes", len(got), got[max(0, len(got)-120):], len(want))
	}
	if calls := ts.backend.Calls(); len(calls) != 0 {
		t.Fatalf("aborted transaction reached the backend: %v", calls)
	}
}

func TestListenAndServeStopsWithContext(t *testing.T) {
	c := conf.Default()
	c.Port = 0 // any free port; Addr tells which
	srv := NewServer(ServerConfig{Config: c}, newMemBackend(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	var addr net.Addr
	for addr == nil {
		select {
		case err := <-done:
			t.Fatalf("ListenAndServe returned early: %v", err)
		default:
		}
		addr = srv.Addr()
		runtime.Gosched()
	}
	nc := dial(t, addr.String())
	if got := roundTrip(t, nc, "get a\r\nget b\r\nping\r\n", 17); got != "$-1\r\n$-1\r\n+PONG\r\n" {
		t.Fatalf("reply %q", got)
	}
	st := srv.Stats()
	if st.CommandCalls["get"] != 2 || st.CommandCalls["ping"] != 1 || st.TotalCommands != 3 || st.ConnectedClients != 1 {
		t.Fatalf("stats %+v", st)
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe = %v, want ErrServerClosed", err)
	}
	expectClosed(t, nc)
}

func TestLargePipelineSplitByBytes(t *testing.T) {
	c := conf.Default()
	be := newMemBackend()
	srv := NewServer(ServerConfig{Config: c, RunBytesMax: 100}, be, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	nc := dial(t, ln.Addr().String())
	value := strings.Repeat("v", 40)
	// Each SET carries 3+1+40 = 44 bytes: two fit in 100, the third starts
	// a new call.
	req := strings.Repeat("set k "+value+"\r\n", 5)
	if got := roundTrip(t, nc, req, 25); got != strings.Repeat("+OK\r\n", 5) {
		t.Fatalf("reply %q", got)
	}
	var sizes []int
	for _, call := range be.Calls() {
		sizes = append(sizes, len(call.names))
	}
	if fmt.Sprint(sizes) != "[2 2 1]" {
		t.Fatalf("backend call sizes %v, want [2 2 1]", sizes)
	}
}

func TestBlockedBackendCallDoesNotBlockOthers(t *testing.T) {
	ts := startServer(t, nil)
	ts.backend.gate = make(chan struct{})
	ts.backend.entered = make(chan struct{}, 1)
	writer := dial(t, ts.addr)
	if _, err := writer.Write([]byte("set a 1\r\n")); err != nil {
		t.Fatal(err)
	}
	<-ts.backend.entered // writer's connection is now blocked in the Backend
	other := dial(t, ts.addr)
	if got := roundTrip(t, other, "ping\r\nget b\r\n", 12); got != "+PONG\r\n$-1\r\n" {
		t.Fatalf("other client: %q", got)
	}
	close(ts.backend.gate)
	if got := readN(t, writer, 5); got != "+OK\r\n" {
		t.Fatalf("writer: %q", got)
	}
}

func TestConfigSetTakesEffect(t *testing.T) {
	ts := startServer(t, nil)
	admin := dial(t, ts.addr)
	steps := []struct{ req, want string }{
		{"config set proto-max-bulk-len 2m requirepass pw\r\n", "+OK\r\n"},
		{"config get proto-max-bulk-len\r\n", "*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n2000000\r\n"},
		// The admin connection was authenticated when it connected.
		{"ping\r\n", "+PONG\r\n"},
		// All or nothing: the bad second pair leaves maxclients unchanged.
		{"config set maxclients 5 timeout x\r\n", "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer\r\n"},
		{"config get maxclients\r\n", "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"},
	}
	for _, st := range steps {
		if got := roundTrip(t, admin, st.req, len(st.want)); got != st.want {
			t.Fatalf("%q: got %q want %q", st.req, got, st.want)
		}
	}
	newcomer := dial(t, ts.addr)
	if noauth := "-NOAUTH Authentication required.\r\n"; roundTrip(t, newcomer, "ping\r\n", len(noauth)) != noauth {
		t.Fatalf("new client was not asked to authenticate")
	}
	if got := roundTrip(t, newcomer, "auth pw\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("auth: %q", got)
	}
	want := "-ERR Protocol error: invalid bulk length\r\n"
	if got := roundTrip(t, newcomer, "*2\r\n$3\r\nget\r\n$2000001\r\n", len(want)); got != want {
		t.Fatalf("bulk over the new limit: %q", got)
	}
	expectClosed(t, newcomer)
}
