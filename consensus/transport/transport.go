package transport

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/consensus"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxFrameBytes       = 64 << 20
	DefaultQueueLen            = 4096
	DefaultDialTimeout         = 2 * time.Second
	DefaultHandshakeTimeout    = 2 * time.Second
	DefaultWriteTimeout        = 5 * time.Second
	DefaultReconnectBackoffMin = 50 * time.Millisecond
	DefaultReconnectBackoffMax = 2 * time.Second
	DefaultMaxInboundConns     = 256
)

const (
	// frameSoftBytes: the sender closes a batch frame once its payload
	// passes this size, so that the receiver can deliver the first
	// messages of a large batch before the last ones arrive.
	frameSoftBytes = 1 << 20
	// writeBytesMax: the sender writes its buffer out once it passes this
	// size, bounding the memory held per peer.
	writeBytesMax = 4 << 20
	// readBufferBytes sizes the buffered reader of inbound connections.
	readBufferBytes = 64 << 10
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("transport: closed")

// Config configures a Transport. Zero durations and sizes take the defaults
// above.
type Config struct {
	// ID is this node's id (non-zero).
	ID consensus.NodeID
	// ClusterID names the cluster; nodes of other clusters are refused.
	ClusterID string
	// Secret, when set, must be shared by all nodes: each connection proves
	// it with an HMAC-SHA256 challenge. Empty: no authentication (then the
	// peer id in the handshake is taken on trust).
	Secret string
	// ListenAddr is where Start listens ("127.0.0.1:0" picks a port).
	ListenAddr string
	// Peers maps the ids of the other nodes to their addresses.
	Peers map[consensus.NodeID]string
	// MaxFrameBytes bounds one frame (type+payload) both ways. A message
	// that does not fit is dropped on send; a longer frame received closes
	// the connection. It must exceed the largest MsgApp/MsgSnap the node
	// builds.
	MaxFrameBytes int
	// QueueLen bounds each peer's send queue, in messages. When it is full
	// Send drops and counts (Raft retries).
	QueueLen int
	// DialTimeout bounds a TCP connect; HandshakeTimeout the whole
	// handshake on both sides; WriteTimeout each batched write.
	DialTimeout, HandshakeTimeout, WriteTimeout time.Duration
	// ReconnectBackoffMin/Max bound the delay between dial attempts, which
	// doubles from Min up to Max and is jittered by ±25%.
	ReconnectBackoffMin, ReconnectBackoffMax time.Duration
	// MaxInboundConns bounds concurrent inbound connections (counting
	// those still in handshake).
	MaxInboundConns int
	// Logger receives connection events; nil means slog.Default(). The
	// transport adds component=transport; the caller names the node.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MaxInboundConns <= 0 {
		c.MaxInboundConns = DefaultMaxInboundConns
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.ReconnectBackoffMin, DefaultReconnectBackoffMin)
	def(&c.ReconnectBackoffMax, DefaultReconnectBackoffMax)
	if c.ReconnectBackoffMax < c.ReconnectBackoffMin {
		c.ReconnectBackoffMax = c.ReconnectBackoffMin
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// PeerStats counts one peer's outbound traffic.
type PeerStats struct {
	ID   consensus.NodeID
	Addr string
	// SentMsgs were written to the socket (not necessarily received).
	SentMsgs uint64
	// DroppedMsgs were lost: queue full, too large for a frame, or in a
	// write that failed.
	DroppedMsgs uint64
	// Writes counts batched socket writes (SentMsgs/Writes is the batch
	// size).
	Writes uint64
	// Reconnects counts connections established after the first.
	Reconnects uint64
	// RefusedHandshakes counts outbound handshakes refused by either side.
	RefusedHandshakes uint64
	Connected         bool
	QueuedMsgs        int
}

// Stats is a snapshot of the transport's counters.
type Stats struct {
	Peers []PeerStats // sorted by ID
	// RefusedInbound counts inbound handshakes refused by either side.
	RefusedInbound uint64
	// ReceivedMsgs were delivered to the node.
	ReceivedMsgs uint64
	// DroppedUnknownPeer were sent to an id with no address.
	DroppedUnknownPeer uint64
	// InboundConns is the number of open inbound connections.
	InboundConns int
}

// Transport carries consensus messages between peers over TCP. It is safe
// for concurrent use. See the package documentation for the model.
type Transport struct {
	cfg     Config
	hc      handshakeConfig
	deliver func(consensus.Message)
	log     *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex // guards the fields below
	peers   map[consensus.NodeID]*peer
	inbound map[net.Conn]struct{}
	// inboundByPeer is the newest authenticated inbound connection of each
	// peer; an older one is closed when a newer one arrives (the peer
	// redialled, so the old one is dead or half-open).
	inboundByPeer map[consensus.NodeID]net.Conn
	ln            net.Listener
	started       bool
	closed        bool

	refusedInbound     atomic.Uint64
	receivedMsgs       atomic.Uint64
	droppedUnknownPeer atomic.Uint64

	hooks testHooks
}

// testHooks let tests wait for events instead of polling; all nil in
// production. They are set before Start and called from transport
// goroutines.
type testHooks struct {
	connected func(peer consensus.NodeID)            // a sender's handshake succeeded
	refused   func(inbound bool, err error)          // a handshake was refused
	closed    func(peer consensus.NodeID, err error) // an inbound connection ended
	wrote     func(peer consensus.NodeID, msgs int)  // a batched write succeeded
}

// peer is one destination: its queue and its sender goroutine.
type peer struct {
	id consensus.NodeID

	mu     sync.Mutex
	addr   string
	queue  []consensus.Message // bounded by Config.QueueLen
	notify chan struct{}       // capacity 1: "the queue is not empty"
	// redial (capacity 1) cuts a reconnect backoff short: the peer just
	// connected to us, so it is up again and worth dialling at once.
	redial chan struct{}

	cancel context.CancelFunc // stops the sender
	done   chan struct{}      // closed when the sender has returned

	sentMsgs, droppedMsgs, writes, reconnects, refused atomic.Uint64
	connected                                          atomic.Bool
}

// New checks cfg and returns a Transport that delivers inbound messages to
// deliver, which is called from one goroutine per inbound connection (so
// concurrently) and may block briefly; a blocked deliver stalls only that
// connection. Nothing runs until Start.
func New(cfg Config, deliver func(consensus.Message)) (*Transport, error) {
	cfg.setDefaults()
	switch {
	case cfg.ID == consensus.None:
		return nil, errors.New("transport: config: ID must be non-zero")
	case len(cfg.ClusterID) > clusterIDBytesMax:
		return nil, fmt.Errorf("transport: config: ClusterID of %d bytes exceeds %d", len(cfg.ClusterID), clusterIDBytesMax)
	case cfg.MaxFrameBytes > 1<<31-1:
		return nil, fmt.Errorf("transport: config: MaxFrameBytes %d does not fit the 31-bit length", cfg.MaxFrameBytes)
	case cfg.MaxFrameBytes < handshakeFrameBytesMax:
		return nil, fmt.Errorf("transport: config: MaxFrameBytes %d is below %d", cfg.MaxFrameBytes, handshakeFrameBytesMax)
	case deliver == nil:
		return nil, errors.New("transport: deliver callback is nil")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:     cfg,
		hc:      handshakeConfig{self: cfg.ID, clusterID: cfg.ClusterID, secret: []byte(cfg.Secret), version: protocolVersion},
		deliver: deliver,
		log:     cfg.Logger.With("component", "transport"),
		ctx:     ctx,
		cancel:  cancel,
		peers:   make(map[consensus.NodeID]*peer, len(cfg.Peers)),
		inbound: make(map[net.Conn]struct{}),

		inboundByPeer: make(map[consensus.NodeID]net.Conn),
	}
	t.cfg.Peers = nil // owned by t.peers from now on
	for id, addr := range cfg.Peers {
		if id == cfg.ID || id == consensus.None {
			continue
		}
		t.peers[id] = t.newPeer(id, addr)
	}
	return t, nil
}

func (t *Transport) newPeer(id consensus.NodeID, addr string) *peer {
	return &peer{id: id, addr: addr, notify: make(chan struct{}, 1), redial: make(chan struct{}, 1), done: make(chan struct{})}
}

// Start listens on Config.ListenAddr and starts the accept loop and one
// sender per peer. It returns once listening; everything stops when ctx is
// cancelled or Close is called.
func (t *Transport) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.started {
		return errors.New("transport: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", t.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("transport: listen on %q: %w", t.cfg.ListenAddr, err)
	}
	t.ln = ln
	t.started = true
	// Tie the caller's ctx to ours: cancelling it closes everything.
	stop := context.AfterFunc(ctx, func() { _ = t.Close() })
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer stop()
		t.acceptLoop(ln)
	}()
	for _, p := range t.peers {
		t.startSender(p, nil)
	}
	t.log.Info("transport listening", "addr", ln.Addr().String(), "peers", len(t.peers))
	return nil
}

// Addr is the listening address (nil before Start).
func (t *Transport) Addr() net.Addr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Send queues msgs for peer to. It never blocks: messages that do not fit
// in the peer's queue, for an unknown peer, or sent after Close, are
// dropped and counted. The
// transport holds on to msgs' slices until they are written.
func (t *Transport) Send(to consensus.NodeID, msgs []consensus.Message) {
	if len(msgs) == 0 {
		return
	}
	t.mu.RLock()
	p, closed := t.peers[to], t.closed
	t.mu.RUnlock()
	if p == nil {
		t.droppedUnknownPeer.Add(uint64(len(msgs)))
		return
	}
	if closed {
		p.droppedMsgs.Add(uint64(len(msgs)))
		return
	}
	p.mu.Lock()
	room := t.cfg.QueueLen - len(p.queue)
	n := min(room, len(msgs))
	if n > 0 {
		p.queue = append(p.queue, msgs[:n]...)
	}
	p.mu.Unlock()
	if n < len(msgs) {
		p.droppedMsgs.Add(uint64(len(msgs) - n))
	}
	if n > 0 {
		select {
		case p.notify <- struct{}{}:
		default: // already signalled
		}
	}
}

// AddPeer adds a peer, or changes its address (the current connection is
// closed and the next one dials the new address).
func (t *Transport) AddPeer(id consensus.NodeID, addr string) {
	if id == t.cfg.ID || id == consensus.None {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if p := t.peers[id]; p != nil {
		p.mu.Lock()
		changed := p.addr != addr
		p.addr = addr
		p.mu.Unlock()
		if changed && t.started {
			// Restart the sender so that it dials the new address; the
			// queue survives. The new sender waits for the old one to
			// return, so that only one ever drains the queue, and we
			// do not wait here (Send takes t.mu too).
			p.cancel()
			previous := p.done
			p.done = make(chan struct{})
			t.startSender(p, previous)
		}
		return
	}
	p := t.newPeer(id, addr)
	t.peers[id] = p
	if t.started {
		t.startSender(p, nil)
	}
}

// RemovePeer stops sending to id and forgets its queue.
func (t *Transport) RemovePeer(id consensus.NodeID) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	var stop context.CancelFunc
	var done chan struct{}
	if p != nil && t.started {
		stop, done = p.cancel, p.done
	}
	t.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	t.mu.RLock()
	s := Stats{
		Peers:              make([]PeerStats, 0, len(t.peers)),
		RefusedInbound:     t.refusedInbound.Load(),
		ReceivedMsgs:       t.receivedMsgs.Load(),
		DroppedUnknownPeer: t.droppedUnknownPeer.Load(),
		InboundConns:       len(t.inbound),
	}
	for _, p := range t.peers {
		p.mu.Lock()
		ps := PeerStats{ID: p.id, Addr: p.addr, QueuedMsgs: len(p.queue)}
		p.mu.Unlock()
		ps.SentMsgs = p.sentMsgs.Load()
		ps.DroppedMsgs = p.droppedMsgs.Load()
		ps.Writes = p.writes.Load()
		ps.Reconnects = p.reconnects.Load()
		ps.RefusedHandshakes = p.refused.Load()
		ps.Connected = p.connected.Load()
		s.Peers = append(s.Peers, ps)
	}
	t.mu.RUnlock()
	slices.SortFunc(s.Peers, func(a, b PeerStats) int { return cmp.Compare(a.ID, b.ID) })
	return s
}

// Close stops the listener, the senders and the readers, closes every
// connection and waits for all goroutines. Queued messages are dropped.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.cancel()
	var err error
	if t.ln != nil {
		err = t.ln.Close()
	}
	for c := range t.inbound {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("transport: closing listener: %w", err)
	}
	return nil
}

