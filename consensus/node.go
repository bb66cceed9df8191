package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// NodeConfig wires a Node: the core's configuration and the I/O it drives.
type NodeConfig struct {
	// Raft is the core's configuration. StartNode fills Raft.Log,
	// Raft.HardState from Log and State.
	Raft         Config
	Log          LogStorage
	State        StateStorage
	Transport    Transport
	StateMachine StateMachine
	// TickInterval is the wall time of one core tick. Election and heartbeat
	// timeouts in Raft are counted in ticks.
	TickInterval time.Duration
	// BusLen bounds each inbound queue of the loop (proposals, reads,
	// messages). A full proposal queue makes Propose wait (back-pressure); a
	// full message queue drops the message (Raft retries).
	BusLen int
	// EventBatchMax bounds how many events the loop takes before it steps
	// the core's Ready: everything taken in one turn is persisted with one
	// fsync (group commit).
	EventBatchMax int
	Logger        *slog.Logger
	// Spool receives a snapshot from the leader chunk by chunk and makes
	// it durable before the log is reset to start after it (without that a
	// restart would find a log that begins where no local snapshot ends).
	// nil: an in-memory spool, for tests (nothing survives a restart).
	Spool SnapshotSpool
	// Observer, when set, is told how long persistence and proposals take
	// (metrics). Its methods are called from the loop, the persister and
	// the applier, and must not block.
	Observer NodeObserver
	// Now is the wall clock; nil means time.Now. Tests may fake it.
	Now func() time.Time
	// OnMembership, when set, is told every change of the membership in
	// force on this node (see MembershipEvent), once at start and then from
	// the loop, before the messages of the same Ready are sent (a new
	// member's transport peer exists before the first entries go to it).
	// It must not block.
	OnMembership func(MembershipEvent)
	// RequestTimeout, when positive, bounds how long Propose, Read and
	// ReadBarrier wait when their context has no earlier deadline; the
	// caller then gets ErrTimeout. It saves callers a context.WithTimeout
	// (a timer and a context allocated per request) on the hot path: the
	// node arms a timer it recycles with the request.
	RequestTimeout time.Duration
}

// NodeObserver receives timings from a node, for metrics.
type NodeObserver interface {
	// ObservePersist: one batch of entries and hard state made durable.
	ObservePersist(d time.Duration, entries int)
	// ObserveProposal: a proposal from submission to its applied result.
	ObserveProposal(d time.Duration, err error)
}

type nopObserver struct{}

func (nopObserver) ObservePersist(time.Duration, int)    {}
func (nopObserver) ObserveProposal(time.Duration, error) {}

// RaftEvent is what a node announces to subscribers: a change of role,
// term or leader.
type RaftEvent struct {
	NodeID NodeID
	Soft   SoftState
}

// NodeMetrics are the node's live figures, safe to read from any goroutine.
type NodeMetrics struct {
	Role, Term, Leader, Commit, Applied, LastIndex uint64
	Proposals, ProposalsFailed, Reads              uint64
	PersistBatches, PersistEntries                 uint64
	// PersistBytes counts entry data made durable (log growth).
	PersistBytes                             uint64
	MessagesDropped, SubscriberEventsDropped uint64
}

// request is a client's proposal or read on its way to the loop. Requests
// are recycled (Node.requests) once their caller has taken the outcome, so
// that a command allocates neither the request, nor its channel, nor its
// timer. A request whose caller gave up (timeout, cancellation) is never
// recycled: the loop or the applier may still answer it.
type request struct {
	id   uint64
	data []byte // proposal
	// confChange, when set, makes the proposal a membership change.
	confChange *ConfChange
	// index is the log index the leader gave the proposal (after its ack).
	index uint64
	// read marks a read: readFn runs on the applier once it is safe, or,
	// when readFn is nil (ReadBarrier), the outcome carries the read
	// index and the caller waits for it to be applied.
	read   bool
	readFn func()
	// batched marks a ReadBarrier request that other ReadBarrier callers
	// may join (Node.openRead); joiners are those callers, answered with
	// the same outcome just before this request (Node.answer).
	batched bool
	joiners []*request
	done    chan outcome // buffered (1): exactly one outcome per use
	// timer bounds the caller's wait (NodeConfig.RequestTimeout); it is
	// stopped before the request is recycled.
	timer *time.Timer
	// term is the term the leader gave the proposal's entry (after its ack).
	term     uint64
	deadline time.Time
	start    time.Time
}

type outcome struct {
	result Result
	err    error
	// readIndex is a ReadBarrier's answer: the index to wait for.
	readIndex uint64
}

// applyTask is one batch of work for the applier, in log order.
type applyTask struct {
	// run, when set, runs after the task's entries (RunOnApplier).
	run          func()
	snapshot     *IncomingSnapshot
	snapshotBody io.ReadCloser // the state machine restores from it, then it is closed
	entries      []Entry
	// waiters[i] waits for entries[i]'s outcome (nil: nobody waits).
	waiters []*request
	reads   []pendingRead
}

type pendingRead struct {
	index uint64
	req   *request
}

// persistJob is one Ready's durable work, handed from the loop to the
// persister, which does the jobs strictly in the order they came.
type persistJob struct {
	hardState        HardState
	hardStateChanged bool
	entries          []Entry
	// msgs are the Ready's MessagesAfterPersist: they go out once the job
	// (and every one before it) is durable.
	msgs []Message
	// barrier, when set, is closed once every earlier job is durable.
	barrier chan struct{}
}

// nodeInflightMsgsDefault is the node's MsgApps in flight per follower
// (Config.MaxInflightMsgs) unless configured: one, stop-and-wait. With the
// leader's loop no longer waiting for its own fsync it turns once per
// event, and a window of 256 sent each turn's one or two entries as their
// own MsgApp: about 1.3x the CPU per SET at -P 1 on a busy machine
// (transport writes and reads, the followers' steps) and no faster than
// the synchronous loop (bench/RESULTS.md, round 3). With one MsgApp in
// flight the entries proposed meanwhile go in the next one, sent when the
// follower's ack (one per fsync: coalesceAcks) comes back: one MsgApp per
// follower fsync, as when the loop waited for the disk, and the same
// latency (an entry waits for the batch in flight, then one fsync and a
// round trip).
const nodeInflightMsgsDefault = 1

