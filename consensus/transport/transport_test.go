package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// testTimeout bounds every wait for an event; tests never sleep.
const testTimeout = 10 * time.Second

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// node is a Transport under test with its inbound messages and events.
type node struct {
	*Transport
	inbox     chan consensus.Message
	connected chan consensus.NodeID
	refused   chan error
	closed    chan error
	wrote     chan int // messages per successful write
	logs      *syncBuffer
}

// newNode builds and starts a transport; edit adjusts its config first.
func newNode(t *testing.T, id consensus.NodeID, edit func(*Config)) *node {
	t.Helper()
	n := &node{
		inbox:     make(chan consensus.Message, 1<<14),
		connected: make(chan consensus.NodeID, 64),
		refused:   make(chan error, 64),
		closed:    make(chan error, 64),
		wrote:     make(chan int, 64),
		logs:      &syncBuffer{},
	}
	cfg := Config{
		ID: id, ClusterID: "test", ListenAddr: "127.0.0.1:0",
		ReconnectBackoffMin: 5 * time.Millisecond, ReconnectBackoffMax: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := New(cfg, func(m consensus.Message) { n.inbox <- m })
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tr.hooks = testHooks{
		connected: func(p consensus.NodeID) { nonBlockingSend(n.connected, p) },
		refused:   func(_ bool, err error) { nonBlockingSend(n.refused, err) },
		closed:    func(_ consensus.NodeID, err error) { nonBlockingSend(n.closed, err) },
		wrote:     func(_ consensus.NodeID, msgs int) { nonBlockingSend(n.wrote, msgs) },
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	n.Transport = tr
	t.Cleanup(func() { tr.Close() })
	return n
}

func nonBlockingSend[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// await returns the next value of ch or fails the test after testTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func peerStats(t *testing.T, n *node, id consensus.NodeID) PeerStats {
	t.Helper()
	for _, ps := range n.Stats().Peers {
		if ps.ID == id {
			return ps
		}
	}
	t.Fatalf("no stats for peer %d", id)
	return PeerStats{}
}

// pair starts node 2, then node 1 with node 2 as its peer, and waits until
// 1 is connected to 2.
func pair(t *testing.T, edit1, edit2 func(*Config)) (n1, n2 *node) {
	t.Helper()
	n2 = newNode(t, 2, edit2)
	n1 = newNode(t, 1, func(c *Config) {
		c.Peers = map[consensus.NodeID]string{2: n2.Addr().String()}
		if edit1 != nil {
			edit1(c)
		}
	})
	if got := await(t, n1.connected, "node 1 to connect"); got != 2 {
		t.Fatalf("connected to %d, want 2", got)
	}
	return n1, n2
}

func TestTransportRoundTripEveryType(t *testing.T) {
	n1, n2 := pair(t, nil, nil)
	var sent []consensus.Message
	for typ := consensus.MsgPreVote; typ.Valid(); typ++ {
		m := fullMessage(t, typ, uint64(typ)*3)
		m.From, m.To = 1, 2
		sent = append(sent, m)
		n1.Send(2, []consensus.Message{m})
	}
	for i, want := range sent {
		got := await(t, n2.inbox, "message "+want.Type.String())
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if s := n2.Stats(); s.ReceivedMsgs != uint64(len(sent)) {
		t.Fatalf("ReceivedMsgs = %d, want %d", s.ReceivedMsgs, len(sent))
	}
}

// TestTransportBatchesOneWrite: messages queued together leave in one
// write, in order.
func TestTransportBatchesOneWrite(t *testing.T) {
	n1, n2 := pair(t, nil, nil)
	const count = 500
	batch := make([]consensus.Message, count)
	for i := range batch {
		batch[i] = consensus.Message{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: uint64(i), Context: uint64(i)}
	}
	n1.Send(2, batch)
	for i := range count {
		if got := await(t, n2.inbox, "batched message"); got.Commit != uint64(i) {
			t.Fatalf("message %d has Commit %d: order lost", i, got.Commit)
		}
	}
	if got := await(t, n1.wrote, "the write"); got != count {
		t.Fatalf("first write carried %d messages, want all %d", got, count)
	}
	ps := peerStats(t, n1, 2)
	if ps.Writes != 1 || ps.SentMsgs != count {
		t.Fatalf("Writes = %d, SentMsgs = %d; want 1 write of %d messages", ps.Writes, ps.SentMsgs, count)
	}
}

// TestTransportSplitsFrames: a batch larger than one frame is split, never
// sent as an oversized frame; a message larger than a frame, or addressed
// to another node, is dropped alone.
func TestTransportSplitsFrames(t *testing.T) {
	const frameMax = 4096
	limit := func(c *Config) { c.MaxFrameBytes = frameMax }
	n1, n2 := pair(t, limit, limit)
	var batch []consensus.Message
	for i := range 20 {
		batch = append(batch, consensus.Message{Type: consensus.MsgApp, From: 1, To: 2, Index: uint64(i), Data: bytes.Repeat([]byte{byte(i)}, 1000)})
	}
	huge := consensus.Message{Type: consensus.MsgSnap, From: 1, To: 2, Data: make([]byte, frameMax)}
	misaddressed := consensus.Message{Type: consensus.MsgVote, From: 1, To: 3}
	batch = append(batch[:10], append([]consensus.Message{huge, misaddressed}, batch[10:]...)...)
	n1.Send(2, batch)
	for i := range 20 {
		if got := await(t, n2.inbox, "split message"); got.Index != uint64(i) || len(got.Data) != 1000 {
			t.Fatalf("message %d: Index %d, %d bytes", i, got.Index, len(got.Data))
		}
	}
	if got := await(t, n1.wrote, "the write"); got != 20 {
		t.Fatalf("write carried %d messages, want 20", got)
	}
	if ps := peerStats(t, n1, 2); ps.DroppedMsgs != 2 || ps.SentMsgs != 20 {
		t.Fatalf("DroppedMsgs = %d, SentMsgs = %d; want 2 and 20", ps.DroppedMsgs, ps.SentMsgs)
	}
	for _, want := range []string{"dropping message larger than a frame", "dropping misaddressed message"} {
		if !strings.Contains(n1.logs.String(), want) {
			t.Fatalf("log lacks %q", want)
		}
	}
}

func TestTransportQueueDropsWhenFull(t *testing.T) {
	// A peer that refuses connections: the sender never drains the queue.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	n1 := newNode(t, 1, func(c *Config) {
		c.QueueLen = 4
		c.Peers = map[consensus.NodeID]string{2: deadAddr}
	})
	msgs := make([]consensus.Message, 10)
	for i := range msgs {
		msgs[i] = consensus.Message{Type: consensus.MsgHeartbeat, From: 1, To: 2}
	}
	tests := []struct {
		name        string
		to          consensus.NodeID
		send        int
		wantQueued  int
		wantDropped uint64
		wantUnknown uint64
	}{
		{"fills the queue then drops", 2, 10, 4, 6, 0},
		{"full queue drops everything", 2, 3, 4, 9, 0},
		{"unknown peer", 7, 5, 4, 9, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n1.Send(tc.to, msgs[:tc.send])
			s := n1.Stats()
			ps := peerStats(t, n1, 2)
			if ps.QueuedMsgs != tc.wantQueued || ps.DroppedMsgs != tc.wantDropped || s.DroppedUnknownPeer != tc.wantUnknown {
				t.Fatalf("queued %d dropped %d unknown %d; want %d %d %d",
					ps.QueuedMsgs, ps.DroppedMsgs, s.DroppedUnknownPeer, tc.wantQueued, tc.wantDropped, tc.wantUnknown)
			}
			if ps.Connected {
				t.Fatalf("connected to a closed port")
			}
		})
	}
}