// ---- inbound ----

func (t *Transport) acceptLoop(ln net.Listener) {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off briefly
			// rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		t.mu.Lock()
		if t.closed || len(t.inbound) >= t.cfg.MaxInboundConns {
			full := !t.closed
			t.mu.Unlock()
			if full {
				t.log.Warn("refusing inbound connection: too many", "remote", conn.RemoteAddr().String(), "max", t.cfg.MaxInboundConns)
			}
			_ = conn.Close()
			continue
		}
		t.inbound[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			t.serveInbound(conn)
			t.mu.Lock()
			delete(t.inbound, conn)
			t.mu.Unlock()
			_ = conn.Close()
		}()
	}
}

// serveInbound authenticates a connection, then reads batch frames and
// delivers their messages until the connection fails or the transport
// closes.
func (t *Transport) serveInbound(conn net.Conn) {
	remote := conn.RemoteAddr().String()
	fr := &frameReader{r: bufio.NewReaderSize(conn, readBufferBytes)}
	_ = conn.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	// The peer is registered as soon as it is authenticated, before the
	// dialer learns it was accepted, so that a later redial always finds
	// this connection and closes it, never the other way round.
	admitted := consensus.None
	defer func() {
		if admitted == consensus.None {
			return
		}
		t.mu.Lock()
		if t.inboundByPeer[admitted] == conn {
			delete(t.inboundByPeer, admitted)
		}
		t.mu.Unlock()
	}()
	hs := handshaker{hc: &t.hc, w: conn, fr: fr, admit: func(from consensus.NodeID) {
		admitted = from
		t.mu.Lock()
		older := t.inboundByPeer[from]
		t.inboundByPeer[from] = conn
		t.mu.Unlock()
		if older != nil {
			t.log.Info("inbound connection replaces an older one from the same peer", "peer", uint64(from), "remote", remote)
			_ = older.Close()
		}
	}}
	from, err := hs.accept()
	if err != nil {
		t.log.Warn("inbound handshake failed", "remote", remote, "err", err)
		if errors.Is(err, ErrHandshakeRefused) {
			t.refusedInbound.Add(1)
			if t.hooks.refused != nil {
				t.hooks.refused(true, err)
			}
		}
		return
	}
	_ = conn.SetDeadline(time.Time{})
	log := t.log.With("peer", uint64(from), "remote", remote)
	log.Debug("inbound connection accepted")
	t.wakeSender(from)
	err = t.readLoop(fr, from, log)
	if t.hooks.closed != nil {
		t.hooks.closed(from, err)
	}
}

