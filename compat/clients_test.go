package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/internal/testproc"
)

// requirePython returns a python3 that can import redis (Debian's
// python3-redis lives under /usr/bin/python3, which a pyenv python3 on
// PATH may shadow).
func requirePython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import redis").Run() == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("python3 with the redis module is not installed (CI=true: scripts/test must install python3-redis)")
	}
	t.Skipf("SKIPPED LOUDLY: python3 with the redis module (Debian python3-redis) is not installed; run scripts/test as root")
	return ""
}

// requireNodeModules returns node's path once clients/node has its
// packages installed.
func requireNodeModules(t *testing.T) string {
	t.Helper()
	node := testproc.RequireProgram(t, "node")
	for _, m := range []string{"ioredis", "redis"} {
		if _, err := os.Stat(filepath.Join("..", "clients", "node", "node_modules", m, "package.json")); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("clients/node/node_modules/%s is missing (CI=true: scripts/test must run npm ci in clients/node)", m)
			}
			t.Skipf("SKIPPED LOUDLY: clients/node/node_modules/%s is missing; run `npm ci` in clients/node", m)
		}
	}
	return node
}

// runScript runs a client check script; it must print "ok" and nothing
// on stderr (a library warning is a failure: the handshake must be clean).
func runScript(t *testing.T, dir string, prog string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || strings.TrimSpace(stdout.String()) != "ok" || stderr.Len() > 0 {
		t.Fatalf("%s %s: err=%v\nstdout:\n%s\nstderr:\n%s", prog, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
}

// clientTargets starts a 3-node cluster and returns its leader and a
// follower.
func clientTargets(t *testing.T) map[string]string {
	t.Helper()
	c := startCluster3(t)
	return map[string]string{"leader": c.leader, "follower": c.followers[0]}
}

// TestClients runs real client libraries against the leader and a
// follower of one 3-node cluster.
func TestClients(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster and outside programs: skipped in -short")
	}
	targets := clientTargets(t)
	for _, role := range []string{"leader", "follower"} {
		addr := targets[role]
		host, port, _ := strings.Cut(addr, ":")
		t.Run("go-redis/"+role, func(t *testing.T) { checkGoRedis(t, addr) })
		t.Run("redis-py/"+role, func(t *testing.T) {
			py := requirePython(t)
			runScript(t, filepath.Join("..", "clients", "python"), py, "check_redis_py.py", host, port)
		})
		for _, lib := range []string{"ioredis", "node-redis2", "node-redis3"} {
			t.Run(lib+"/"+role, func(t *testing.T) {
				node := requireNodeModules(t)
				runScript(t, filepath.Join("..", "clients", "node"), node, "check.js", lib, host, port)
			})
		}
	}
}

// logCapture collects what go-redis logs (a warning during the handshake
// would show here).
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *logCapture) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// checkGoRedis uses go-redis v9 as applications do: its default RESP3
// handshake (HELLO 3, CLIENT MAINT_NOTIFICATIONS, CLIENT SETINFO), plain
// calls, a pipeline, TxPipelined and Watch with a conflicting writer.
func checkGoRedis(t *testing.T, addr string) {
	logs := &logCapture{}
	redis.SetLogger(logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 10 * time.Second})
	defer rdb.Close()
	p := "go:" + addr + ":"

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rdb.Ping(ctx).Err())
	if hello, err := rdb.Do(ctx, "HELLO", "3").Result(); err != nil {
		t.Fatalf("HELLO 3: %v", err)
	} else if m, ok := hello.(map[any]any); !ok || m["proto"] != int64(3) {
		t.Fatalf("HELLO 3 = %#v, want a RESP3 map with proto 3", hello)
	}
	must(rdb.Set(ctx, p+"k", "v", time.Hour).Err())
	if v, err := rdb.Get(ctx, p+"k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if n, err := rdb.Incr(ctx, p+"n").Result(); err != nil || n != 1 {
		t.Fatalf("INCR = %d, %v", n, err)
	}
	if f, err := rdb.IncrByFloat(ctx, p+"f", 1.25).Result(); err != nil || f != 1.25 {
		t.Fatalf("INCRBYFLOAT = %v, %v", f, err)
	}
	must(rdb.HSet(ctx, p+"h", "a", "1", "b", "2").Err())
	if m, err := rdb.HGetAll(ctx, p+"h").Result(); err != nil || len(m) != 2 || m["a"] != "1" {
		t.Fatalf("HGETALL = %v, %v", m, err)
	}
	if err := rdb.Incr(ctx, p+"h").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("INCR on a hash: %v, want WRONGTYPE", err)
	}

	cmds, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := 0; i < 100; i++ {
			pipe.Set(ctx, fmt.Sprintf("%sp%d", p, i), i, 0)
		}
		pipe.Get(ctx, p+"p99")
		return nil
	})
	must(err)
	if got := cmds[100].(*redis.StringCmd).Val(); got != "99" {
		t.Fatalf("pipelined GET = %q", got)
	}
	var incr *redis.IntCmd
	_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, p+"tx")
		incr = pipe.Incr(ctx, p+"tx")
		return nil
	})
	must(err)
	if incr.Val() != 2 {
		t.Fatalf("TxPipelined INCR = %d, want 2", incr.Val())
	}

	// Watch: a clean transaction commits; one whose key another client
	// changes in between fails with TxFailedErr.
	must(rdb.Watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Get(ctx, p+"n").Int()
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, p+"n", n+10, 0)
			return nil
		})
		return err
	}, p+"n"))
	if n, _ := rdb.Get(ctx, p+"n").Int(); n != 11 {
		t.Fatalf("after a clean WATCH transaction n = %d, want 11", n)
	}
	other := redis.NewClient(&redis.Options{Addr: addr})
	defer other.Close()
	err = rdb.Watch(ctx, func(tx *redis.Tx) error {
		if err := other.Set(ctx, p+"n", "changed", 0).Err(); err != nil {
			return err
		}
		_, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, p+"n", "mine", 0)
			return nil
		})
		return err
	}, p+"n")
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("WATCH after a conflicting write: %v, want TxFailedErr", err)
	}
	if v, _ := rdb.Get(ctx, p+"n").Result(); v != "changed" {
		t.Fatalf("n = %q after the aborted transaction, want the other client's write", v)
	}
	info, err := rdb.Info(ctx, "server").Result()
	must(err)
	if !strings.Contains(info, "redis_version:7.") {
		t.Fatalf("INFO server lacks redis_version 7: %q", info)
	}
	if lines := logs.get(); len(lines) > 0 {
		t.Fatalf("go-redis logged during use (want a silent handshake):\n%s", strings.Join(lines, "\n"))
	}
}