// TestTransportReconnectsAfterPeerRestart: node 2 goes away and comes back
// on the same address; node 1 redials and delivers again.
func TestTransportReconnectsAfterPeerRestart(t *testing.T) {
	n1, n2 := pair(t, nil, nil)
	addr := n2.Addr().String()
	hb := []consensus.Message{{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 1}}
	n1.Send(2, hb)
	await(t, n2.inbox, "message before restart")
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	n2b := newNode(t, 2, func(c *Config) { c.ListenAddr = addr })
	if got := await(t, n1.connected, "reconnect to restarted peer"); got != 2 {
		t.Fatalf("reconnected to %d", got)
	}
	n1.Send(2, []consensus.Message{{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 2}})
	if got := await(t, n2b.inbox, "message after restart"); got.Term != 2 {
		t.Fatalf("got Term %d after restart, want 2", got.Term)
	}
	if ps := peerStats(t, n1, 2); ps.Reconnects < 1 || !ps.Connected {
		t.Fatalf("Reconnects = %d, Connected = %v; want >= 1, true", ps.Reconnects, ps.Connected)
	}
}

func TestTransportRefusesHandshake(t *testing.T) {
	const secret = "correct horse battery staple"
	tests := []struct {
		name       string
		edit1      func(*Config)
		edit2      func(*Config)
		peerID     consensus.NodeID // the id node 1 believes node 2 has
		wantReason string
	}{
		{"wrong cluster id", func(c *Config) { c.ClusterID = "other" }, nil, 2, "cluster id"},
		{"wrong secret", func(c *Config) { c.Secret = "guess" }, func(c *Config) { c.Secret = secret }, 2, "wrong cluster secret"},
		{"missing secret", nil, func(c *Config) { c.Secret = secret }, 2, "no cluster secret"},
		{"wrong node id", nil, nil, 3, "addressed to node 3, but this is node 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n2 := newNode(t, 2, tc.edit2)
			n1 := newNode(t, 1, func(c *Config) {
				c.Peers = map[consensus.NodeID]string{tc.peerID: n2.Addr().String()}
				if tc.edit1 != nil {
					tc.edit1(c)
				}
			})
			for side, n := range map[string]*node{"dialer": n1, "acceptor": n2} {
				err := await(t, n.refused, side+" refusal")
				if !errors.Is(err, ErrHandshakeRefused) || !strings.Contains(err.Error(), tc.wantReason) {
					t.Fatalf("%s: err = %v, want a refusal naming %q", side, err, tc.wantReason)
				}
				if !strings.Contains(n.logs.String(), tc.wantReason) {
					t.Fatalf("%s did not log the reason %q:\n%s", side, tc.wantReason, n.logs.String())
				}
			}
			if n2.Stats().RefusedInbound == 0 || peerStats(t, n1, tc.peerID).RefusedHandshakes == 0 {
				t.Fatalf("refusals not counted: %+v / %+v", n2.Stats(), n1.Stats())
			}
			select {
			case p := <-n1.connected:
				t.Fatalf("connected to %d despite the refusal", p)
			default:
			}
		})
	}
}

