package transport

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/raftkv/raftkv/consensus"
)

const (
	// protocolVersion is the version this code speaks; a peer that offers
	// another one is refused (there is only one so far).
	protocolVersion uint16 = 1
	// handshakeFrameBytesMax bounds every frame read before the peer is
	// known, so that an unauthenticated dialer cannot make us allocate.
	handshakeFrameBytesMax = 512
	// clusterIDBytesMax bounds the cluster id (it travels with a 1-byte
	// length).
	clusterIDBytesMax = 255
	// refuseReasonBytesMax bounds the reason text of a refusal.
	refuseReasonBytesMax = 200
	nonceBytes           = 32
	proofBytes           = sha256.Size
	helloFlagSecret      = 1 << 0
)

// handshakeMagic opens every hello: "RKVP" (raftkv peer).
var handshakeMagic = [4]byte{'R', 'K', 'V', 'P'}

// Labels bind each proof to its direction, so that a proof sent by one side
// can never be replayed as the other side's.
const (
	proofLabelDialer   = "raftkv transport v1 dialer proof"
	proofLabelAcceptor = "raftkv transport v1 acceptor proof"
)

// ErrHandshakeRefused is wrapped by every handshake failure that is a
// refusal (by this side or the peer) rather than an I/O error.
var ErrHandshakeRefused = errors.New("transport: handshake refused")

// handshakeConfig is what one side brings to a handshake.
type handshakeConfig struct {
	self      consensus.NodeID
	clusterID string
	secret    []byte // empty: no secret configured
	version   uint16 // protocolVersion outside tests
}

// hello is the first frame each side sends (frameHello from the dialer,
// frameHelloAck from the acceptor; the latter adds a proof).
type hello struct {
	version   uint16
	hasSecret bool
	from, to  consensus.NodeID
	nonce     [nonceBytes]byte
	clusterID string
	proof     []byte // frameHelloAck only: 0 or proofBytes bytes
}

func appendHello(dst []byte, h *hello, withProof bool) []byte {
	dst = append(dst, handshakeMagic[:]...)
	dst = binary.BigEndian.AppendUint16(dst, h.version)
	var flags byte
	if h.hasSecret {
		flags |= helloFlagSecret
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.from))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.to))
	dst = append(dst, h.nonce[:]...)
	dst = append(dst, byte(len(h.clusterID)))
	dst = append(dst, h.clusterID...)
	if withProof {
		dst = append(dst, byte(len(h.proof)))
		dst = append(dst, h.proof...)
	}
	return dst
}

// decodeHello parses a hello payload. A bad magic or version is reported
// before the rest is read, since another version may lay it out otherwise.
func decodeHello(p []byte, withProof bool) (hello, error) {
	var h hello
	if len(p) < 6 {
		return h, fmt.Errorf("%w: hello of %d bytes is shorter than magic and version", ErrMalformed, len(p))
	}
	if [4]byte(p[:4]) != handshakeMagic {
		return h, fmt.Errorf("%w: bad magic %q at byte 0", ErrMalformed, p[:4])
	}
	h.version = binary.BigEndian.Uint16(p[4:6])
	if h.version != protocolVersion {
		return h, nil // the caller refuses the version by name
	}
	const fixedBytes = 4 + 2 + 1 + 8 + 8 + nonceBytes + 1
	if len(p) < fixedBytes {
		return h, fmt.Errorf("%w: hello of %d bytes, want at least %d", ErrMalformed, len(p), fixedBytes)
	}
	flags := p[6]
	if flags&^helloFlagSecret != 0 {
		return h, fmt.Errorf("%w: unknown hello flags %#x at byte 6", ErrMalformed, flags)
	}
	h.hasSecret = flags&helloFlagSecret != 0
	h.from = consensus.NodeID(binary.BigEndian.Uint64(p[7:15]))
	h.to = consensus.NodeID(binary.BigEndian.Uint64(p[15:23]))
	copy(h.nonce[:], p[23:23+nonceBytes])
	off := 23 + nonceBytes
	n := int(p[off])
	off++
	if len(p)-off < n {
		return h, fmt.Errorf("%w: cluster id of %d bytes at byte %d overruns the %d-byte hello", ErrMalformed, n, off, len(p))
	}
	h.clusterID = string(p[off : off+n])
	off += n
	if withProof {
		if off >= len(p) {
			return h, fmt.Errorf("%w: hello ack ends before the proof length at byte %d", ErrMalformed, off)
		}
		n := int(p[off])
		off++
		if n != 0 && n != proofBytes {
			return h, fmt.Errorf("%w: proof of %d bytes at byte %d, want 0 or %d", ErrMalformed, n, off-1, proofBytes)
		}
		if len(p)-off < n {
			return h, fmt.Errorf("%w: proof of %d bytes at byte %d overruns the %d-byte hello", ErrMalformed, n, off, len(p))
		}
		if n > 0 {
			h.proof = p[off : off+n]
		}
		off += n
	}
	if off != len(p) {
		return h, fmt.Errorf("%w: %d trailing bytes after hello at byte %d", ErrMalformed, len(p)-off, off)
	}
	return h, nil
}