// persistQueueLen bounds the Readys waiting for the persister; a full
// queue makes the loop wait (back-pressure from the disk). At one Ready
// per loop turn, a few dozen cover the turns of one slow fsync.
const persistQueueLen = 64

// persistJobsMax bounds the jobs merged into one write (one fsync).
const persistJobsMax = persistQueueLen

// stableMark is what the persister made durable last: the last entry of
// its last write, and the storage error that stopped it.
type stableMark struct {
	index, term uint64
	err         error
}

// Node runs one Raft core: its event loop (the bus), persistence, sending,
// and an applier goroutine that applies committed entries to the state
// machine and serves reads. All methods are safe for concurrent use.
type Node struct {
	cfg    NodeConfig
	core   *Raft
	logger *slog.Logger
	now    func() time.Time

	propc  chan *request
	readc  chan *request
	recvc  chan Message
	ctrlc  chan func()
	applyc chan applyTask
	// persistc carries Readys' durable work to the persister; stablec
	// (one slot) tells the loop that stable moved.
	persistc      chan persistJob
	persisterDone chan struct{}
	stablec       chan struct{}
	stableMu      sync.Mutex
	stable        stableMark
	// reportedStable is the mark last given to the core (loop-owned).
	reportedStable stableMark
	stopc          chan struct{}
	done           chan struct{}
	stopMu         sync.Once

	nextID atomic.Uint64

	// Owned by the loop goroutine.
	// lastTickAt is when the last tick was due (catchUpTicks).
	lastTickAt time.Time
	// announced is the membership last told to OnMembership.
	announced   ConfState
	awaitingAck map[uint64]*request // proposals sent to the core, by request id
	byIndex     map[uint64]*request // acked proposals, by log index
	readsByID   map[uint64]*request
	dispatched  uint64 // last committed index handed to the applier
	// parked holds requests that found no leader; they are retried when
	// one is known, and fail with ErrNoLeader after an election timeout.
	parked      []*request
	leaderKnown bool

	metrics struct {
		role, term, leader, commit, applied, lastIndex atomic.Uint64
		proposals, proposalsFailed, reads              atomic.Uint64
		persistBatches, persistEntries, persistBytes   atomic.Uint64
		messagesDropped, subscriberDropped             atomic.Uint64
	}

	subMu sync.Mutex
	subs  map[chan RaftEvent]struct{}

	// requests recycles *request values (see request).
	requests sync.Pool

	// appliedMu guards appliedCh, which the applier closes (and clears)
	// after it advances metrics.applied: ReadBarrier callers waiting for
	// an index wait on it. It is made only when somebody waits, so an
	// applier with no waiters pays one uncontended lock per batch.
	appliedMu sync.Mutex
	appliedCh chan struct{}

	// readMu guards openRead, the batched ReadBarrier request that new
	// callers join instead of sending their own, and the joiners of every
	// batched request. See ReadBarrier.
	readMu   sync.Mutex
	openRead *request
}

// readJoinersMax bounds the callers one ReadBarrier request carries; the
// next caller starts a new batch.
const readJoinersMax = 4096

// StartNode restores the core from storage and starts the loop and the
// applier. Stop it with Stop.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.Log == nil || cfg.State == nil || cfg.Transport == nil || cfg.StateMachine == nil {
		return nil, errors.New("consensus: StartNode needs Log, State, Transport and StateMachine")
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.BusLen <= 0 {
		cfg.BusLen = 8192
	}
	if cfg.EventBatchMax <= 0 {
		cfg.EventBatchMax = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Spool == nil {
		cfg.Spool = &memorySpool{}
	}
	hs, err := cfg.State.HardState()
	if err != nil {
		return nil, fmt.Errorf("consensus: load hard state: %w", err)
	}
	rc := cfg.Raft
	rc.Log = cfg.Log
	rc.HardState = hs
	rc.AsyncStorageWrites = true
	if rc.MaxInflightMsgs == 0 {
		rc.MaxInflightMsgs = nodeInflightMsgsDefault
	}
	if rc.Logger == nil {
		rc.Logger = cfg.Logger
	}
	core, err := NewRaft(rc)
	if err != nil {
		return nil, fmt.Errorf("consensus: start core: %w", err)
	}
	n := &Node{
		cfg:      cfg,
		core:     core,
		logger:   cfg.Logger,
		now:      cfg.Now,
		propc:    make(chan *request, cfg.BusLen),
		readc:    make(chan *request, cfg.BusLen),
		recvc:    make(chan Message, cfg.BusLen),
		ctrlc:    make(chan func(), 16),
		applyc:   make(chan applyTask, 1024),
		persistc: make(chan persistJob, persistQueueLen),
		stablec:  make(chan struct{}, 1),

		persisterDone: make(chan struct{}),
		stopc:         make(chan struct{}),
		done:          make(chan struct{}),
		awaitingAck:   make(map[uint64]*request),
		byIndex:       make(map[uint64]*request),
		readsByID:     make(map[uint64]*request),
		dispatched:    rc.Applied,
		subs:          make(map[chan RaftEvent]struct{}),
	}
	n.metrics.applied.Store(rc.Applied)
	// What was committed before the restart is known now; the figure moves
	// again only when the hard state changes (the next write).
	n.metrics.commit.Store(max(hs.Commit, rc.Applied))
	n.metrics.term.Store(hs.Term)
	n.announceMembership(nil, 0)
	applierDone := make(chan struct{})
	go n.runApplier(rc.Applied, applierDone)
	go n.runPersister()
	go n.run(applierDone)
	return n, nil
}

// ID is this node's id.
func (n *Node) ID() NodeID { return n.cfg.Raft.ID }

// Propose replicates data as one log entry and returns the state machine's
// result for it once applied locally. Errors: ErrNoLeader,
// ErrProposalDropped and ErrRemoved are definite failures (nothing was
// applied); ErrTimeout (or the context's error) means the outcome is
// unknown.
func (n *Node) Propose(ctx context.Context, data []byte) (Result, error) {
	req := n.newRequest(ctx)
	req.data = data
	start := req.start
	out, answered, err := n.submit(ctx, n.propc, req)
	if answered {
		n.recycle(req)
	}
	n.cfg.Observer.ObserveProposal(n.now().Sub(start), err)
	return out.result, err
}