// rawPeer dials n as node `self` and completes the handshake, for tests
// that write hand-made frames.
func rawPeer(t *testing.T, n *node, self consensus.NodeID) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	hs := handshaker{hc: &handshakeConfig{self: self, clusterID: "test", version: protocolVersion}, w: conn, fr: &frameReader{r: conn}}
	if err := hs.dial(n.ID()); err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	return conn
}

// ID returns the node's id (tests only need it here).
func (n *node) ID() consensus.NodeID { return n.cfg.ID }

// TestTransportClosesOnBadFrames: after the handshake, a frame over the
// limit (without allocating it), a bad checksum, a spoofed sender or a
// malformed message closes the connection, logs why, and delivers nothing.
func TestTransportClosesOnBadFrames(t *testing.T) {
	hugeHeader := make([]byte, frameHeaderBytes)
	binary.BigEndian.PutUint32(hugeHeader, 2<<30)
	hugeHeader[4] = frameBatch
	spoofed := appendFrame(nil, frameBatch, AppendMessage(nil, &consensus.Message{Type: consensus.MsgVote, From: 3, To: 2}))
	badSum := appendFrame(nil, frameBatch, AppendMessage(nil, &consensus.Message{Type: consensus.MsgVote, From: 1, To: 2}))
	badSum[len(badSum)-1] ^= 0xff
	tests := []struct {
		name    string
		bytes   []byte
		wantErr error
		wantLog string
	}{
		{"2 GiB length header", hugeHeader, ErrFrameTooLarge, "frame too large"},
		{"bad checksum", badSum, ErrChecksum, "checksum mismatch"},
		{"spoofed sender", spoofed, ErrMalformed, "from 3 to 2 on the connection of peer 1"},
		{"garbage message", appendFrame(nil, frameBatch, []byte{0xee}), ErrMalformed, "unknown message type 238"},
		{"handshake frame after handshake", appendFrame(nil, frameHello, nil), ErrMalformed, "frame type 2 after the handshake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n2 := newNode(t, 2, func(c *Config) { c.MaxFrameBytes = 1 << 20 })
			conn := rawPeer(t, n2, 1)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := conn.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			err := await(t, n2.closed, "the connection to close")
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("closed with %v, want %v", err, tc.wantErr)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Fatalf("allocated %d bytes while refusing the frame", grew)
			}
			if _, err := conn.Read(make([]byte, 1)); err == nil {
				t.Fatalf("connection still open")
			}
			if !strings.Contains(n2.logs.String(), tc.wantLog) {
				t.Fatalf("log does not say %q:\n%s", tc.wantLog, n2.logs.String())
			}
			if len(n2.inbox) != 0 {
				t.Fatalf("%d messages delivered from a bad connection", len(n2.inbox))
			}
		})
	}
}

