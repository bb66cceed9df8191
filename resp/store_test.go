package resp

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
	"github.com/redis/go-redis/v9"
)

// storeBackend is a single-node Backend around a real kvsm.Store: each
// Write is one entry (kvsm.AppendBatch, stamped with the wall clock) applied
// at once; reads run Exec. One mutex plays the applier goroutine.
type storeBackend struct {
	mu    sync.Mutex
	store *kvsm.Store
	index uint64
}

func newStoreBackend(t testing.TB) *storeBackend {
	t.Helper()
	st, err := kvsm.NewStore(kvsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &storeBackend{store: st}
}

func (b *storeBackend) Write(_ context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	entry := consensus.Entry{Term: 1, Index: b.index, Type: consensus.EntryNormal, TimeMs: time.Now().UnixMilli(), Data: kvsm.AppendBatch(nil, cmds)}
	results := b.store.Apply([]consensus.Entry{entry})
	replies, ok := results[0].([]kvsm.Reply)
	if !ok {
		return nil, errors.New("store returned no replies")
	}
	return replies, nil
}

func (b *storeBackend) Read(_ context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now().UnixMilli()
	replies := make([]kvsm.Reply, len(cmds))
	for i, c := range cmds {
		replies[i] = b.store.Exec(c, now)
	}
	return replies, nil
}

func (b *storeBackend) Status() ClusterStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := ClusterStatus{NodeID: 1, Role: "leader", Term: 1, LeaderID: 1, CommitIndex: b.index, AppliedIndex: b.store.AppliedIndex()}
	keys, expires := b.store.KeyCount()
	for db := range keys {
		if keys[db] > 0 {
			st.Keyspace = append(st.Keyspace, DBStatus{DB: db, Keys: int64(keys[db]), Expires: int64(expires[db])})
		}
	}
	return st
}

// TestCommandTableMatchesKVSM keeps the routing table and the state
// machine in step: every command kvsm executes is routed to the Backend
// with the same arity and write flag, and nothing else is.
func TestCommandTableMatchesKVSM(t *testing.T) {
	known := map[string]kvsm.CommandInfo{}
	for _, info := range kvsm.CommandInfos() {
		known[info.Name] = info
	}
	s := NewServer(ServerConfig{}, newMemBackend(), nil)
	for _, cmd := range s.cmdList {
		info, inKVSM := known[cmd.spec.name]
		switch {
		case cmd.keyspace && !inKVSM:
			t.Errorf("%q is routed to the Backend but kvsm does not execute it", cmd.spec.name)
		case !cmd.keyspace && inKVSM:
			t.Errorf("%q is executed by kvsm but answered locally", cmd.spec.name)
		case inKVSM && (info.Arity != cmd.spec.arity || info.Write != cmd.write):
			t.Errorf("%q: kvsm arity %d write %v, resp arity %d write %v", cmd.spec.name, info.Arity, info.Write, cmd.spec.arity, cmd.write)
		}
		delete(known, cmd.spec.name)
	}
	// Internal commands the leader proposes itself; a client sending one
	// gets "unknown command" (TestExactReplies).
	delete(known, "purgeexpired")
	delete(known, "watchversions")
	delete(known, "watchguard")
	delete(known, "evict")
	for name := range known {
		t.Errorf("kvsm executes %q but resp has no table entry for it", name)
	}
}

func startStoreServer(t *testing.T) (string, *Server) {
	t.Helper()
	srv := NewServer(ServerConfig{Config: conf.Default()}, newStoreBackend(t), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String(), srv
}

func TestGoRedisWithStore(t *testing.T) {
	addr, _ := startStoreServer(t)
	rdb := newGoRedis(t, addr, 3)
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", time.Hour).Err(); err != nil {
		t.Fatalf("SET EX: %v", err)
	}
	if ttl, err := rdb.TTL(ctx, "k").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("TTL = %v, %v", ttl, err)
	}
	if err := rdb.HSet(ctx, "h", "f1", "a", "f2", "b").Err(); err != nil {
		t.Fatalf("HSET: %v", err)
	}
	if m, err := rdb.HGetAll(ctx, "h").Result(); err != nil || len(m) != 2 || m["f2"] != "b" {
		t.Fatalf("HGETALL = %v, %v", m, err)
	}
	if f, err := rdb.IncrByFloat(ctx, "f", 0.5).Result(); err != nil || f != 0.5 {
		t.Fatalf("INCRBYFLOAT = %v, %v", f, err)
	}
	if err := rdb.HSet(ctx, "k", "x", "y").Err(); err == nil || err.Error() != "WRONGTYPE Operation against a key holding the wrong kind of value" {
		t.Fatalf("HSET on a string: %v", err)
	}
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 3 {
		t.Fatalf("DBSIZE = %d, %v", n, err)
	}
	res, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.Incr(ctx, "n")
		return nil
	})
	if err != nil || res[1].(*redis.IntCmd).Val() != 2 {
		t.Fatalf("MULTI/EXEC: %v", err)
	}
	if info, err := rdb.Info(ctx, "keyspace").Result(); err != nil || info != "# Keyspace\r\ndb0:keys=4,expires=1,avg_ttl=0\r\n" {
		t.Fatalf("INFO keyspace = %q, %v", info, err)
	}
}