// readLoop delivers the messages of inbound frames until an error, which it
// logs and returns.
func (t *Transport) readLoop(fr *frameReader, from consensus.NodeID, log *slog.Logger) error {
	for {
		typ, payload, err := fr.readFrame(t.cfg.MaxFrameBytes)
		if err != nil {
			if t.ctx.Err() != nil {
				return err
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				log.Debug("inbound connection closed by peer")
			} else {
				log.Warn("closing inbound connection", "err", err)
			}
			return err
		}
		if typ != frameBatch {
			err := fmt.Errorf("%w: frame type %d after the handshake", ErrMalformed, typ)
			log.Warn("closing inbound connection", "err", err)
			return err
		}
		if err := t.deliverBatch(payload, from); err != nil {
			log.Warn("closing inbound connection", "err", err)
			return err
		}
	}
}

// deliverBatch decodes a batch payload and delivers its messages. A message
// whose From is not the authenticated peer, or whose To is not this node,
// is refused: the handshake proved who the peer is, and the frame may not
// claim otherwise.
func (t *Transport) deliverBatch(payload []byte, from consensus.NodeID) error {
	var delivered uint64
	defer func() { t.receivedMsgs.Add(delivered) }()
	for i := 0; len(payload) > 0; i++ {
		var m consensus.Message
		n, err := DecodeMessage(payload, &m)
		if err != nil {
			return fmt.Errorf("message %d of batch: %w", i, err)
		}
		payload = payload[n:]
		if m.From != from || m.To != t.cfg.ID {
			return fmt.Errorf("%w: message %d (%s) from %d to %d on the connection of peer %d to %d",
				ErrMalformed, i, m.Type, m.From, m.To, from, t.cfg.ID)
		}
		t.deliver(m)
		delivered++
	}
	return nil
}