func TestTransportAddRemovePeer(t *testing.T) {
	n1 := newNode(t, 1, nil)
	n2 := newNode(t, 2, nil)
	n3 := newNode(t, 3, nil)
	hb := func(to consensus.NodeID, term uint64) []consensus.Message {
		return []consensus.Message{{Type: consensus.MsgHeartbeat, From: 1, To: to, Term: term}}
	}
	n1.AddPeer(2, n2.Addr().String())
	await(t, n1.connected, "connection to 2")
	n1.Send(2, hb(2, 1))
	await(t, n2.inbox, "message to 2")

	// The address of id 2 now leads to a node that says it is 3: refused.
	n1.AddPeer(2, n3.Addr().String())
	if err := await(t, n3.refused, "refusal by node 3"); !strings.Contains(err.Error(), "addressed to node 2") {
		t.Fatalf("err = %v", err)
	}
	n1.AddPeer(3, n3.Addr().String())
	await(t, n1.connected, "connection to 3")
	n1.Send(3, hb(3, 2))
	if got := await(t, n3.inbox, "message to 3"); got.Term != 2 {
		t.Fatalf("Term = %d", got.Term)
	}
	n1.RemovePeer(3)
	n1.RemovePeer(2)
	n1.Send(3, hb(3, 3))
	if s := n1.Stats(); len(s.Peers) != 0 || s.DroppedUnknownPeer != 1 {
		t.Fatalf("after RemovePeer: %d peers, %d unknown-peer drops; want 0, 1", len(s.Peers), s.DroppedUnknownPeer)
	}
}

func TestTransportCloseAndConfig(t *testing.T) {
	n1 := newNode(t, 1, func(c *Config) { c.Peers = map[consensus.NodeID]string{2: "127.0.0.1:1"} })
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	n1.Send(2, make([]consensus.Message, 3))
	if ps := peerStats(t, n1, 2); ps.DroppedMsgs != 3 || ps.QueuedMsgs != 0 {
		t.Fatalf("Send after Close: dropped %d, queued %d; want 3, 0", ps.DroppedMsgs, ps.QueuedMsgs)
	}
	if err := n1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := n1.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v, want ErrClosed", err)
	}
	deliver := func(consensus.Message) {}
	bad := []struct {
		name string
		cfg  Config
		fn   func(consensus.Message)
	}{
		{"zero id", Config{ClusterID: "c"}, deliver},
		{"long cluster id", Config{ID: 1, ClusterID: strings.Repeat("c", 256)}, deliver},
		{"frame limit too big", Config{ID: 1, MaxFrameBytes: 1 << 31}, deliver},
		{"nil deliver", Config{ID: 1}, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, tc.fn); err == nil {
				t.Fatalf("New accepted %+v", tc.cfg)
			}
		})
	}
}

