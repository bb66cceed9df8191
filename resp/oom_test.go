package resp

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/kvsm"
)

// guardBackend is a memBackend that enforces maxmemory as the test says
// (resp.MemoryGuard) and records the configurations it is given
// (resp.ConfigObserver).
type guardBackend struct {
	*memBackend
	admission atomic.Uint32 // a kvsm.Admission
	room      atomic.Bool   // WaitForRoom's answer
	waits     atomic.Int32

	cfgMu   sync.Mutex
	configs []conf.Config
}

func (g *guardBackend) Admission() kvsm.Admission { return kvsm.Admission(g.admission.Load()) }

func (g *guardBackend) WaitForRoom(ctx context.Context) bool {
	g.waits.Add(1)
	return g.room.Load()
}

func (g *guardBackend) ConfigChanged(c *conf.Config) {
	g.cfgMu.Lock()
	defer g.cfgMu.Unlock()
	g.configs = append(g.configs, *c)
}

const oomReply = "-OOM command not allowed when used memory > 'maxmemory'.\r\n"

// TestOOMRefusal: denyoom commands are refused with Redis's text in their
// place in a pipeline while the others run; an evicting policy's wait is
// asked and followed; MULTI refuses every queued command over the limit
// and EXEC aborts, also when the limit is reached between MULTI and EXEC.
func TestOOMRefusal(t *testing.T) {
	g := &guardBackend{memBackend: newMemBackend()}
	addr := startMemberServer(t, g)
	nc := dial(t, addr)

	g.admission.Store(uint32(kvsm.RefuseOOM))
	req := "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n" +
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n" +
		"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n" +
		"*2\r\n$3\r\nDEL\r\n$1\r\na\r\n"
	want := oomReply + "$-1\r\n" + oomReply + ":0\r\n"
	if got := roundTrip(t, nc, req, len(want)); got != want {
		t.Fatalf("pipeline over the limit:\n got %q\nwant %q", got, want)
	}
	for _, call := range g.Calls() {
		for _, name := range call.names {
			if name == "set" || name == "incr" {
				t.Fatalf("a refused %s reached the backend: %v", name, g.Calls())
			}
		}
	}

	// An evicting policy: the server waits for room, then runs or refuses.
	g.admission.Store(uint32(kvsm.AdmitAfterEviction))
	g.room.Store(true)
	if got := roundTrip(t, nc, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("SET after room was made = %q", got)
	}
	g.room.Store(false)
	if got := roundTrip(t, nc, "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n", len(oomReply)); got != oomReply {
		t.Fatalf("SET when no room could be made = %q", got)
	}
	if g.waits.Load() != 2 {
		t.Fatalf("WaitForRoom called %d times, want 2", g.waits.Load())
	}

	// MULTI over the limit: every queued command is refused, EXEC aborts.
	g.admission.Store(uint32(kvsm.RefuseOOM))
	want = "+OK\r\n" + oomReply + oomReply + "-EXECABORT Transaction discarded because of previous errors.\r\n"
	req = "*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n"
	if got := roundTrip(t, nc, req, len(want)); got != want {
		t.Fatalf("MULTI over the limit:\n got %q\nwant %q", got, want)
	}

	// The limit reached between MULTI and EXEC: EXEC aborts with the
	// reason, as Redis does.
	g.admission.Store(uint32(kvsm.Admit))
	want = "+OK\r\n+QUEUED\r\n"
	if got := roundTrip(t, nc, "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n", len(want)); got != want {
		t.Fatalf("MULTI SET under the limit = %q", got)
	}
	g.admission.Store(uint32(kvsm.RefuseOOM))
	want = "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
	if got := roundTrip(t, nc, "*1\r\n$4\r\nEXEC\r\n", len(want)); got != want {
		t.Fatalf("EXEC after the limit was reached = %q", got)
	}
	// A transaction without denyoom commands still runs.
	want = "+OK\r\n+QUEUED\r\n*1\r\n:0\r\n"
	g.admission.Store(uint32(kvsm.Admit))
	if got := roundTrip(t, nc, "*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\nz\r\n", 12); got != want[:12] {
		t.Fatalf("MULTI DEL = %q", got)
	}
	g.admission.Store(uint32(kvsm.RefuseOOM))
	if got := roundTrip(t, nc, "*1\r\n$4\r\nEXEC\r\n", len(want)-12); got != want[12:] {
		t.Fatalf("EXEC of a DEL over the limit = %q, want %q", got, want[12:])
	}
}

// TestConfigObserver: the backend gets the configuration at start and after
// each CONFIG SET of the eviction directives, which are live.
func TestConfigObserver(t *testing.T) {
	g := &guardBackend{memBackend: newMemBackend()}
	addr := startMemberServer(t, g)
	nc := dial(t, addr)
	req := "*6\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$4\r\n10mb\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lfu\r\n"
	if got := roundTrip(t, nc, req, 5); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET = %q", got)
	}
	g.cfgMu.Lock()
	defer g.cfgMu.Unlock()
	if len(g.configs) != 2 {
		t.Fatalf("ConfigChanged called %d times, want 2 (start, CONFIG SET)", len(g.configs))
	}
	if c := g.configs[1]; c.MaxMemoryBytes != 10<<20 || c.MaxMemoryPolicy != "allkeys-lfu" {
		t.Fatalf("ConfigChanged got maxmemory %d policy %q", c.MaxMemoryBytes, c.MaxMemoryPolicy)
	}
}
