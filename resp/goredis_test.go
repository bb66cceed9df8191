package resp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/consensus"
	"github.com/redis/go-redis/v9"
)

func newGoRedis(t *testing.T, addr string, protocol int) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: protocol, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestGoRedis(t *testing.T) {
	for _, protocol := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", protocol), func(t *testing.T) {
			ts := startServer(t, nil)
			rdb := newGoRedis(t, ts.addr, protocol)
			ctx := context.Background()
			if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
				t.Fatalf("GET = %q, %v", v, err)
			}
			if _, err := rdb.Get(ctx, "missing").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET missing: %v, want redis.Nil", err)
			}
			if err := rdb.Do(ctx, "nosuch", "a").Err(); err == nil || err.Error() != "ERR unknown command 'nosuch', with args beginning with: 'a' " {
				t.Fatalf("unknown command error %v", err)
			}
			// Pipelines go to the Backend as one call.
			before := len(ts.backend.Calls())
			cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := 0; i < 50; i++ {
					p.Incr(ctx, "counter")
				}
				p.Get(ctx, "counter")
				return nil
			})
			if err != nil {
				t.Fatalf("pipeline: %v", err)
			}
			if got := cmds[len(cmds)-1].(*redis.StringCmd).Val(); got != "50" {
				t.Fatalf("counter = %q, want 50", got)
			}
			calls := ts.backend.Calls()[before:]
			if len(calls) != 1 || !calls[0].write || len(calls[0].names) != 51 {
				t.Fatalf("pipeline made backend calls %v, want one write of 51", calls)
			}
			// Transactions too.
			_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "a", "1", 0)
				p.Incr(ctx, "a")
				return nil
			})
			if err != nil {
				t.Fatalf("tx: %v", err)
			}
			if v, _ := rdb.Get(ctx, "a").Result(); v != "2" {
				t.Fatalf("a = %q after tx", v)
			}
			if m, err := rdb.ConfigGet(ctx, "maxclients").Result(); err != nil || m["maxclients"] != "10000" {
				t.Fatalf("CONFIG GET = %v, %v", m, err)
			}
			if m, err := rdb.HGetAll(ctx, "h").Result(); err != nil || m["f"] != "v" {
				t.Fatalf("HGETALL = %v, %v", m, err)
			}
			if err := rdb.Do(ctx, "client", "setname", "me").Err(); err != nil {
				t.Fatalf("CLIENT SETNAME: %v", err)
			}
			if info, err := rdb.Info(ctx, "raft").Result(); err != nil || len(info) == 0 {
				t.Fatalf("INFO: %q %v", info, err)
			}
			if cmds, err := rdb.Command(ctx).Result(); err != nil || cmds["get"] == nil || cmds["get"].Arity != 2 || !cmds["get"].ReadOnly {
				t.Fatalf("COMMAND: %v", err)
			}
			if tm, err := rdb.Time(ctx).Result(); err != nil || tm.IsZero() {
				t.Fatalf("TIME: %v %v", tm, err)
			}
		})
	}
}

func TestGoRedisRetriesClusterDown(t *testing.T) {
	ts := startServer(t, nil)
	ts.backend.mu.Lock()
	ts.backend.err = consensus.ErrNoLeader
	ts.backend.mu.Unlock()
	rdb := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: 3, MaxRetries: 2, MinRetryBackoff: -1, MaxRetryBackoff: -1})
	defer rdb.Close()
	err := rdb.Get(context.Background(), "k").Err()
	if err == nil || err.Error() != errTextNoLeader {
		t.Fatalf("err = %v", err)
	}
	if n := len(ts.backend.Calls()); n != 3 {
		t.Fatalf("backend saw %d calls, want 3 (go-redis retried CLUSTERDOWN twice)", n)
	}
}