// TestTransportStopsWithContext: cancelling Start's context closes the
// transport: open connections are closed and it cannot be restarted.
func TestTransportStopsWithContext(t *testing.T) {
	tr, err := New(Config{ID: 2, ClusterID: "test", ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		func(consensus.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn := rawPeer(t, &node{Transport: tr}, 1)
	cancel()
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("inbound connection not closed after cancel: %v", err)
	}
	if err := tr.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after cancel: %v, want ErrClosed", err)
	}
}

// TestTransportNewInboundReplacesOld: when a peer redials, its older
// inbound connection (dead or half-open) is closed, so stale connections
// cannot pile up.
func TestTransportNewInboundReplacesOld(t *testing.T) {
	n2 := newNode(t, 2, nil)
	first := rawPeer(t, n2, 1)
	second := rawPeer(t, n2, 1)
	if _, err := first.Read(make([]byte, 1)); err == nil {
		t.Fatalf("older connection still open")
	}
	msg := consensus.Message{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 4}
	if _, err := second.Write(appendFrame(nil, frameBatch, AppendMessage(nil, &msg))); err != nil {
		t.Fatal(err)
	}
	if got := await(t, n2.inbox, "message on the newer connection"); got.Term != 4 {
		t.Fatalf("Term = %d", got.Term)
	}
	if err := await(t, n2.closed, "the older reader to end"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("older reader ended with %v, want net.ErrClosed", err)
	}
}

// TestTransportStalledPeer: a peer that completes the handshake and then
// never reads fills the socket and blocks the sender's write. Send must
// still return at once (dropping when the queue is full), and changing the
// peer's address or closing must not wait for the write timeout.
func TestTransportStalledPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshaken := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		hs := handshaker{hc: &handshakeConfig{self: 2, clusterID: "test", version: protocolVersion}, w: conn, fr: &frameReader{r: conn}}
		if _, err := hs.accept(); err != nil {
			conn.Close()
			return
		}
		handshaken <- conn // and never read from it
	}()
	n1 := newNode(t, 1, func(c *Config) {
		c.QueueLen = 8
		c.WriteTimeout = time.Hour
		c.Peers = map[consensus.NodeID]string{2: ln.Addr().String()}
	})
	stalled := await(t, handshaken, "the stalled peer's handshake")
	defer stalled.Close()
	big := consensus.Message{Type: consensus.MsgSnap, From: 1, To: 2, Data: make([]byte, 1<<20)}
	for range 64 { // 64 MiB: far beyond what loopback socket buffers hold
		n1.Send(2, []consensus.Message{big})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			n1.Send(2, []consensus.Message{big})
		}
		n1.AddPeer(2, "127.0.0.1:1") // restart the sender
		n1.Close()
	}()
	await(t, done, "Send, AddPeer and Close with a stalled peer")
	if ps := peerStats(t, n1, 2); ps.DroppedMsgs == 0 {
		t.Fatalf("no drops although the peer never read")
	}
}

// TestTransportHandshakeTimeouts: a side that goes silent during the
// handshake is dropped after HandshakeTimeout, on both sides.
func TestTransportHandshakeTimeouts(t *testing.T) {
	short := func(c *Config) { c.HandshakeTimeout = 50 * time.Millisecond }
	t.Run("silent dialer", func(t *testing.T) {
		n2 := newNode(t, 2, short)
		conn, err := net.Dial("tcp", n2.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("read = %v, want io.EOF (the acceptor hung up)", err)
		}
		if !strings.Contains(n2.logs.String(), "inbound handshake failed") {
			t.Fatalf("timeout not logged:\n%s", n2.logs.String())
		}
	})
	t.Run("silent acceptor", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c // held open, never answered
			}
		}()
		newNode(t, 1, func(c *Config) {
			short(c)
			c.Peers = map[consensus.NodeID]string{2: ln.Addr().String()}
		})
		first := await(t, accepted, "the first dial")
		defer first.Close()
		second := await(t, accepted, "a redial after the handshake timed out")
		defer second.Close()
		if _, err := first.Read(make([]byte, 64)); err != nil {
			t.Fatalf("the first connection carried no hello: %v", err)
		}
	})
}

// bufferConn records writes.
type bufferConn struct {
	net.Conn
	written bytes.Buffer
	writes  int
}

func (c *bufferConn) Write(p []byte) (int, error)      { c.writes++; return c.written.Write(p) }
func (c *bufferConn) SetWriteDeadline(time.Time) error { return nil }

