package transport

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// TestTransportWritesInline: with the connection idle, Send writes the
// message itself (InlineWrites) instead of waking the sender goroutine.
func TestTransportWritesInline(t *testing.T) {
	n1, n2 := pair(t, nil, nil)
	const count = 50
	for i := range count + 1 { // the first one may meet the sender just publishing itself
		n1.Send(2, []consensus.Message{{Type: consensus.MsgApp, From: 1, To: 2, Index: uint64(i), Data: []byte("x")}})
		if got := await(t, n2.inbox, "message"); got.Index != uint64(i) {
			t.Fatalf("message %d arrived as %d", i, got.Index)
		}
	}
	ps := peerStats(t, n1, 2)
	if ps.InlineWrites < count || ps.SentMsgs != count+1 || ps.Writes != count+1 {
		t.Fatalf("InlineWrites %d, SentMsgs %d, Writes %d; want >= %d inline of %d", ps.InlineWrites, ps.SentMsgs, ps.Writes, count, count+1)
	}
}

// inlineSender is a sender published on the dialer side of a TCP pair.
func inlineSender(t *testing.T) (s *sender, dialer, acceptor net.Conn) {
	t.Helper()
	d, a := tcpPair(t)
	s = &sender{
		t:   &Transport{cfg: Config{ID: 1, MaxFrameBytes: DefaultMaxFrameBytes, WriteTimeout: 5 * time.Second}},
		p:   &peer{id: 2},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	s.publish(d)
	if s.p.w != s {
		t.Fatal("a TCP connection was not published for inline writes")
	}
	return s, d, a
}

// readIndexes decodes batch frames from r until want messages arrived and
// returns their indexes, checking each one's data. It closes first (if not
// nil) once the first message arrived.
func readIndexes(t *testing.T, r io.Reader, want int, dataBytes int, first chan struct{}) []uint64 {
	t.Helper()
	fr := frameReader{r: r}
	var got []uint64
	for len(got) < want {
		typ, payload, err := fr.readFrame(DefaultMaxFrameBytes)
		if err != nil || typ != frameBatch {
			t.Errorf("frame after %d messages: type %d, err %v", len(got), typ, err)
			return got
		}
		for len(payload) > 0 {
			var m consensus.Message
			n, err := DecodeMessage(payload, &m)
			if err != nil {
				t.Errorf("message %d: %v", len(got), err)
				return got
			}
			payload = payload[n:]
			if !bytes.Equal(m.Data, bytes.Repeat([]byte{byte(m.Index)}, dataBytes)) {
				t.Errorf("message %d: data damaged", m.Index)
			}
			got = append(got, m.Index)
			if len(got) == 1 && first != nil {
				close(first)
			}
		}
	}
	return got
}

// TestInlineWritePendingKeepsTheStream: inline writes into a socket whose
// buffer fills leave the rest pending (never blocking), later inline
// writes queue behind it, and the sender's blocking write delivers every
// byte in order: the receiver decodes every frame intact.
func TestInlineWritePendingKeepsTheStream(t *testing.T) {
	s, dialer, acceptor := inlineSender(t)
	const dataBytes = 64 << 10
	msg := func(i int) []consensus.Message {
		return []consensus.Message{{Type: consensus.MsgApp, From: 1, To: 2, Index: uint64(i), Data: bytes.Repeat([]byte{byte(i)}, dataBytes)}}
	}
	sent := 0
	for ; len(s.pending) == 0; sent++ {
		if sent == 4096 { // 256 MiB: no loopback buffer is that large
			t.Fatal("the socket never filled")
		}
		start := time.Now()
		_ = s.writeBatch(nil, msg(sent), true)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("an inline write took %v: it blocked", d)
		}
	}
	if s.p.inlineWrites.Load() >= uint64(sent) {
		t.Fatalf("%d inline writes of %d batches, though the socket filled", s.p.inlineWrites.Load(), sent)
	}
	// The receiver starts draining: the socket has room again, but bytes
	// are pending, so later inline writes must queue behind them.
	const more = 3
	done := make(chan []uint64, 1)
	first := make(chan struct{})
	go func() { done <- readIndexes(t, acceptor, sent+more, dataBytes, first) }()
	<-first
	for range more {
		_ = s.writeBatch(nil, msg(sent), true)
		sent++
	}
	if err := s.writeQueued(dialer); err != nil {
		t.Fatal(err)
	}
	got := <-done
	for i, idx := range got {
		if idx != uint64(i) {
			t.Fatalf("message %d arrived as %d: order lost", i, idx)
		}
	}
	if len(got) != sent || s.p.sentMsgs.Load() != uint64(sent) || s.p.droppedMsgs.Load() != 0 {
		t.Fatalf("received %d, sent %d, counted sent %d dropped %d", len(got), sent, s.p.sentMsgs.Load(), s.p.droppedMsgs.Load())
	}
}

// TestInlineWriteAfterDeadlinePassed: a write deadline left over from a
// blocking write makes the inline write write nothing (RawConn.Write
// refuses before calling us); the bytes stay pending and the sender's
// next write, with a fresh deadline, sends them.
func TestInlineWriteAfterDeadlinePassed(t *testing.T) {
	s, dialer, acceptor := inlineSender(t)
	if err := dialer.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = s.writeBatch(nil, []consensus.Message{{Type: consensus.MsgApp, From: 1, To: 2, Index: 7, Data: []byte{7, 7}}}, true)
	if len(s.pending) == 0 || s.p.inlineWrites.Load() != 0 {
		t.Fatalf("pending %d bytes, %d inline writes: want the frame pending", len(s.pending), s.p.inlineWrites.Load())
	}
	done := make(chan []uint64, 1)
	go func() { done <- readIndexes(t, acceptor, 1, 2, nil) }()
	if err := s.writeQueued(dialer); err != nil {
		t.Fatal(err)
	}
	if got := <-done; len(got) != 1 || got[0] != 7 {
		t.Fatalf("received %v, want [7]", got)
	}
}
