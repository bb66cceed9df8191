package resp

import (
	"context"
	"flag"
	"net"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
)

var (
	serveAddr  = flag.String("resp.serve", "", "serve a memBackend-backed server on this address until SIGINT (manual checks with redis-cli, redis-benchmark)")
	redisAddr  = flag.String("resp.redis", "", "host:port of a real redis-server 7.0 for TestDifferentialAgainstRedis")
	serveStore = flag.Bool("resp.store", false, "with -resp.serve: answer from a real kvsm.Store instead of the map fake")
)

// TestManualServe runs a server for manual checks:
//
//	go test ./resp -run TestManualServe -resp.serve 127.0.0.1:6400 -timeout 0
func TestManualServe(t *testing.T) {
	if *serveAddr == "" {
		t.Skip("set -resp.serve to run a server")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var backend Backend = newMemBackend()
	if *serveStore {
		backend = newStoreBackend(t)
	}
	srv := NewServer(ServerConfig{Config: conf.Default(), Version: "manual"}, backend, nil)
	ln, err := net.Listen("tcp", *serveAddr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); err != ErrServerClosed {
		t.Fatal(err)
	}
}

// readIdle reads until the connection has been quiet for quiet or closed.
func readIdle(nc net.Conn, quiet time.Duration) string {
	var out []byte
	buf := make([]byte, 64*1024)
	for {
		_ = nc.SetReadDeadline(time.Now().Add(quiet))
		n, err := nc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return string(out)
			}
			return string(out) + "<closed>"
		}
	}
}

// TestDifferentialAgainstRedis sends the same requests to a real
// redis-server and to our server and compares the bytes:
//
//	redis-server --port 6399 --save '' --daemonize yes
//	go test ./resp -run Differential -resp.redis 127.0.0.1:6399
func TestDifferentialAgainstRedis(t *testing.T) {
	if *redisAddr == "" {
		t.Skip("set -resp.redis to compare with a real redis-server")
	}
	requests := []string{
		"PING\r\n", "ping hello\r\n", "ping a b\r\n", "echo\r\n", "echo x\r\n",
		"foo\r\n", "foo a b c\r\n", "FOO 'a b'\r\n",
		"get\r\n", "set k\r\n", "GET a b\r\n", "mget\r\n",
		"select\r\n", "select 16\r\n", "select -1\r\n", "select x\r\n", "select 3\r\n",
		"auth x\r\n", "auth a b\r\n", "auth default x\r\n", "auth\r\n",
		"hello 4\r\n", "hello x\r\n", "hello 1\r\n", "hello 2 foo\r\n",
		"client getname\r\n", "client setname \"a b\"\r\n", "client setname ok\r\nclient getname\r\n",
		"client foo\r\n", "client no-evict x\r\n", "client no-evict on\r\n",
		"client reply skip\r\nping\r\nping\r\n", "client reply off\r\nping\r\nclient reply on\r\nping\r\n",
		"client kill 1.2.3.4:5\r\n", "client kill id 999999\r\n", "client kill foo bar\r\n",
		"config get save\r\n", "config get\r\n", "config foo\r\n", "config set foo bar\r\n",
		"config get maxclients\r\n", "config get timeout\r\n", "config get nothing*\r\n",
		"command info nosuch\r\n", "command count x\r\n",
		"multi\r\nmulti\r\ndiscard\r\n", "exec\r\n", "discard\r\n", "multi\r\nget\r\nexec\r\n", "multi\r\nexec\r\n",
		"*x\r\n", "*1\r\n$-1\r\n", "*1\r\nx\r\n", "*3\r\n$3\r\nset\r\n$600000000\r\n", "get \"a\r\n", "get \"a\"b\r\n",
		"*0\r\n*-1\r\nping\r\n", "quit\r\nping\r\n", "time x\r\n", "dbsize x\r\n",
	}
	ts := startServer(t, nil)
	for _, req := range requests {
		theirs, err := net.Dial("tcp", *redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		ours := dial(t, ts.addr)
		for _, nc := range []net.Conn{theirs, ours} {
			if _, err := nc.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
		}
		want := readIdle(theirs, 200*time.Millisecond)
		got := readIdle(ours, 200*time.Millisecond)
		theirs.Close()
		if got != want {
			t.Errorf("%q:\n redis %.300q\n ours  %.300q", req, want, got)
		}
	}
}

// TestDifferentialKeyspace replays a session of keyspace commands through
// our server (on a real kvsm.Store) and a real redis-server, in RESP2 and
// RESP3, and compares every reply's bytes.
func TestDifferentialKeyspace(t *testing.T) {
	if *redisAddr == "" {
		t.Skip("set -resp.redis to compare with a real redis-server")
	}
	session := []string{
		"set a 1\r\n", "get a\r\n", "get nope\r\n", "incr a\r\n", "incrby a x\r\n", "mset b 2 c 3\r\n",
		"mget a b nope c\r\n", "del a nope\r\n", "exists a b c\r\n", "set e v ex 100\r\n", "ttl e\r\n",
		"expire b 50\r\nttl b\r\npersist b\r\nttl b\r\n", "type c\r\n", "hset h f1 v1 f2 v2\r\n", "hget h f1\r\n",
		"hmget h f1 nope\r\n", "hlen h\r\n", "hincrby h n 5\r\n", "hincrbyfloat h x 1.5\r\n", "get h\r\n",
		"incrbyfloat fl 0.1\r\n", "append c 45\r\n", "strlen c\r\n", "getrange c 0 1\r\n", "dbsize\r\n",
		"select 2\r\nget c\r\nselect 0\r\n", "multi\r\nset t 1\r\nincr t\r\nexec\r\n", "getdel t\r\n",
		"set a\r\n", "rename nope x\r\n", "flushdb\r\n", "dbsize\r\n",
	}
	for _, proto := range []string{"2", "3"} {
		theirs, err := net.Dial("tcp", *redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := startStoreServer(t)
		ours := dial(t, addr)
		for _, nc := range []net.Conn{theirs, ours} {
			if _, err := nc.Write([]byte("hello " + proto + "\r\nflushall\r\n")); err != nil {
				t.Fatal(err)
			}
			readIdle(nc, 200*time.Millisecond)
		}
		for _, req := range session {
			for _, nc := range []net.Conn{theirs, ours} {
				if _, err := nc.Write([]byte(req)); err != nil {
					t.Fatal(err)
				}
			}
			want := readIdle(theirs, 150*time.Millisecond)
			got := readIdle(ours, 150*time.Millisecond)
			if got != want {
				t.Errorf("RESP%s %q:\n redis %.300q\n ours  %.300q", proto, req, want, got)
			}
		}
		theirs.Close()
	}
}