// ---- outbound ----

// startSender runs p's sender once the previous one (if any) has
// returned; t.mu is held.
func (t *Transport) startSender(p *peer, previous <-chan struct{}) {
	ctx, cancel := context.WithCancel(t.ctx)
	p.cancel = cancel
	done := p.done
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(done)
		if previous != nil {
			<-previous // it was cancelled: it returns promptly
		}
		t.runSender(ctx, p)
	}()
}

// wakeSender cuts short the reconnect backoff of the sender to id: a peer
// that has just completed a handshake with us is up, and a leader should not
// wait out a backoff of up to ReconnectBackoffMax before it hears from us.
func (t *Transport) wakeSender(id consensus.NodeID) {
	t.mu.Lock()
	p := t.peers[id]
	t.mu.Unlock()
	if p == nil || p.connected.Load() {
		return
	}
	select {
	case p.redial <- struct{}{}:
	default:
	}
}

// runSender keeps one connection to p open, reconnecting with jittered
// exponential backoff, and writes p's queue to it.
func (t *Transport) runSender(ctx context.Context, p *peer) {
	log := t.log.With("peer", uint64(p.id))
	// A local source: jitter must not touch global randomness.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(p.id)^uint64(t.cfg.ID)<<32))
	backoff := t.cfg.ReconnectBackoffMin
	// pause waits the jittered backoff (±25% keeps restarted nodes from
	// redialling in step), then doubles it up to the maximum. It reports
	// false when ctx ends first.
	pause := func() bool {
		jittered := backoff - backoff/4 + time.Duration(rng.Int64N(int64(backoff/2)+1))
		timer := time.NewTimer(jittered)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-p.redial:
			backoff = t.cfg.ReconnectBackoffMin
			return true
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, t.cfg.ReconnectBackoffMax)
		return true
	}
	s := sender{t: t, p: p, log: log}
	everConnected := false
	for ctx.Err() == nil {
		conn, err := t.dialPeer(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrHandshakeRefused) {
				p.refused.Add(1)
				log.Warn("outbound handshake refused", "err", err, "retry_in", backoff)
				if t.hooks.refused != nil {
					t.hooks.refused(false, err)
				}
			} else {
				log.Debug("dial failed", "err", err, "retry_in", backoff)
			}
			if !pause() {
				return
			}
			continue
		}
		if everConnected {
			p.reconnects.Add(1)
		}
		everConnected = true
		p.connected.Store(true)
		log.Debug("outbound connection established")
		if t.hooks.connected != nil {
			t.hooks.connected(p.id)
		}
		connectedAt := time.Now()
		err = s.run(ctx, conn)
		p.connected.Store(false)
		_ = conn.Close()
		if ctx.Err() != nil {
			return
		}
		log.Info("outbound connection lost", "err", err)
		// A connection that lived long resets the backoff; one that
		// keeps dying at once (a peer that accepts and then hangs up)
		// backs off like a failed dial instead of spinning.
		if time.Since(connectedAt) > t.cfg.ReconnectBackoffMax {
			backoff = t.cfg.ReconnectBackoffMin
		}
		if !pause() {
			return
		}
	}
}

