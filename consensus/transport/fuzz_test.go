package transport

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// FuzzDecodeMessage: any input either fails to decode or decodes to a
// message whose encoding decodes to the same message (the encoding is
// canonical up to over-long varints, which the decoder tolerates).
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{byte(consensus.MsgHeartbeat), 1, 2, 3, 0, 0, 9, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0})
	for typ := consensus.MsgPreVote; typ.Valid(); typ++ {
		m := consensus.Message{Type: typ, From: 1, To: 2, Term: uint64(typ), Index: 300, Reject: typ%2 == 0,
			Entries:  []consensus.Entry{{Term: 1, Index: 2, Type: consensus.EntryNoop, TimeMs: -5, Data: []byte("d")}},
			Snapshot: consensus.SnapshotMeta{Index: 9, Term: 2, ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2}, Learners: []consensus.NodeID{4}}},
			Data:     []byte("chunk"), SnapDone: true}
		f.Add(AppendMessage(nil, &m))
	}
	app := appMessage()
	f.Add(AppendMessage(nil, &app))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m consensus.Message
		n, err := DecodeMessage(data, &m)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with %d bytes used", err, n)
			}
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("used %d of %d bytes", n, len(data))
		}
		enc := AppendMessage(nil, &m)
		if len(enc) != MessageSize(&m) {
			t.Fatalf("MessageSize %d, encoding %d", MessageSize(&m), len(enc))
		}
		if len(enc) > n {
			t.Fatalf("re-encoding is %d bytes, longer than the %d decoded", len(enc), n)
		}
		var again consensus.Message
		if _, err := DecodeMessage(enc, &again); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("decode(encode(m)) != m:\n%+v\n%+v", m, again)
		}
	})
}

// FuzzReadFrame feeds a stream to the frame reader and the batch decoder,
// as an authenticated peer's bytes would reach them: no panic, and nothing
// allocated beyond the limit.
func FuzzReadFrame(f *testing.F) {
	hb := consensus.Message{Type: consensus.MsgHeartbeat, From: 1, To: 2, Commit: 5}
	app := appMessage()
	f.Add(appendFrame(nil, frameBatch, AppendMessage(nil, &hb)))
	f.Add(appendFrame(nil, frameBatch, AppendMessage(AppendMessage(nil, &hb), &app)))
	f.Add(appendFrame(appendFrame(nil, frameAccept, nil), frameBatch, nil))
	f.Add([]byte{0x80, 0, 0, 0, frameBatch})
	f.Add([]byte{0, 0, 0, 0, frameBatch})
	const frameBytesMax = 1 << 16
	tr := &Transport{cfg: Config{ID: 2}, deliver: func(consensus.Message) {}}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{r: bytes.NewReader(data)}
		for {
			typ, payload, err := fr.readFrame(frameBytesMax)
			if err != nil {
				return
			}
			if len(payload) >= frameBytesMax {
				t.Fatalf("payload of %d bytes over the %d limit", len(payload), frameBytesMax)
			}
			if typ == frameBatch {
				if err := tr.deliverBatch(payload, 1); err != nil {
					return
				}
			}
		}
	})
}

// FuzzHandshakeAccept plays arbitrary bytes as the dialer against the
// acceptor's side of the handshake (with and without a secret): no panic,
// and no acceptance without a valid proof.
func FuzzHandshakeAccept(f *testing.F) {
	h := hello{version: protocolVersion, from: 1, to: 2, clusterID: "c"}
	helloFrame := appendFrame(nil, frameHello, appendHello(nil, &h, false))
	f.Add(helloFrame, false)
	f.Add(appendFrame(helloFrame, frameProof, []byte{0}), false)
	f.Add(appendFrame(helloFrame, frameProof, append([]byte{32}, make([]byte, 32)...)), true)
	f.Add(appendFrame(nil, frameRefuse, []byte("no")), false)
	f.Add([]byte("RKVP"), true)
	f.Fuzz(func(t *testing.T, data []byte, withSecret bool) {
		hc := handshakeConfig{self: 2, clusterID: "c", version: protocolVersion}
		if withSecret {
			hc.secret = []byte("fuzz secret")
		}
		hs := handshaker{hc: &hc, w: io.Discard, fr: &frameReader{r: bytes.NewReader(data)}}
		peer, err := hs.accept()
		if err != nil {
			return
		}
		if withSecret {
			// A proof needs the acceptor's fresh nonce, which the input
			// cannot know.
			t.Fatalf("accepted peer %d without knowing the secret", peer)
		}
		if peer == 2 || peer == consensus.None {
			t.Fatalf("accepted invalid peer id %d", peer)
		}
	})
}

// FuzzHandshakeDial plays arbitrary bytes as the acceptor against the
// dialer's side.
func FuzzHandshakeDial(f *testing.F) {
	h := hello{version: protocolVersion, from: 2, to: 1, clusterID: "c"}
	ack := appendFrame(nil, frameHelloAck, appendHello(nil, &h, true))
	f.Add(appendFrame(ack, frameAccept, nil), false)
	f.Add(ack, true)
	f.Add(appendFrame(nil, frameRefuse, []byte("go away")), false)
	f.Fuzz(func(t *testing.T, data []byte, withSecret bool) {
		hc := handshakeConfig{self: 1, clusterID: "c", version: protocolVersion}
		if withSecret {
			hc.secret = []byte("fuzz secret")
		}
		hs := handshaker{hc: &hc, w: io.Discard, fr: &frameReader{r: bytes.NewReader(data)}}
		if err := hs.dial(2); err == nil && withSecret {
			t.Fatalf("dial succeeded against an acceptor without the secret")
		}
	})
}
