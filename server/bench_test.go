package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
)

// benchBackend builds a single-node server (its client port is never
// bound: Run is not called) in a temporary
// directory and returns its backend once the node leads.
func benchBackend(b *testing.B, extra ...string) *backend {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	cfg, err := conf.Load(append([]string{"--dir", b.TempDir(), "--port", "1",
		"--raft-addr", raftAddr, "--election-timeout", "200", "--heartbeat-interval", "20"}, extra...))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), new(slog.LevelVar))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.close)
	deadline := time.Now().Add(5 * time.Second)
	for consensus.Role(srv.node.Metrics().Role) != consensus.RoleLeader {
		if time.Now().After(deadline) {
			b.Fatal("no leader within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	return &backend{s: srv}
}

// BenchmarkBackendGet is the server's GET hot path after RESP parsing:
// ReadIndex on the node, wait for it to be applied, the store's shared
// read into the connection's reply buffer. One goroutine, so every read is
// its own ReadIndex (no batching).
func BenchmarkBackendGet(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	key := []byte("key:000000000042")
	set := []kvsm.Command{{Args: [][]byte{[]byte("SET"), key, []byte("value-0123456789")}}}
	if _, err := be.Write(ctx, set); err != nil {
		b.Fatal(err)
	}
	get := []kvsm.Command{{Args: [][]byte{[]byte("GET"), key}}}
	replies := make([]kvsm.Reply, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := be.ReadInto(ctx, get, replies); err != nil {
			b.Fatal(err)
		}
		if replies[0].Kind != kvsm.ReplyBulk {
			b.Fatalf("GET: %+v", replies[0])
		}
	}
}

// BenchmarkBackendSetNoSync is the SET path through the node (encode,
// propose, persist, apply, result) with fsync off (appendfsync no), to show
// the write path's own CPU and allocations rather than the disk's.
func BenchmarkBackendSetNoSync(b *testing.B) {
	be := benchBackend(b, "--appendfsync", "no")
	ctx := context.Background()
	set := []kvsm.Command{{Args: [][]byte{[]byte("SET"), []byte("key:000000000042"), []byte("value-0123456789")}}}
	b.ReportAllocs()
	for b.Loop() {
		replies, err := be.Write(ctx, set)
		if err != nil {
			b.Fatal(err)
		}
		if replies[0].Kind != kvsm.ReplyStatus {
			b.Fatalf("SET: %+v", replies[0])
		}
	}
}
