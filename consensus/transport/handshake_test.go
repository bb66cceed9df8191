package transport

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// recordingConn keeps a copy of every byte written through it.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recordingConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written.Bytes())
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (dialer, acceptor net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	dialer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	acceptor, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { dialer.Close(); acceptor.Close() })
	deadline := time.Now().Add(5 * time.Second)
	dialer.SetDeadline(deadline)
	acceptor.SetDeadline(deadline)
	return dialer, acceptor
}

type handshakeResult struct {
	dialErr, acceptErr error
	acceptedPeer       consensus.NodeID
	wire               []byte // both directions
}

func runHandshake(t *testing.T, dialHC, acceptHC handshakeConfig, dialTo consensus.NodeID) handshakeResult {
	t.Helper()
	dc, ac := tcpPair(t)
	drec, arec := &recordingConn{Conn: dc}, &recordingConn{Conn: ac}
	var res handshakeResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs := handshaker{hc: &acceptHC, w: arec, fr: &frameReader{r: ac}}
		res.acceptedPeer, res.acceptErr = hs.accept()
		if res.acceptErr != nil {
			ac.Close() // as the transport does
		}
	}()
	hs := handshaker{hc: &dialHC, w: drec, fr: &frameReader{r: dc}}
	res.dialErr = hs.dial(dialTo)
	if res.dialErr != nil {
		dc.Close()
	}
	<-done
	res.wire = append(drec.bytes(), arec.bytes()...)
	return res
}

func TestHandshake(t *testing.T) {
	const secret = "s3cr3t-cluster-key"
	base := func(id consensus.NodeID, sec string) handshakeConfig {
		return handshakeConfig{self: id, clusterID: "prod", secret: []byte(sec), version: protocolVersion}
	}
	tests := []struct {
		name       string
		dial       handshakeConfig
		accept     handshakeConfig
		dialTo     consensus.NodeID
		wantAccept bool
		wantReason string // in both sides' errors when refused
	}{
		{"no secret", base(1, ""), base(2, ""), 2, true, ""},
		{"same secret", base(1, secret), base(2, secret), 2, true, ""},
		{"wrong cluster id", handshakeConfig{self: 1, clusterID: "staging", version: protocolVersion}, base(2, ""), 2, false, "cluster id"},
		{"wrong receiver id", base(1, ""), base(3, ""), 2, false, "addressed to node 2, but this is node 3"},
		{"bad version", handshakeConfig{self: 1, clusterID: "prod", version: 9}, base(2, ""), 2, false, "protocol version 9 not supported"},
		{"wrong secret", base(1, "other-secret"), base(2, secret), 2, false, "wrong cluster secret"},
		{"missing secret on dialer", base(1, ""), base(2, secret), 2, false, "no cluster secret"},
		{"missing secret on acceptor", base(1, secret), base(2, ""), 2, false, "has a cluster secret but this node has none"},
		{"sender claims receiver id", base(2, ""), base(2, ""), 2, false, "invalid node id 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runHandshake(t, tc.dial, tc.accept, tc.dialTo)
			if tc.wantAccept {
				if res.dialErr != nil || res.acceptErr != nil {
					t.Fatalf("dial err %v, accept err %v; want both nil", res.dialErr, res.acceptErr)
				}
				if res.acceptedPeer != tc.dial.self {
					t.Fatalf("acceptor authenticated node %d, want %d", res.acceptedPeer, tc.dial.self)
				}
			} else {
				for side, err := range map[string]error{"dialer": res.dialErr, "acceptor": res.acceptErr} {
					if !errors.Is(err, ErrHandshakeRefused) {
						t.Fatalf("%s: err = %v, want ErrHandshakeRefused", side, err)
					}
					if !strings.Contains(err.Error(), tc.wantReason) {
						t.Fatalf("%s: err = %q, want reason %q", side, err, tc.wantReason)
					}
				}
			}
			if len(tc.accept.secret) > 0 && bytes.Contains(res.wire, tc.accept.secret) {
				t.Fatalf("the acceptor's secret crossed the wire")
			}
			if len(tc.dial.secret) > 0 && bytes.Contains(res.wire, tc.dial.secret) {
				t.Fatalf("the dialer's secret crossed the wire")
			}
		})
	}
}

// TestHandshakeProofBindsEverything: the proof changes with each input, so
// a proof for one nonce, pair of nodes, direction or cluster is worthless
// for another.
func TestHandshakeProofBindsEverything(t *testing.T) {
	nonce := [nonceBytes]byte{1, 2, 3}
	other := [nonceBytes]byte{1, 2, 4}
	ref := handshakeProof([]byte("k"), proofLabelDialer, &nonce, 1, 2, "c")
	variants := map[string][]byte{
		"secret":    handshakeProof([]byte("K"), proofLabelDialer, &nonce, 1, 2, "c"),
		"direction": handshakeProof([]byte("k"), proofLabelAcceptor, &nonce, 1, 2, "c"),
		"nonce":     handshakeProof([]byte("k"), proofLabelDialer, &other, 1, 2, "c"),
		"ids":       handshakeProof([]byte("k"), proofLabelDialer, &nonce, 2, 1, "c"),
		"cluster":   handshakeProof([]byte("k"), proofLabelDialer, &nonce, 1, 2, "d"),
	}
	for name, p := range variants {
		if bytes.Equal(p, ref) {
			t.Errorf("changing the %s leaves the proof unchanged", name)
		}
	}
}

func TestHelloRoundTrip(t *testing.T) {
	h := hello{version: protocolVersion, hasSecret: true, from: 5, to: 9, nonce: [nonceBytes]byte{9, 8, 7}, clusterID: "c1", proof: bytes.Repeat([]byte{3}, proofBytes)}
	got, err := decodeHello(appendHello(nil, &h, true), true)
	if err != nil {
		t.Fatal(err)
	}
	if got.from != h.from || got.to != h.to || got.nonce != h.nonce || got.clusterID != h.clusterID ||
		!got.hasSecret || !bytes.Equal(got.proof, h.proof) {
		t.Fatalf("got %+v, want %+v", got, h)
	}
	enc := appendHello(nil, &h, false)
	for n := range len(enc) {
		if _, err := decodeHello(enc[:n], false); err == nil {
			t.Fatalf("hello truncated to %d/%d bytes decoded", n, len(enc))
		}
	}
	if _, err := decodeHello(append(enc, 0), false); err == nil {
		t.Fatalf("hello with a trailing byte decoded")
	}
}