// Read runs fn on the applier goroutine once the state machine reflects
// every write committed before Read was called (ReadIndex, linearizable).
// fn must not block.
func (n *Node) Read(ctx context.Context, fn func()) error {
	req := n.newRequest(ctx)
	req.read, req.readFn = true, fn
	_, answered, err := n.submit(ctx, n.readc, req)
	if answered {
		n.recycle(req)
	}
	return err
}

// ReadBarrier returns once the state machine has applied every entry
// committed before the call (ReadIndex, linearizable): the caller then
// reads the state machine itself, on its own goroutine. Unlike Read it
// costs no hand-off to the applier, but the state machine must allow reads
// concurrent with Apply. When the read index is already applied, which is
// the common case, the caller does not wait for the applier at all.
//
// Concurrent callers share one ReadIndex request: the first caller sends
// its request to the loop and leaves it open (Node.openRead); the callers
// that come while it is open join it, cost the loop nothing, and get the
// same read index. That is linearizable because the loop seals a batch
// before the core records its read index (sealReads: at the Ready that
// starts the leader's read round, or when a follower forwards it or a
// lease answers it), so every joiner's call began before the index was
// taken. On a busy leader the batch stays open for a whole read round in
// flight, so the loop takes one request per round, not one per caller.
func (n *Node) ReadBarrier(ctx context.Context) error {
	req := n.newRequest(ctx)
	req.read = true
	n.readMu.Lock()
	if open := n.openRead; open != nil && len(open.joiners) < readJoinersMax {
		open.joiners = append(open.joiners, req)
		n.readMu.Unlock()
		n.metrics.reads.Add(1)
		out, answered, err := n.await(ctx, req)
		return n.finishBarrier(ctx, req, out, answered, err)
	}
	req.batched = true
	n.openRead = req
	n.readMu.Unlock()
	if err := n.enqueue(ctx, n.readc, req); err != nil {
		// The loop never got it, so it will never answer the joiners.
		n.answer(req, outcome{err: err}, false)
		return err
	}
	out, answered, err := n.await(ctx, req)
	if !answered {
		n.sealRead(req) // the loop answers the joiners already in
	}
	return n.finishBarrier(ctx, req, out, answered, err)
}

// finishBarrier waits for a ReadBarrier's read index to be applied and
// recycles its request when the outcome came.
func (n *Node) finishBarrier(ctx context.Context, req *request, out outcome, answered bool, err error) error {
	if !answered {
		return err
	}
	if err == nil {
		// The same request's timer bounds the wait: recycle only after.
		err = n.waitApplied(ctx, out.readIndex, req.timer)
	}
	n.recycle(req)
	return err
}

// sealRead closes req's batch to new joiners if it is the open one.
func (n *Node) sealRead(req *request) {
	n.readMu.Lock()
	if n.openRead == req {
		n.openRead = nil
	}
	n.readMu.Unlock()
}

// sealReads closes the open batch, whichever it is, to new joiners. The
// loop calls it before the core can record a read index for a batched
// request: a caller that joins afterwards might have started after writes
// the index misses.
func (n *Node) sealReads() {
	n.readMu.Lock()
	n.openRead = nil
	n.readMu.Unlock()
}

// answer gives req its one outcome, and the same outcome to the callers
// that joined its batch, first: once req is answered its caller may
// recycle it. When toReq is false only the joiners are answered.
func (n *Node) answer(req *request, out outcome, toReq bool) {
	if req.batched {
		n.readMu.Lock()
		if n.openRead == req {
			n.openRead = nil
		}
		joiners := req.joiners
		n.readMu.Unlock()
		for i, j := range joiners {
			j.done <- out
			joiners[i] = nil
		}
		n.readMu.Lock()
		req.joiners = joiners[:0]
		n.readMu.Unlock()
	}
	if toReq {
		req.done <- out
	}
}

// newRequest takes a recycled request (or makes one) and arms its timer.
func (n *Node) newRequest(ctx context.Context) *request {
	req, _ := n.requests.Get().(*request)
	if req == nil {
		req = &request{done: make(chan outcome, 1)}
	}
	req.start = n.now()
	if dl, ok := ctx.Deadline(); ok {
		req.deadline = dl
	}
	if d := n.cfg.RequestTimeout; d > 0 {
		if dl := req.start.Add(d); req.deadline.IsZero() || dl.Before(req.deadline) {
			req.deadline = dl
			if req.timer == nil {
				req.timer = time.NewTimer(d)
			} else {
				req.timer.Reset(d)
			}
		}
	}
	return req
}

// recycle returns a request whose single outcome its caller has taken.
func (n *Node) recycle(req *request) {
	if req.timer != nil {
		req.timer.Stop() // no stale tick afterwards (Go >= 1.23 timers)
	}
	*req = request{done: req.done, timer: req.timer, joiners: req.joiners[:0]}
	n.requests.Put(req)
}

// errRequestTimeout is the caller's error when its wait ran out.
func errRequestTimeout(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
}

// submit hands req to the loop and waits for its outcome. answered says
// the outcome came: only then may the caller recycle req.
func (n *Node) submit(ctx context.Context, ch chan *request, req *request) (out outcome, answered bool, err error) {
	if err := n.enqueue(ctx, ch, req); err != nil {
		return outcome{}, false, err
	}
	return n.await(ctx, req)
}

// enqueue hands req to the loop; an error means the loop never got it.
func (n *Node) enqueue(ctx context.Context, ch chan *request, req *request) error {
	var timeout <-chan time.Time
	if req.timer != nil {
		timeout = req.timer.C
	}
	select {
	case ch <- req:
		return nil
	case <-ctx.Done():
		return errRequestTimeout(ctx)
	case <-timeout:
		return errRequestTimeout(ctx)
	case <-n.stopc:
		return ErrStopped
	}
}

// await waits for the outcome of a request the loop has (or, for a
// ReadBarrier joiner, that the loop will answer with its batch).
func (n *Node) await(ctx context.Context, req *request) (out outcome, answered bool, err error) {
	var timeout <-chan time.Time
	if req.timer != nil {
		timeout = req.timer.C
	}
	select {
	case out = <-req.done:
		return out, true, out.err
	case <-ctx.Done():
		return outcome{}, false, errRequestTimeout(ctx)
	case <-timeout:
		return outcome{}, false, errRequestTimeout(ctx)
	case <-n.done:
		// The loop ended; the applier may still have answered.
		select {
		case out = <-req.done:
			return out, true, out.err
		default:
			return outcome{}, false, ErrStopped
		}
	}
}

