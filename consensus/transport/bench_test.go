package transport

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// counter counts delivered messages and lets a sender wait for a total.
type counter struct {
	mu        sync.Mutex
	cond      sync.Cond
	delivered int
}

func newCounter() *counter {
	c := &counter{}
	c.cond.L = &c.mu
	return c
}

func (c *counter) deliver(consensus.Message) {
	c.mu.Lock()
	c.delivered++
	c.mu.Unlock()
	c.cond.Broadcast()
}

// waitFor blocks until at least n messages were delivered.
func (c *counter) waitFor(n int) {
	c.mu.Lock()
	for c.delivered < n {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// benchPair starts node 2 delivering to c and node 1 connected to it.
func benchPair(b *testing.B, c *counter) *Transport {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	t2, err := New(Config{ID: 2, ListenAddr: "127.0.0.1:0", Logger: quiet}, c.deliver)
	if err != nil {
		b.Fatal(err)
	}
	if err := t2.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { t2.Close() })
	connected := make(chan struct{}, 1)
	t1, err := New(Config{ID: 1, ListenAddr: "127.0.0.1:0", Logger: quiet, Peers: map[consensus.NodeID]string{2: t2.Addr().String()}},
		func(consensus.Message) {})
	if err != nil {
		b.Fatal(err)
	}
	t1.hooks.connected = func(consensus.NodeID) { nonBlockingSend(connected, struct{}{}) }
	if err := t1.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { t1.Close() })
	select {
	case <-connected:
	case <-time.After(testTimeout):
		b.Fatal("no connection")
	}
	return t1
}

// BenchmarkLoopback measures messages/s from one transport to another over
// loopback TCP, sending bursts of 64 messages and keeping at most half a
// queue in flight so that nothing is dropped.
func BenchmarkLoopback(b *testing.B) {
	hb := consensus.Message{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 5, Commit: 1 << 20, Context: 77}
	app := appMessage()
	app.Entries = app.Entries[:1]
	cases := []struct {
		name string
		m    consensus.Message
	}{
		{"heartbeat", hb},
		{"MsgApp-1x100B", app},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := newCounter()
			t1 := benchPair(b, c)
			const burst = 64
			const window = DefaultQueueLen / 2
			msgs := make([]consensus.Message, burst)
			for i := range msgs {
				msgs[i] = tc.m
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for sent < b.N {
				n := min(burst, b.N-sent)
				t1.Send(2, msgs[:n])
				sent += n
				if sent > window {
					c.waitFor(sent - window)
				}
			}
			c.waitFor(b.N)
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			if ps := t1.Stats().Peers[0]; ps.DroppedMsgs != 0 {
				b.Fatalf("%d messages dropped", ps.DroppedMsgs)
			} else {
				b.ReportMetric(float64(ps.SentMsgs)/float64(ps.Writes), "msgs/write")
			}
		})
	}
}

func BenchmarkWriteBatch(b *testing.B) {
	hb := consensus.Message{Type: consensus.MsgHeartbeat, From: 1, To: 2, Term: 5, Commit: 1 << 20}
	batch := make([]consensus.Message, 256)
	for i := range batch {
		batch[i] = hb
	}
	s := sender{t: &Transport{cfg: Config{ID: 1, MaxFrameBytes: DefaultMaxFrameBytes, WriteTimeout: time.Second}}, p: &peer{id: 2}}
	conn := discardConn{}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.writeBatch(conn, batch); err != nil {
			b.Fatal(err)
		}
	}
	if s.p.droppedMsgs.Load() != 0 || s.p.sentMsgs.Load() == 0 {
		b.Fatalf("sent %d, dropped %d", s.p.sentMsgs.Load(), s.p.droppedMsgs.Load())
	}
}

// discardConn is a net.Conn that accepts every write.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkPingPong is Raft's replication pattern: node 1 sends one MsgApp,
// node 2 answers it with a MsgAppResp (from its deliver callback, as a
// node's loop would), and node 1 waits for the answer before the next. It
// reports the process's CPU per round trip (both transports), where the
// goroutine hand-offs show.
func BenchmarkPingPong(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	answered := make(chan struct{}, 1)
	var t2 *Transport
	ack := []consensus.Message{{Type: consensus.MsgAppResp, From: 2, To: 1, Term: 5, Index: 1}}
	t2, err := New(Config{ID: 2, ListenAddr: "127.0.0.1:0", Logger: quiet}, func(consensus.Message) { t2.Send(1, ack) })
	if err != nil {
		b.Fatal(err)
	}
	if err := t2.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { t2.Close() })
	t1, err := New(Config{ID: 1, ListenAddr: "127.0.0.1:0", Logger: quiet, Peers: map[consensus.NodeID]string{2: t2.Addr().String()}},
		func(consensus.Message) { answered <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	connected := make(chan struct{}, 1)
	t1.hooks.connected = func(consensus.NodeID) { nonBlockingSend(connected, struct{}{}) }
	if err := t1.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { t1.Close() })
	t2.AddPeer(1, t1.Addr().String())
	<-connected
	app := appMessage()
	app.Entries = app.Entries[:8]
	msg := []consensus.Message{app}
	round := func() {
		t1.Send(2, msg)
		select {
		case <-answered:
		case <-time.After(testTimeout):
			b.Fatal("no answer")
		}
	}
	round() // both directions connected
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		round()
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(before.Utime) +
		syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(before.Stime))
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