// dialPeer connects to p and runs the dialer's handshake.
func (t *Transport) dialPeer(ctx context.Context, p *peer) (net.Conn, error) {
	p.mu.Lock()
	addr := p.addr
	p.mu.Unlock()
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial peer %d at %s: %w", p.id, addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	hs := handshaker{hc: &t.hc, w: conn, fr: &frameReader{r: conn}}
	if err := hs.dial(p.id); err != nil {
		stop()
		_ = conn.Close()
		return nil, fmt.Errorf("transport: handshake with peer %d at %s: %w", p.id, addr, err)
	}
	stop()
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// sender holds one peer's reusable buffers.
type sender struct {
	t     *Transport
	p     *peer
	log   *slog.Logger
	buf   []byte
	spare []consensus.Message
}

// run writes queued batches to conn until it fails or ctx ends.
func (s *sender) run(ctx context.Context, conn net.Conn) error {
	// The acceptor never writes after the handshake: a read that returns
	// means the connection is gone, which we learn here rather than at the
	// next write.
	broken := make(chan struct{})
	go func() {
		var b [1]byte
		_, _ = conn.Read(b[:])
		close(broken)
	}()
	// Cancellation (Close, RemovePeer, a new address) closes the
	// connection, which also ends a write blocked on a stalled peer.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		_ = conn.Close()
		<-broken
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-broken:
			return errors.New("connection closed by peer")
		case <-s.p.notify:
		}
		s.p.mu.Lock()
		batch := s.p.queue
		s.p.queue = s.spare[:0]
		s.p.mu.Unlock()
		err := s.writeBatch(conn, batch)
		clear(batch) // release the messages' slices
		s.spare = batch[:0]
		if err != nil {
			return err
		}
	}
}