// waitApplied waits until the applier has applied index; timer (the
// request's, may be nil) bounds the wait with the rest of the request.
func (n *Node) waitApplied(ctx context.Context, index uint64, timer *time.Timer) error {
	for n.metrics.applied.Load() < index {
		n.appliedMu.Lock()
		if n.appliedCh == nil {
			n.appliedCh = make(chan struct{})
		}
		ch := n.appliedCh
		n.appliedMu.Unlock()
		// Re-check: the applier may have advanced before ch existed.
		if n.metrics.applied.Load() >= index {
			return nil
		}
		var timeout <-chan time.Time
		if timer != nil {
			timeout = timer.C
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errRequestTimeout(ctx)
		case <-timeout:
			return errRequestTimeout(ctx)
		case <-n.done:
			return ErrStopped
		}
	}
	return nil
}

// publishApplied makes a new applied index visible to ReadBarrier callers.
func (n *Node) publishApplied(index uint64) {
	n.metrics.applied.Store(index)
	n.appliedMu.Lock()
	if n.appliedCh != nil {
		close(n.appliedCh)
		n.appliedCh = nil
	}
	n.appliedMu.Unlock()
}

// Deliver hands a message from a peer to the loop. It never blocks: a full
// queue drops the message (Raft retries), and the drop is counted.
func (n *Node) Deliver(m Message) {
	select {
	case n.recvc <- m:
	default:
		n.metrics.messagesDropped.Add(1)
	}
}

// TransferLeader asks the core to hand leadership to `to`.
func (n *Node) TransferLeader(ctx context.Context, to NodeID) error {
	return n.control(ctx, func() { n.core.TransferLeader(to) })
}

// Status returns the core's status, taken on the loop goroutine.
func (n *Node) Status(ctx context.Context) (Status, error) {
	var st Status
	err := n.control(ctx, func() { st = n.core.Status() })
	return st, err
}

// control runs fn on the loop goroutine and waits for it.
func (n *Node) control(ctx context.Context, fn func()) error {
	ran := make(chan struct{})
	select {
	case n.ctrlc <- func() { fn(); close(ran) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
	return n.awaitRan(ctx, ran)
}

// awaitRan waits until ran is closed (the function handed to the loop or
// the applier has run), ctx ends or the node stops.
func (n *Node) awaitRan(ctx context.Context, ran <-chan struct{}) error {
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		select {
		case <-ran:
			return nil
		default:
			return ErrStopped
		}
	}
}

// RunOnApplier runs fn on the applier goroutine once every entry the loop
// has handed to it so far is applied, and waits for it. Unlike Read it
// needs no leader and no ReadIndex: it sees this node's state as it is,
// which is what a local snapshot wants (and what a shutdown, when the
// leader may be gone, can still have). fn must not block.
func (n *Node) RunOnApplier(ctx context.Context, fn func()) error {
	ran := make(chan struct{})
	task := applyTask{run: func() { fn(); close(ran) }}
	if err := n.control(ctx, func() { n.applyc <- task }); err != nil {
		return err
	}
	return n.awaitRan(ctx, ran)
}

// Metrics returns the node's live figures.
func (n *Node) Metrics() NodeMetrics {
	m := &n.metrics
	return NodeMetrics{
		Role: m.role.Load(), Term: m.term.Load(), Leader: m.leader.Load(),
		Commit: m.commit.Load(), Applied: m.applied.Load(), LastIndex: m.lastIndex.Load(),
		Proposals: m.proposals.Load(), ProposalsFailed: m.proposalsFailed.Load(), Reads: m.reads.Load(),
		PersistBatches: m.persistBatches.Load(), PersistEntries: m.persistEntries.Load(), PersistBytes: m.persistBytes.Load(),
		MessagesDropped: m.messagesDropped.Load(), SubscriberEventsDropped: m.subscriberDropped.Load(),
	}
}

// Subscribe returns a channel of RaftEvents with room for buf events. A
// subscriber that falls behind loses events (counted in
// SubscriberEventsDropped); it never slows the loop. Call cancel when done.
func (n *Node) Subscribe(buf int) (events <-chan RaftEvent, cancel func()) {
	ch := make(chan RaftEvent, buf)
	n.subMu.Lock()
	n.subs[ch] = struct{}{}
	n.subMu.Unlock()
	return ch, func() {
		n.subMu.Lock()
		delete(n.subs, ch)
		n.subMu.Unlock()
	}
}

func (n *Node) publish(ev RaftEvent) {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- ev:
		default:
			n.metrics.subscriberDropped.Add(1)
		}
	}
}

// Stop ends the loop and the applier after the work in hand; pending
// requests get ErrStopped. It waits until both have ended.
func (n *Node) Stop() {
	n.stopMu.Do(func() { close(n.stopc) })
	<-n.done
}

// Done is closed when the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.done }

// run is the loop: it owns the core.
func (n *Node) run(applierDone chan struct{}) {
	defer func() {
		// Every write handed to the persister finishes before the owner
		// may close the log.
		close(n.persistc)
		<-n.persisterDone
		close(n.applyc)
		<-applierDone
		n.failAll(ErrStopped)
		close(n.done)
	}()
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	n.lastTickAt = n.now()
	n.core.Tick(n.lastTickAt.UnixMilli())
	for {
		select {
		case <-n.stopc:
			return
		case <-ticker.C:
			if n.cfg.Raft.ReadLeaseTicks > 0 {
				n.catchUpTicks()
			} else {
				n.tick()
			}
		case req := <-n.propc:
			n.propose(req)
		case req := <-n.readc:
			n.read(req)
		case m := <-n.recvc:
			n.step(m)
		case fn := <-n.ctrlc:
			fn()
		case <-n.stablec:
		}
		n.drain()
		if err := n.noteStable(); err != nil {
			n.logger.Error("consensus: node stops: storage failed", "err", err)
			return
		}
		// Advance can make more work ready at once (the leader's own
		// persisted entries complete a quorum that followers' acks had
		// already half made): take it now rather than at the next event,
		// which may be a tick away.
		for i := 0; i < readyRoundsMax && n.core.HasReady(); i++ {
			if err := n.handleReady(); err != nil {
				n.logger.Error("consensus: node stops: storage failed", "err", err)
				return
			}
		}
	}
}