// TestWriteBatchFraming checks the sender's framing directly: every frame
// within the limit, messages in order, oversized ones dropped wherever they
// sit in the batch, and one write per batch.
func TestWriteBatchFraming(t *testing.T) {
	const frameMax = 1024
	msg := func(index uint64, dataBytes int) consensus.Message {
		return consensus.Message{Type: consensus.MsgApp, From: 1, To: 2, Index: index, Data: make([]byte, dataBytes)}
	}
	fits := 0 // the largest Data that fills a frame exactly
	for m := msg(1, fits+1); 1+MessageSize(&m) <= frameMax; m = msg(1, fits+1) {
		fits++
	}
	tests := []struct {
		name        string
		batch       []consensus.Message
		wantIndexes []uint64
		wantFrames  int
	}{
		{"one small", []consensus.Message{msg(1, 10)}, []uint64{1}, 1},
		{"huge alone", []consensus.Message{msg(1, frameMax)}, nil, 0},
		{"huge first", []consensus.Message{msg(1, frameMax), msg(2, 10)}, []uint64{2}, 1},
		{"huge between", []consensus.Message{msg(1, 10), msg(2, frameMax), msg(3, 10)}, []uint64{1, 3}, 1},
		{"huge last", []consensus.Message{msg(1, 10), msg(2, 2*frameMax)}, []uint64{1}, 1},
		{"spills to a second frame", []consensus.Message{msg(1, 600), msg(2, 600), msg(3, 10)}, []uint64{1, 2, 3}, 2},
		{"exactly at the limit", []consensus.Message{msg(1, fits)}, []uint64{1}, 1},
		{"one byte over the limit", []consensus.Message{msg(1, fits+1)}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Transport{cfg: Config{ID: 1, MaxFrameBytes: frameMax, WriteTimeout: time.Second}}
			s := sender{t: tr, p: &peer{id: 2}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			conn := &bufferConn{}
			if err := s.writeBatch(conn, tc.batch); err != nil {
				t.Fatal(err)
			}
			if want := min(1, len(tc.wantIndexes)); conn.writes != want {
				t.Fatalf("%d writes, want %d", conn.writes, want)
			}
			fr := frameReader{r: &conn.written}
			var got []uint64
			frames := 0
			for {
				typ, payload, err := fr.readFrame(frameMax)
				if err == io.EOF {
					break
				}
				if err != nil || typ != frameBatch {
					t.Fatalf("frame %d: type %d, err %v", frames, typ, err)
				}
				frames++
				for len(payload) > 0 {
					var m consensus.Message
					n, err := DecodeMessage(payload, &m)
					if err != nil {
						t.Fatal(err)
					}
					payload = payload[n:]
					got = append(got, m.Index)
				}
			}
			if !reflect.DeepEqual(got, tc.wantIndexes) || frames != tc.wantFrames {
				t.Fatalf("got messages %v in %d frames, want %v in %d", got, frames, tc.wantIndexes, tc.wantFrames)
			}
			wantDropped := uint64(len(tc.batch) - len(tc.wantIndexes))
			if s.p.droppedMsgs.Load() != wantDropped || s.p.sentMsgs.Load() != uint64(len(tc.wantIndexes)) {
				t.Fatalf("dropped %d sent %d; want %d %d", s.p.droppedMsgs.Load(), s.p.sentMsgs.Load(), wantDropped, len(tc.wantIndexes))
			}
		})
	}
}

// TestTransportRedialsAPeerThatConnectsToUs: a sender deep in its reconnect
// backoff dials at once when the peer connects to us, so a restarted
// follower hears from its leader without waiting out the backoff.
func TestTransportRedialsAPeerThatConnectsToUs(t *testing.T) {
	n1, n2 := pair(t, func(c *Config) {
		c.ReconnectBackoffMin, c.ReconnectBackoffMax = 20*time.Second, 20*time.Second
	}, nil)
	addr := n2.Addr().String()
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	// Node 1's sender fails and now waits 15-25 s before its next dial.
	n1.Send(2, []consensus.Message{{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 1}})
	time.Sleep(100 * time.Millisecond)
	// Node 2 restarts and dials node 1 for its own sends.
	n2b := newNode(t, 2, func(c *Config) {
		c.ListenAddr = addr
		c.Peers = map[consensus.NodeID]string{1: n1.Addr().String()}
	})
	n2b.Send(1, []consensus.Message{{Type: consensus.MsgHeartbeatResp, From: 2, To: 1, Term: 1}})
	start := time.Now()
	if got := await(t, n1.connected, "node 1 to redial node 2"); got != 2 {
		t.Fatalf("connected to %d, want 2", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("redial took %v: the backoff was not cut short", took)
	}
}
