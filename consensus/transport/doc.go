// Package transport carries consensus.Message values between raftkv nodes
// over TCP: framing, a mutually authenticated handshake, one bounded send
// queue and one sender goroutine per peer, reconnects, and delivery of
// inbound messages to the node through a callback. It knows nothing of Raft
// rules: it moves messages, drops them when it must (Raft retries), and
// counts what it dropped.
//
// # Connection model
//
// Each node dials each peer for its own sends and uses inbound connections
// only for reading, so a connection carries traffic one way and there is no
// race over "who dials whom". Per peer there is one queue of at most
// Config.QueueLen messages and one sender goroutine. Send appends under a
// short lock and never blocks: what does not fit is dropped and counted.
// The sender wakes, takes the whole queue at once, encodes it into batch
// frames in one buffer and writes it with one Write call (one syscall for
// any batch under 4 MiB; frames are closed at ~1 MiB so the receiver can
// start delivering early). A failed write drops the batch and reconnects;
// dials back off exponentially from ReconnectBackoffMin to
// ReconnectBackoffMax with ±25% jitter from a per-peer random source, and a
// connection that dies sooner than ReconnectBackoffMax does not reset the
// backoff (a peer that accepts and hangs up is not redialled in a loop).
// A peer that completes an inbound handshake with us is up again, so its
// sender's backoff is cut short and it dials at once: a restarted follower
// hears from its leader within a round trip, not after ReconnectBackoffMax. Every
// write has a deadline (WriteTimeout); the handshake has one on both sides
// (HandshakeTimeout). Messages queued while a peer is unreachable stay
// queued (bounded) and go out when it comes back.
//
// Inbound connections (at most MaxInboundConns) each get a reader goroutine
// that authenticates the peer, then decodes frames and calls deliver for
// each message in order. deliver runs on those goroutines, concurrently for
// different peers, and a slow deliver only slows its own connection (TCP
// back-pressure reaches that peer's sender, whose queue then drops). A
// message whose From is not the authenticated peer, or whose To is not this
// node, closes the connection: the handshake fixed who is talking. The
// sender checks the same before encoding and drops (and logs) such a
// message alone, so a bug upstream costs one message, not the connection.
//
// Only the newest authenticated inbound connection of a peer is kept: the
// acceptor records it before it sends accept, so a redial always closes the
// older (dead or half-open) one and never the newer. TCP keep-alive (Go's
// default, 15 s) reaps connections of peers that vanished without a FIN.
//
// Cancellation is prompt: Close, RemovePeer and an address change in
// AddPeer close the peer's connection, which also ends a write blocked on a
// peer that stopped reading; Send never waits for any of this (the new
// sender waits for the old one to return, not the caller).
//
// Decoded messages alias a buffer allocated for their frame and never
// reused, so the receiver owns Data and Entries[i].Data without a copy (one
// allocation per frame, plus one Entries slice per MsgApp).
//
// Order: messages to one peer leave in Send order and arrive in that order
// on one connection. Across a reconnect, or when the queue overflows,
// messages are lost; Raft tolerates loss and reordering, and this
// transport promises nothing more.
//
// # Why this shape
//
// Raft messages are one-way: a response is just another message, so there
// is no request/response pairing (hashicorp/raft's RPC style) to keep, and
// one-way connections make reconnects independent per direction. Messages
// are batched per frame, not framed one by one, so the checksum and header
// cost is paid per write, and the sender's drain-everything loop turns a
// burst of proposals into one syscall. The queue is a slice under a mutex
// rather than a channel: Send enqueues a whole slice with one lock, the
// sender takes everything with one swap, and the two buffers alternate
// without allocating. Varints and aliasing keep the hot path (heartbeats,
// MsgApp) allocation-free on send and one allocation per frame on receipt.
//
// # Frame (all integers big-endian)
//
//	offset  size  field
//	0       4     length: uint32, bytes of type + payload (>= 1)
//	4       1     type: 1 batch, 2 hello, 3 hello-ack, 4 proof, 5 accept, 6 refuse
//	5       n     payload (length-1 bytes)
//	5+n     4     crc32c (Castagnoli) over type and payload
//
// The length is checked against the limit (MaxFrameBytes after the
// handshake, 512 bytes during it) before anything is allocated; a frame over
// it closes the connection with a logged reason. Within the limit the
// payload buffer grows in 1 MiB steps as bytes arrive, so a peer that
// declares a large frame and stalls costs at most one step more than it
// sent.
//
// # Handshake
//
// The dialer D sends hello; the acceptor A checks it and sends hello-ack
// (or refuse); D checks that and sends proof (or refuse); A checks the proof
// and sends accept (or refuse). Only then does D send batches. A refuse
// payload is a reason text of at most 200 bytes; both sides log the reason,
// count the refusal and close.
//
//	hello payload (type 2):
//	0   4   magic "RKVP"
//	4   2   protocol version (1); checked before the rest is read
//	6   1   flags: bit 0 = a cluster secret is configured; other bits must be 0
//	7   8   sender node id
//	15  8   receiver node id
//	23  32  nonce (crypto/rand)
//	55  1   cluster id length c (<= 255)
//	56  c   cluster id
//	hello-ack payload (type 3): the same layout from A's side, then
//	    1   proof length p (0 without secret, else 32)
//	    p   HMAC-SHA256(secret, "raftkv transport v1 acceptor proof" ||
//	        D's nonce || A's id (8) || D's id (8) || cluster id)
//	proof payload (type 4):
//	0   1   proof length p (0 or 32)
//	1   p   HMAC-SHA256(secret, "raftkv transport v1 dialer proof" ||
//	        A's nonce || D's id (8) || A's id (8) || cluster id)
//	accept payload (type 5): empty
//
// Refused: another magic or version, another cluster id, a receiver id that
// is not ours (the dialer's address book is wrong), a sender id of 0 or
// ours, a dialer that is not the peer we dialed, a secret configured on one
// side only, and a proof that does not verify. Each side proves knowledge of
// the secret over the other's fresh nonce, so a recorded handshake cannot
// be replayed, and the label makes a proof useless in the other direction.
// The secret never crosses the wire. Without a secret, ids are taken on
// trust (the cluster id only guards against misconfiguration).
//
// # Batch payload (type 1)
//
// Messages back to back until the payload ends (no count: the frame length
// delimits them). One message:
//
//	Type        1 byte (must be a valid consensus.MessageType)
//	From        uvarint
//	To          uvarint
//	Term        uvarint
//	LogTerm     uvarint
//	Index       uvarint
//	Commit      uvarint
//	Flags       1 byte: bit 0 Reject, bit 1 SnapDone; other bits must be 0
//	RejectHint  uvarint
//	Context     uvarint
//	Entries     uvarint count, then per entry:
//	              Term uvarint, Index uvarint, Type 1 byte,
//	              TimeMs varint (zig-zag), Data uvarint length + bytes
//	Snapshot    Index uvarint, Term uvarint,
//	            ConfState.Voters uvarint count + uvarint each,
//	            ConfState.Learners uvarint count + uvarint each
//	SnapOffset  uvarint
//	Data        uvarint length + bytes
//
// Varints keep heartbeats and acks at ~15 bytes. The decoder checks every
// count against the bytes left (an entry is at least 5 bytes, a node id 1)
// before allocating, so no count can ask for more items than the frame has
// bytes: allocation is bounded by a constant factor of the frame's size (at
// most 56/5 ≈ 11x for a frame of empty entries, 8x for node ids; byte
// strings alias the frame). Empty lists and byte strings decode as nil. Errors name the field
// and byte offset and wrap ErrMalformed.
//
// # Limits
//
//	MaxFrameBytes    64 MiB   largest frame; a larger message is dropped on send
//	QueueLen         4096     messages per peer queue
//	MaxInboundConns  256      concurrent inbound connections
//	handshake frames 512 B    before the peer is authenticated
//	cluster id       255 B
//	write buffer     4 MiB    per peer, before a write is issued
package transport