// catchUpTicks gives the core every tick due by the monotonic clock since
// the last one. With lease reads the core's tick count is its clock: a
// ticker drops the ticks of a loop that was stalled or a process that was
// paused (SIGSTOP, a VM freeze), and a leader resuming from a pause longer
// than its lease would otherwise still count the lease as held while the
// others have elected a new leader. It runs at every tick and before every
// read is handed to the core, so the lease is checked against time read
// just before. A long pause gives at most ElectionTicks+1 ticks: by then
// the lease and the election timer have run out anyway.
func (n *Node) catchUpTicks() {
	now := n.now()
	due := now.Sub(n.lastTickAt) / n.cfg.TickInterval
	if due <= 0 {
		return
	}
	n.lastTickAt = n.lastTickAt.Add(due * n.cfg.TickInterval)
	for range min(int64(due), int64(n.cfg.Raft.ElectionTicks)+1) {
		n.tick()
	}
}

// readyRoundsMax bounds the Readys handled in one loop turn, so that new
// events are still taken between them.
const readyRoundsMax = 4

// drain takes every event already queued, up to EventBatchMax, so that they
// share one Ready (one fsync, one AppendEntries per follower).
func (n *Node) drain() {
	for i := 0; i < n.cfg.EventBatchMax; i++ {
		select {
		case req := <-n.propc:
			n.propose(req)
		case req := <-n.readc:
			n.read(req)
		case m := <-n.recvc:
			n.step(m)
		default:
			return
		}
	}
}

func (n *Node) tick() {
	n.core.Tick(n.now().UnixMilli())
	n.retryParked()
	// Forget requests whose callers gave up long ago and whose outcome will
	// never come (a forwarded proposal or read lost on the way).
	now := n.now()
	for id, req := range n.awaitingAck {
		if !req.deadline.IsZero() && now.After(req.deadline.Add(time.Second)) {
			delete(n.awaitingAck, id)
		}
	}
	for id, req := range n.readsByID {
		if !req.deadline.IsZero() && now.After(req.deadline.Add(time.Second)) {
			delete(n.readsByID, id)
		}
	}
}

func (n *Node) propose(req *request) {
	if req.id == 0 {
		n.metrics.proposals.Add(1)
	}
	req.id = n.nextID.Add(1)
	n.awaitingAck[req.id] = req
	if req.confChange != nil {
		n.core.ProposeConfChange(req.id, *req.confChange)
		return
	}
	n.core.Propose(req.id, req.data)
}

func (n *Node) read(req *request) {
	if n.cfg.Raft.ReadLeaseTicks > 0 {
		n.catchUpTicks()
	}
	if req.id == 0 {
		n.metrics.reads.Add(1)
	}
	req.id = n.nextID.Add(1)
	n.readsByID[req.id] = req
	// A leader's read waits in the core for its round, whose index the
	// Ready that starts it records (handleReady seals the batch first);
	// a lease or a forward to the leader fixes the index sooner.
	if req.batched && (n.core.role != RoleLeader || n.cfg.Raft.ReadLeaseTicks > 0) {
		n.sealReads()
	}
	n.core.ReadIndex(req.id)
}

// parkMax is how long a request waits for a leader to be known: an
// election timeout, after which the client gets ErrNoLeader.
func (n *Node) parkMax() time.Duration {
	return time.Duration(n.cfg.Raft.ElectionTicks) * n.cfg.TickInterval
}

// retriable says whether a request failed for a reason that passes once a
// (new) leader is known, with nothing appended or read: such requests are
// parked and retried rather than failed to the client.
func retriable(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrLeaderChanging)
}

// park keeps a request that found no leader, or fails it when it has
// waited an election timeout already. It reports whether it parked req.
func (n *Node) park(req *request) bool {
	if n.now().Sub(req.start) >= n.parkMax() || len(n.parked) >= n.cfg.BusLen {
		return false
	}
	n.parked = append(n.parked, req)
	return true
}

// retryParked hands parked requests to the core again once a leader is
// known, and fails those that waited too long.
func (n *Node) retryParked() {
	if len(n.parked) == 0 {
		return
	}
	parked := n.parked
	n.parked = nil
	// A node told it was removed answers ErrRemoved at once: hand the
	// parked requests back to the core for that answer.
	retry := n.leaderKnown || n.core.removed()
	for _, req := range parked {
		switch {
		case retry && req.read:
			n.read(req)
		case retry:
			n.propose(req)
		case n.now().Sub(req.start) >= n.parkMax():
			n.answer(req, outcome{err: ErrNoLeader}, true)
		default:
			n.parked = append(n.parked, req)
		}
	}
}

func (n *Node) step(m Message) {
	if m.Type == MsgReadIndex && n.cfg.Raft.ReadLeaseTicks > 0 {
		n.catchUpTicks()
	}
	if err := n.core.Step(m); err != nil {
		n.logger.Debug("consensus: step", "type", m.Type.String(), "from", uint64(m.From), "err", err)
	}
}