// writeBatch encodes batch into frames in one buffer and writes it with as
// few writes as writeBytesMax allows (one for any batch below it).
func (s *sender) writeBatch(conn net.Conn, batch []consensus.Message) error {
	frameBytesMax := s.t.cfg.MaxFrameBytes
	buf := s.buf[:0]
	start := -1    // offset of the open frame, -1 when none
	inBuf := 0     // messages encoded in buf
	frameMsgs := 0 // messages in the open frame
	var err error
	flush := func() {
		if start >= 0 {
			buf = endFrame(buf, start)
			start = -1
		}
		if inBuf == 0 {
			return
		}
		_ = conn.SetWriteDeadline(time.Now().Add(s.t.cfg.WriteTimeout))
		if _, werr := conn.Write(buf); werr != nil {
			err = fmt.Errorf("transport: write to peer %d: %w", s.p.id, werr)
			s.p.droppedMsgs.Add(uint64(inBuf))
		} else {
			s.p.sentMsgs.Add(uint64(inBuf))
			s.p.writes.Add(1)
			if s.t.hooks.wrote != nil {
				s.t.hooks.wrote(s.p.id, inBuf)
			}
		}
		buf = buf[:0]
		inBuf = 0
	}
	for i := range batch {
		if err != nil {
			s.p.droppedMsgs.Add(uint64(len(batch) - i))
			break
		}
		m := &batch[i]
		if m.From != s.t.cfg.ID || m.To != s.p.id {
			// The receiver would close the connection over it (it checks
			// both against the handshake): drop just this message.
			s.p.droppedMsgs.Add(1)
			s.log.Warn("dropping misaddressed message", "type", m.Type.String(), "from", uint64(m.From), "to", uint64(m.To))
			continue
		}
		// Encode straight into the open frame (no sizing pass); in the
		// rare case that overflows the frame limit, undo and either move
		// the message to a fresh frame or, alone, drop it.
		if start < 0 {
			buf, start = beginFrame(buf, frameBatch)
			frameMsgs = 0
		}
		before := len(buf)
		buf = AppendMessage(buf, m)
		if len(buf)-start-4 > frameBytesMax {
			size := len(buf) - before
			buf = buf[:before]
			if 1+size > frameBytesMax {
				if frameMsgs == 0 {
					buf = buf[:start] // drop the empty frame too
					start = -1
				}
				s.p.droppedMsgs.Add(1)
				s.log.Warn("dropping message larger than a frame", "type", m.Type.String(), "bytes", size, "max_frame_bytes", frameBytesMax)
				continue
			}
			// It fits alone: close this frame, re-encode in a new one.
			buf = endFrame(buf, start)
			buf, start = beginFrame(buf, frameBatch)
			frameMsgs = 0
			buf = AppendMessage(buf, m)
		}
		frameMsgs++
		inBuf++
		if len(buf)-start >= frameSoftBytes {
			buf = endFrame(buf, start)
			start = -1
		}
		if len(buf) >= writeBytesMax {
			flush()
		}
	}
	if err == nil {
		flush()
	}
	if cap(buf) > 2*writeBytesMax {
		buf = nil // one huge message: do not keep its buffer
	}
	s.buf = buf
	return err
}