// handshakeProof is HMAC-SHA256(secret, label || nonce || prover || verifier
// || clusterID): the prover shows it knows the secret by keying the
// verifier's fresh nonce; the ids and cluster id pin the proof to this pair
// of nodes in this cluster. The secret itself never crosses the wire.
func handshakeProof(secret []byte, label string, nonce *[nonceBytes]byte, prover, verifier consensus.NodeID, clusterID string) []byte {
	mac := hmac.New(sha256.New, secret)
	var ids [16]byte
	binary.BigEndian.PutUint64(ids[:8], uint64(prover))
	binary.BigEndian.PutUint64(ids[8:], uint64(verifier))
	mac.Write([]byte(label))
	mac.Write(nonce[:])
	mac.Write(ids[:])
	mac.Write([]byte(clusterID))
	return mac.Sum(nil)
}

// checkPeerHello applies the rules both sides share: same version, same
// cluster, addressed to us, from the node we expect (any other node when
// wantFrom is None), and the same choice about the secret.
func (hc *handshakeConfig) checkPeerHello(h *hello, wantFrom consensus.NodeID) string {
	switch {
	case h.version != hc.version:
		return fmt.Sprintf("protocol version %d not supported (speaking %d)", h.version, hc.version)
	case h.clusterID != hc.clusterID:
		return fmt.Sprintf("cluster id %q is not ours (%q)", h.clusterID, hc.clusterID)
	case h.to != hc.self:
		return fmt.Sprintf("hello addressed to node %d, but this is node %d", h.to, hc.self)
	case h.from == consensus.None || h.from == hc.self:
		return fmt.Sprintf("hello from invalid node id %d", h.from)
	case wantFrom != consensus.None && h.from != wantFrom:
		return fmt.Sprintf("expected node %d, got node %d", wantFrom, h.from)
	case h.hasSecret && len(hc.secret) == 0:
		return "peer has a cluster secret but this node has none"
	case !h.hasSecret && len(hc.secret) > 0:
		return "peer has no cluster secret but this node requires one"
	}
	return ""
}

// handshaker runs one side of a handshake on a connection whose deadline
// the caller has set.
type handshaker struct {
	hc  *handshakeConfig
	w   io.Writer
	fr  *frameReader
	buf []byte
	// admit, when set, is called by the acceptor with the authenticated
	// peer just before it sends accept, so that whatever it records
	// happens before the dialer can send (or redial).
	admit func(consensus.NodeID)
}

func (hs *handshaker) send(typ byte, payload []byte) error {
	hs.buf = appendFrame(hs.buf[:0], typ, payload)
	if _, err := hs.w.Write(hs.buf); err != nil {
		return fmt.Errorf("transport: handshake: writing frame type %d: %w", typ, err)
	}
	return nil
}

// refuse tells the peer why (best effort) and returns the refusal as an
// error.
func (hs *handshaker) refuse(reason string) error {
	if len(reason) > refuseReasonBytesMax {
		reason = reason[:refuseReasonBytesMax]
	}
	_ = hs.send(frameRefuse, []byte(reason)) // the refusal stands even if the peer is gone
	return fmt.Errorf("%w: %s", ErrHandshakeRefused, reason)
}