// handleReady carries out the core's effects in the order ready.go gives.
func (n *Node) handleReady() error {
	if !n.core.HasReady() {
		return nil
	}
	if n.core.readRoundDue() {
		// This Ready starts a read round at the commit index: no caller
		// may join its reads' batch after that.
		n.sealReads()
	}
	rd := n.core.Ready()
	if rd.SoftState != nil {
		ss := *rd.SoftState
		n.metrics.role.Store(uint64(ss.Role))
		n.metrics.term.Store(ss.Term)
		n.metrics.leader.Store(uint64(ss.Leader))
		n.logger.Info("raft: state", "role", ss.Role.String(), "term", ss.Term, "leader", uint64(ss.Leader))
		n.publish(RaftEvent{NodeID: n.cfg.Raft.ID, Soft: ss})
		n.leaderKnown = ss.Leader != None
	}
	n.noteMembership(rd)
	n.send(rd.Messages)
	// A snapshot from the leader is spooled and installed synchronously,
	// with the persister idle: the log reset must not race a write in
	// flight, and it is rare. Everything else is the persister's: the
	// loop goes on stepping while it syncs.
	syncPersist := rd.Snapshot != nil || len(rd.SnapshotChunks) > 0
	if syncPersist {
		if err := n.waitPersisted(); err != nil {
			return err
		}
	} else if rd.HardStateChanged || len(rd.Entries) > 0 || len(rd.MessagesAfterPersist) > 0 {
		// Blocks while the queue is full: back-pressure from the disk.
		n.persistc <- persistJob{hardState: rd.HardState, hardStateChanged: rd.HardStateChanged,
			entries: rd.Entries, msgs: rd.MessagesAfterPersist}
	}
	if rd.HardStateChanged {
		n.metrics.commit.Store(rd.HardState.Commit)
		n.metrics.term.Store(rd.HardState.Term)
	}
	var task applyTask
	// Chunks are spooled before this Ready's MessagesAfterPersist
	// acknowledge them.
	for _, c := range rd.SnapshotChunks {
		if err := n.cfg.Spool.WriteSnapshotChunk(c); err != nil {
			return fmt.Errorf("spool snapshot %d from the leader at offset %d: %w", c.Meta.Index, c.Offset, err)
		}
	}
	if rd.Snapshot != nil {
		body, err := n.cfg.Spool.CommitSnapshot(rd.Snapshot.Meta)
		if err != nil {
			return fmt.Errorf("save snapshot %d from the leader: %w", rd.Snapshot.Meta.Index, err)
		}
		if err := n.installSnapshotLog(rd.Snapshot.Meta); err != nil {
			body.Close()
			return err
		}
		task.snapshot, task.snapshotBody = rd.Snapshot, body
		n.dispatched = rd.Snapshot.Meta.Index
	}

	for _, ack := range rd.ProposalAcks {
		n.settleAck(ack)
	}
	if len(rd.CommittedEntries) > 0 {
		task.entries = rd.CommittedEntries
		task.waiters = make([]*request, len(rd.CommittedEntries))
		for i, e := range rd.CommittedEntries {
			if req, ok := n.byIndex[e.Index]; ok {
				delete(n.byIndex, e.Index)
				task.waiters[i] = req
			}
		}
		n.dispatched = rd.CommittedEntries[len(rd.CommittedEntries)-1].Index
	}
	for _, rs := range rd.ReadStates {
		req, ok := n.readsByID[rs.RequestID]
		if !ok {
			continue
		}
		delete(n.readsByID, rs.RequestID)
		if req.readFn == nil {
			// ReadBarrier: its callers wait for the index themselves.
			n.answer(req, outcome{readIndex: rs.Index}, true)
			continue
		}
		task.reads = append(task.reads, pendingRead{index: rs.Index, req: req})
	}
	for _, ra := range rd.ReadAcks {
		if req, ok := n.readsByID[ra.RequestID]; ok {
			delete(n.readsByID, ra.RequestID)
			if !retriable(ra.Err) || !n.park(req) {
				n.answer(req, outcome{err: ra.Err}, true)
			}
		}
	}
	// Committed entries go to the applier before this Ready's new entries
	// are made durable: a quorum holds them already, so applying them need
	// not wait for our fsync (which would add one fsync to every write's
	// latency on the leader).
	if task.snapshot != nil || len(task.entries) > 0 || len(task.reads) > 0 {
		n.applyc <- task
	}
	if syncPersist {
		if err := n.persist(rd.HardState, rd.HardStateChanged, rd.Entries); err != nil {
			return err
		}
		n.send(rd.MessagesAfterPersist)
	}
	n.core.Advance(rd)
	if k := len(rd.Entries); syncPersist && k > 0 {
		n.core.StableTo(rd.Entries[k-1].Index, rd.Entries[k-1].Term)
	}
	if rd.SoftState != nil && (n.leaderKnown || n.core.removed()) {
		n.retryParked()
	}
	return nil
}

// persist writes a hard state and entries durably (one fsync for the
// entries; the hard state's own only when term or vote changed).
func (n *Node) persist(hs HardState, hsChanged bool, entries []Entry) error {
	start := n.now()
	if hsChanged {
		if err := n.cfg.State.SaveHardState(hs); err != nil {
			return fmt.Errorf("save hard state: %w", err)
		}
	}
	if len(entries) > 0 {
		if err := n.cfg.Log.Append(entries); err != nil {
			return fmt.Errorf("append %d entries at %d: %w", len(entries), entries[0].Index, err)
		}
		n.metrics.persistBatches.Add(1)
		n.metrics.persistEntries.Add(uint64(len(entries)))
		n.metrics.persistBytes.Add(entriesBytes(entries))
		n.metrics.lastIndex.Store(entries[len(entries)-1].Index)
	}
	if hsChanged || len(entries) > 0 {
		n.cfg.Observer.ObservePersist(n.now().Sub(start), len(entries))
	}
	return nil
}

// runPersister does the loop's persistJobs in order: it takes every job
// queued while the previous write ran and makes them durable together
// (group commit: one hard state, one Append, one fsync), then tells the
// loop how far the log is durable and sends the jobs' MessagesAfterPersist.
// After a storage error it only drains the queue (releasing barriers, not
// messages): the loop stops at its next turn.
func (n *Node) runPersister() {
	defer close(n.persisterDone)
	var (
		batch  []persistJob
		merged []Entry
		failed bool
	)
	for job := range n.persistc {
		batch = append(batch[:0], job)
	collect:
		for len(batch) < persistJobsMax {
			select {
			case j, ok := <-n.persistc:
				if !ok {
					break collect
				}
				batch = append(batch, j)
			default:
				break collect
			}
		}
		if !failed {
			var err error
			merged, err = n.persistBatch(batch, merged)
			if err != nil {
				failed = true
				n.stableMu.Lock()
				n.stable.err = err
				n.stableMu.Unlock()
				n.signalStable()
			}
		}
		if !failed {
			n.send(coalesceAcks(batch))
		}
		for i := range batch {
			if batch[i].barrier != nil {
				close(batch[i].barrier)
			}
		}
		clear(batch)
	}
}

