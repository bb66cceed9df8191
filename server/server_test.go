package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/conf"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs a single-node server in dir until the returned stop is
// called.
func startServer(t *testing.T, dir string, extra ...string) (addr string, stop func()) {
	t.Helper()
	return startServerWith(t, dir, nil, extra...)
}

// startServerWith is startServer with a chance to adjust the Server before
// it runs.
func startServerWith(t *testing.T, dir string, tweak func(*Server), extra ...string) (addr string, stop func()) {
	t.Helper()
	port, raftPort := freePort(t), freePort(t)
	args := append([]string{
		"--port", fmt.Sprint(port), "--dir", dir,
		"--raft-addr", fmt.Sprintf("127.0.0.1:%d", raftPort),
		"--election-timeout", "200", "--heartbeat-interval", "20",
	}, extra...)
	cfg, err := conf.Load(args)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg, logger, new(slog.LevelVar))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tweak != nil {
		tweak(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	// Wait until it serves writes.
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rc.Set(context.Background(), "__probe", "1", 0).Err() != nil {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server on %s did not serve writes within 10s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestSnapshotCompactsAndRestarts: with a small snapshot threshold the node
// snapshots, compacts its log, and after a restart serves every key from
// the snapshot plus the log after it.
func TestSnapshotCompactsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startServer(t, dir, "--snapshot-threshold", "500")
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	ctx := context.Background()
	const keys = 3000
	for i := 0; i < keys; i += 100 {
		pipe := rc.Pipeline()
		for j := i; j < i+100; j++ {
			pipe.Set(ctx, fmt.Sprintf("k%d", j), fmt.Sprintf("v%d", j), 0)
		}
		// One pipeline is one entry; many entries are needed to pass the
		// threshold, so also send single writes.
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 30; j++ {
			if err := rc.Incr(ctx, "counter").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rc.Expire(ctx, "k1", time.Hour)
	rc.Close()
	// The housekeeping loop takes the snapshot within ~100 ms.
	deadline := time.Now().Add(10 * time.Second)
	var snaps []string
	for len(snaps) == 0 && time.Now().Before(deadline) {
		snaps, _ = filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
		time.Sleep(50 * time.Millisecond)
	}
	if len(snaps) == 0 {
		t.Fatalf("no snapshot written under %s", dir)
	}
	stop()
	// The log was compacted: the compaction point is recorded (whole
	// segments go only once the snapshot covers them).
	if _, err := os.Stat(filepath.Join(dir, "wal", "logmeta")); err != nil {
		t.Errorf("log not compacted after a snapshot: %v", err)
	}

	addr, stop = startServer(t, dir, "--snapshot-threshold", "500")
	defer stop()
	rc = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	for _, i := range []int{0, 1, 1234, keys - 1} {
		got, err := rc.Get(ctx, fmt.Sprintf("k%d", i)).Result()
		if err != nil || got != fmt.Sprintf("v%d", i) {
			t.Errorf("after restart k%d = %q, %v", i, got, err)
		}
	}
	if n, err := rc.Get(ctx, "counter").Int(); err != nil || n != keys/100*30 {
		t.Errorf("counter = %d, %v; want %d", n, err, keys/100*30)
	}
	if ttl := rc.TTL(ctx, "k1").Val(); ttl < 59*time.Minute {
		t.Errorf("TTL of k1 after restart = %v", ttl)
	}
	if n := rc.DBSize(ctx).Val(); n != keys+2 {
		t.Errorf("DBSIZE after restart = %d, want %d", n, keys+2)
	}
}

// TestBadConfigurationNamesTheDirective: a bad directive is one line that
// names it.
func TestBadConfigurationNamesTheDirective(t *testing.T) {
	_, err := conf.Load([]string{"--port", "notaport"})
	if err == nil || !containsAll(err.Error(), "port", "notaport") {
		t.Fatalf("bad port: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestMetricsEndpoint: /metrics shows the node's Raft figures, the fsync
// histogram and commands by name.
func TestMetricsEndpoint(t *testing.T) {
	mport := freePort(t)
	addr, stop := startServer(t, t.TempDir(), "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport))
	defer stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	if err := rc.Set(context.Background(), "m", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`raftkv_role{node="1"} 3`, // leader
		`raftkv_term{node="1"} 1`,
		`raftkv_fsync_seconds_count{node="1"}`,
		`raftkv_commit_seconds_count{node="1",outcome="ok"}`,
		`raftkv_commands_total{command="set",node="1"}`,
		`raftkv_connected_clients{node="1"} 1`,
		`raftkv_keys{node="1"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestInfoStatsCounters: INFO stats counts keyspace hits and misses and
// expired keys from the state machine.
func TestInfoStatsCounters(t *testing.T) {
	addr, stop := startServer(t, t.TempDir())
	defer stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	ctx := context.Background()
	rc.Set(ctx, "hit", "1", 0)
	rc.Get(ctx, "hit")
	rc.Get(ctx, "miss")
	rc.Set(ctx, "gone", "1", 20*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		info := rc.Info(ctx, "stats").Val()
		if strings.Contains(info, "keyspace_hits:1\r\n") && strings.Contains(info, "keyspace_misses:1\r\n") && strings.Contains(info, "expired_keys:1\r\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("INFO stats never showed 1 hit, 1 miss, 1 expired key:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSaveAndBgsave: SAVE writes a snapshot and LASTSAVE moves; BGSAVE
// starts one in the background; a snapshot already being written is
// reported as Redis does.
func TestSaveAndBgsave(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startServer(t, dir)
	defer stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	ctx := context.Background()
	before := rc.LastSave(ctx).Val()
	for i := 0; i < 50; i++ {
		rc.Set(ctx, fmt.Sprintf("s%d", i), i, 0)
	}
	time.Sleep(1100 * time.Millisecond) // LASTSAVE has a resolution of a second
	if err := rc.Save(ctx).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
	if len(snaps) != 1 {
		t.Fatalf("SAVE left %d snapshot files, want 1", len(snaps))
	}
	if after := rc.LastSave(ctx).Val(); after <= before {
		t.Errorf("LASTSAVE %d after SAVE, %d before", after, before)
	}
	if got := rc.Do(ctx, "BGSAVE").Val(); got != "Background saving started" {
		t.Errorf("BGSAVE = %v", got)
	}
	if err := rc.Do(ctx, "BGSAVE", "nonsense").Err(); err == nil || err.Error() != "ERR syntax error" {
		t.Errorf("BGSAVE nonsense: %v", err)
	}
	if !strings.Contains(rc.Info(ctx, "persistence").Val(), "rdb_last_save_time:") {
		t.Errorf("INFO persistence lacks rdb_last_save_time")
	}
}

// TestSnapshotByLogBytes: a few large entries (pipelines) trigger a
// snapshot and compaction by the log's bytes, far below snapshot-threshold
// entries.
func TestSnapshotByLogBytes(t *testing.T) {
	dir := t.TempDir()
	addr, stop := startServerWith(t, dir, func(s *Server) { s.snapshotLogBytesMax = 256 << 10 })
	defer stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rc.Close()
	ctx := context.Background()
	value := strings.Repeat("v", 1024)
	for round := 0; round < 8; round++ {
		pipe := rc.Pipeline()
		for i := 0; i < 100; i++ {
			pipe.Set(ctx, fmt.Sprintf("big:%d:%d", round, i), value, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
		if len(snaps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("800 KiB of log in ~10 entries did not trigger a snapshot (threshold 256 KiB)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