// read reads the next handshake frame, which must be of type want or a
// refusal by the peer.
func (hs *handshaker) read(want byte) ([]byte, error) {
	typ, payload, err := hs.fr.readFrame(handshakeFrameBytesMax)
	if err != nil {
		return nil, fmt.Errorf("transport: handshake: %w", err)
	}
	switch typ {
	case want:
		return payload, nil
	case frameRefuse:
		if len(payload) > refuseReasonBytesMax {
			payload = payload[:refuseReasonBytesMax]
		}
		return nil, fmt.Errorf("%w by peer: %q", ErrHandshakeRefused, payload)
	}
	return nil, hs.refuse(fmt.Sprintf("handshake frame of type %d where type %d was due", typ, want))
}

func newNonce() ([nonceBytes]byte, error) {
	var n [nonceBytes]byte
	if _, err := rand.Read(n[:]); err != nil {
		return n, fmt.Errorf("transport: handshake nonce: %w", err)
	}
	return n, nil
}

// dial runs the dialer's side: hello, check the acceptor's hello and proof,
// send our proof, wait for acceptance.
func (hs *handshaker) dial(peer consensus.NodeID) error {
	hc := hs.hc
	mine := hello{version: hc.version, hasSecret: len(hc.secret) > 0, from: hc.self, to: peer, clusterID: hc.clusterID}
	var err error
	if mine.nonce, err = newNonce(); err != nil {
		return err
	}
	if err := hs.send(frameHello, appendHello(nil, &mine, false)); err != nil {
		return err
	}
	payload, err := hs.read(frameHelloAck)
	if err != nil {
		return err
	}
	theirs, err := decodeHello(payload, true)
	if err != nil {
		return hs.refuse(err.Error())
	}
	if reason := hc.checkPeerHello(&theirs, peer); reason != "" {
		return hs.refuse(reason)
	}
	var proof []byte
	if len(hc.secret) > 0 {
		want := handshakeProof(hc.secret, proofLabelAcceptor, &mine.nonce, peer, hc.self, hc.clusterID)
		if !hmac.Equal(want, theirs.proof) {
			return hs.refuse("wrong cluster secret (acceptor's proof does not verify)")
		}
		proof = handshakeProof(hc.secret, proofLabelDialer, &theirs.nonce, hc.self, peer, hc.clusterID)
	}
	if err := hs.send(frameProof, append([]byte{byte(len(proof))}, proof...)); err != nil {
		return err
	}
	if _, err := hs.read(frameAccept); err != nil {
		return err
	}
	return nil
}

// accept runs the acceptor's side and returns the authenticated peer id.
func (hs *handshaker) accept() (consensus.NodeID, error) {
	hc := hs.hc
	payload, err := hs.read(frameHello)
	if err != nil {
		return consensus.None, err
	}
	theirs, err := decodeHello(payload, false)
	if err != nil {
		return consensus.None, hs.refuse(err.Error())
	}
	if reason := hc.checkPeerHello(&theirs, consensus.None); reason != "" {
		return consensus.None, hs.refuse(reason)
	}
	peer := theirs.from
	mine := hello{version: hc.version, hasSecret: len(hc.secret) > 0, from: hc.self, to: peer, clusterID: hc.clusterID}
	if mine.nonce, err = newNonce(); err != nil {
		return consensus.None, err
	}
	if len(hc.secret) > 0 {
		mine.proof = handshakeProof(hc.secret, proofLabelAcceptor, &theirs.nonce, hc.self, peer, hc.clusterID)
	}
	if err := hs.send(frameHelloAck, appendHello(nil, &mine, true)); err != nil {
		return consensus.None, err
	}
	payload, err = hs.read(frameProof)
	if err != nil {
		return consensus.None, err
	}
	if len(payload) == 0 || int(payload[0]) != len(payload)-1 {
		return consensus.None, hs.refuse(fmt.Sprintf("proof frame of %d bytes is malformed", len(payload)))
	}
	if len(hc.secret) > 0 {
		want := handshakeProof(hc.secret, proofLabelDialer, &mine.nonce, peer, hc.self, hc.clusterID)
		if !hmac.Equal(want, payload[1:]) {
			return consensus.None, hs.refuse("wrong cluster secret (dialer's proof does not verify)")
		}
	}
	if hs.admit != nil {
		hs.admit(peer)
	}
	if err := hs.send(frameAccept, nil); err != nil {
		return consensus.None, err
	}
	return peer, nil
}