// coalesceAcks returns the batch's MessagesAfterPersist in order, less
// the append acks that a later one in the batch makes redundant: an ack is
// cumulative (the leader keeps the highest index it heard), so of the acks
// to one leader in one term only the highest need go. A follower whose
// loop stepped several MsgApps during one fsync then answers them with one
// message, as it did when the loop itself waited for the disk. The result
// is a fresh slice (the transport keeps it until written), or the only
// job's own.
func coalesceAcks(batch []persistJob) []Message {
	if len(batch) == 1 {
		return batch[0].msgs
	}
	var out []Message
	for i := range batch {
	next:
		for _, m := range batch[i].msgs {
			if m.Type == MsgAppResp && !m.Reject {
				for k := len(out) - 1; k >= 0; k-- {
					o := &out[k]
					if o.To == m.To && o.Type == MsgAppResp && !o.Reject && o.Term == m.Term {
						if o.Index <= m.Index {
							*o = m
						}
						continue next
					}
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// persistBatch makes a batch of jobs durable as one write and publishes
// the new stable mark. Entries of later jobs replace the overlapping
// suffix of earlier ones, as sequential Appends would; merged is a
// scratch array (never the core's: its arrays are only read).
func (n *Node) persistBatch(batch []persistJob, merged []Entry) ([]Entry, error) {
	var (
		hs        HardState
		hsChanged bool
		ents      []Entry
		owned     bool // ents is merged's array
	)
	for i := range batch {
		j := &batch[i]
		if j.hardStateChanged {
			hs, hsChanged = j.hardState, true
		}
		if len(j.entries) == 0 {
			continue
		}
		if len(ents) == 0 || j.entries[0].Index <= ents[0].Index {
			ents, owned = j.entries, false
			continue
		}
		keep := j.entries[0].Index - ents[0].Index
		if keep > uint64(len(ents)) {
			return merged, fmt.Errorf("consensus: persist: entries at %d leave a gap after %d", j.entries[0].Index, ents[len(ents)-1].Index)
		}
		if !owned {
			merged = append(merged[:0], ents...)
			owned = true
		}
		merged = append(merged[:keep], j.entries...)
		ents = merged
	}
	if err := n.persist(hs, hsChanged, ents); err != nil {
		return merged, err
	}
	if k := len(ents); k > 0 {
		n.stableMu.Lock()
		n.stable.index, n.stable.term = ents[k-1].Index, ents[k-1].Term
		n.stableMu.Unlock()
		n.signalStable()
	}
	if owned {
		clear(merged) // drop the references to entry data
	}
	return merged, nil
}

func (n *Node) signalStable() {
	select {
	case n.stablec <- struct{}{}:
	default:
	}
}

// noteStable gives the core the persister's latest stable mark (on the
// loop), or returns the persister's storage error.
func (n *Node) noteStable() error {
	n.stableMu.Lock()
	mark := n.stable
	n.stableMu.Unlock()
	if mark.err != nil {
		return mark.err
	}
	if mark != n.reportedStable {
		n.reportedStable = mark
		n.core.StableTo(mark.index, mark.term)
	}
	return nil
}

// waitPersisted waits until every job handed to the persister is durable
// and tells the core, for work that must not overlap a write (installing
// a snapshot from the leader).
func (n *Node) waitPersisted() error {
	barrier := make(chan struct{})
	n.persistc <- persistJob{barrier: barrier}
	<-barrier
	return n.noteStable()
}

// settleAck moves an acknowledged proposal to wait for its index, or
// answers it when it failed or when its index was already applied.
func (n *Node) settleAck(ack ProposalAck) {
	req, ok := n.awaitingAck[ack.RequestID]
	if !ok {
		return
	}
	delete(n.awaitingAck, ack.RequestID)
	if ack.Err != nil {
		if retriable(ack.Err) && n.park(req) {
			return
		}
		n.metrics.proposalsFailed.Add(1)
		req.done <- outcome{err: ack.Err}
		return
	}
	req.term, req.index = ack.Term, ack.Index
	if ack.Index > n.dispatched {
		if old, ok := n.byIndex[ack.Index]; ok {
			// A newer leader reused the index: the older proposal lost.
			old.done <- outcome{err: ErrProposalDropped}
		}
		n.byIndex[ack.Index] = req
		return
	}
	// The ack came after its index was committed and applied (a forwarded
	// proposal whose answer was slow). The log says whether it won; its
	// result is gone.
	term, err := n.core.log.term(ack.Index)
	switch {
	case err == nil && term != ack.Term:
		n.metrics.proposalsFailed.Add(1)
		req.done <- outcome{err: ErrProposalDropped}
	default:
		req.done <- outcome{err: ErrTimeout}
	}
}

// installSnapshotLog resets the log to start after the snapshot.
func (n *Node) installSnapshotLog(meta SnapshotMeta) error {
	// One durable step: TruncatePrefix keeps the entries after the snapshot
	// only if the log holds its index with its term, and discards the whole
	// log otherwise (LogStorage's contract), so a crash cannot leave the log
	// emptied while the old snapshot point stands.
	if err := n.cfg.Log.TruncatePrefix(meta.Index, meta.Term); err != nil {
		return fmt.Errorf("install snapshot %d: reset log: %w", meta.Index, err)
	}
	// Requests waiting on indexes the snapshot covers will never see their
	// entries applied here.
	for idx, req := range n.byIndex {
		if idx <= meta.Index {
			delete(n.byIndex, idx)
			req.done <- outcome{err: ErrTimeout}
		}
	}
	return nil
}

func (n *Node) send(msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	// Messages to one peer go in one Send call, in order.
	start := 0
	for i := 1; i <= len(msgs); i++ {
		if i == len(msgs) || msgs[i].To != msgs[start].To {
			n.cfg.Transport.Send(msgs[start].To, msgs[start:i])
			start = i
		}
	}
}

// failAll answers every request still waiting when the loop ends.
func (n *Node) failAll(err error) {
	for id, req := range n.awaitingAck {
		delete(n.awaitingAck, id)
		req.done <- outcome{err: err}
	}
	for idx, req := range n.byIndex {
		delete(n.byIndex, idx)
		req.done <- outcome{err: err}
	}
	for id, req := range n.readsByID {
		delete(n.readsByID, id)
		n.answer(req, outcome{err: err}, true)
	}
	for _, req := range n.parked {
		n.answer(req, outcome{err: err}, true)
	}
	n.parked = nil
	for {
		select {
		case req := <-n.propc:
			req.done <- outcome{err: err}
		case req := <-n.readc:
			n.answer(req, outcome{err: err}, true)
		default:
			return
		}
	}
}

// runApplier applies committed entries in order and serves reads once the
// state machine has reached their read index.
func (n *Node) runApplier(applied uint64, done chan struct{}) {
	defer close(done)
	var waiting []pendingRead // reads whose index is not yet applied, in arrival order
	for task := range n.applyc {
		if task.snapshot != nil {
			err := n.cfg.StateMachine.Restore(task.snapshotBody)
			task.snapshotBody.Close()
			if err != nil {
				n.logger.Error("consensus: restore snapshot failed", "index", task.snapshot.Meta.Index, "err", err)
			} else {
				applied = task.snapshot.Meta.Index
				n.publishApplied(applied)
			}
		}
		if len(task.entries) > 0 {
			results := n.cfg.StateMachine.Apply(task.entries)
			for i, e := range task.entries {
				req := task.waiters[i]
				if req == nil {
					continue
				}
				if e.Term == req.term {
					var res Result
					if i < len(results) {
						res = results[i]
					}
					req.done <- outcome{result: res}
				} else {
					n.metrics.proposalsFailed.Add(1)
					req.done <- outcome{err: ErrProposalDropped}
				}
			}
			applied = task.entries[len(task.entries)-1].Index
			n.publishApplied(applied)
		}
		if task.run != nil {
			task.run()
		}
		waiting = append(waiting, task.reads...)
		kept := waiting[:0]
		for _, pr := range waiting {
			if pr.index <= applied {
				pr.req.readFn()
				pr.req.done <- outcome{}
			} else {
				kept = append(kept, pr)
			}
		}
		clear(waiting[len(kept):])
		waiting = kept
	}
	for _, pr := range waiting {
		pr.req.done <- outcome{err: ErrStopped}
	}
}

// Compact removes the log's entries up to and including upTo, which a
// durable snapshot covers. It runs on the loop goroutine, between Readys,
// so the core never sees the log change under it.
func (n *Node) Compact(ctx context.Context, upTo uint64) error {
	var err error
	cerr := n.control(ctx, func() {
		if upTo < n.cfg.Log.FirstIndex() {
			return
		}
		if upTo > n.dispatched {
			err = fmt.Errorf("consensus: compact to %d: only %d applied", upTo, n.dispatched)
			return
		}
		// Never into entries whose write the core has not seen complete:
		// it still reads them from its unstable log, and the persister
		// may be writing after them.
		if upTo = min(upTo, n.core.log.stableIndex()); upTo < n.cfg.Log.FirstIndex() {
			return
		}
		var term uint64
		if term, err = n.cfg.Log.Term(upTo); err != nil {
			return
		}
		err = n.cfg.Log.TruncatePrefix(upTo, term)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// SnapshotMeta returns the metadata a snapshot of the state machine at
// index (applied on this node) must carry: the entry's term and stamp and
// the membership in force there. The applier may run ahead of this node's
// disk (committed entries are applied before the local write of them
// completes), and until that write completes the log on disk may still
// hold an older, overwritten entry at index: so when index is not yet
// known durable, it first waits for the writes in flight (at most a few
// fsyncs; snapshots are rare).
func (n *Node) SnapshotMeta(ctx context.Context, index uint64) (SnapshotMeta, error) {
	var meta SnapshotMeta
	var err error
	cerr := n.control(ctx, func() {
		if index > n.core.log.stableIndex() {
			if err = n.waitPersisted(); err != nil {
				return
			}
		}
		if stable := n.core.log.stableIndex(); index > stable {
			err = fmt.Errorf("consensus: snapshot at %d: the log is durable only to %d: %w", index, stable, ErrUnavailable)
			return
		}
		var e Entry
		if e, err = n.cfg.Log.Entry(index); err != nil {
			return
		}
		meta = SnapshotMeta{Index: index, Term: e.Term, TimeMs: e.TimeMs}
		meta.ConfState, err = n.core.ConfStateAt(index)
	})
	if cerr != nil {
		return SnapshotMeta{}, cerr
	}
	return meta, err
}

// ConfStateAt returns the membership in force at log index, as a snapshot
// taken at index must record it.
func (n *Node) ConfStateAt(ctx context.Context, index uint64) (ConfState, error) {
	var cs ConfState
	var err error
	if cerr := n.control(ctx, func() { cs, err = n.core.ConfStateAt(index) }); cerr != nil {
		return ConfState{}, cerr
	}
	return cs, err
}

// ProposeConfChange proposes one membership change (Raft.ProposeConfChange)
// and, like Propose, answers once its entry is applied locally, with the
// entry's index. The change is in force on the leader as soon as it is
// appended; a nil error says it committed. Errors: ErrNotLeader (it is not
// forwarded: the caller asks the leader), ErrNoLeader, ErrConfChangePending,
// ErrLearnerBehind, ErrConfChangeInvalid and ErrProposalDropped are definite
// failures (the membership did not change); ErrTimeout (or the context's
// error) means the outcome is unknown.
func (n *Node) ProposeConfChange(ctx context.Context, cc ConfChange) (uint64, error) {
	req := n.newRequest(ctx)
	req.confChange = &cc
	_, answered, err := n.submit(ctx, n.propc, req)
	if !answered {
		return 0, err
	}
	// req.index was written by the loop before the applier answered.
	index := req.index
	n.recycle(req)
	if err != nil {
		return 0, err
	}
	return index, nil
}

// noteMembership tells OnMembership when the Ready's entries or snapshot
// changed the membership in force. It runs on the loop, for every Ready:
// the common case (no conf change) costs two slice compares.
func (n *Node) noteMembership(rd Ready) {
	if n.cfg.OnMembership == nil {
		return
	}
	latest := n.core.conf.latest()
	if slices.Equal(latest.Voters, n.announced.Voters) && slices.Equal(latest.Learners, n.announced.Learners) {
		return
	}
	var appended []ConfChange
	for i := range rd.Entries {
		if rd.Entries[i].Type != EntryConfChange {
			continue
		}
		if cc, err := DecodeConfChange(rd.Entries[i].Data); err == nil {
			appended = append(appended, cc)
		}
	}
	var snapIndex uint64
	if rd.Snapshot != nil {
		snapIndex = rd.Snapshot.Meta.Index
	}
	n.announceMembership(appended, snapIndex)
}

// announceMembership calls OnMembership with the core's latest membership.
func (n *Node) announceMembership(appended []ConfChange, snapIndex uint64) {
	if n.cfg.OnMembership == nil {
		return
	}
	latest := n.core.conf.latest()
	n.announced = ConfState{Voters: slices.Clone(latest.Voters), Learners: slices.Clone(latest.Learners)}
	n.cfg.OnMembership(MembershipEvent{
		ConfState:     ConfState{Voters: slices.Clone(latest.Voters), Learners: slices.Clone(latest.Learners)},
		Appended:      appended,
		SnapshotIndex: snapIndex,
	})
}
