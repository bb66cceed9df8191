package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/consensus"
)

// readyLoopMax bounds how many Readies a node takes in one step (each one
// synced at once when the sync delay is zero), so a core that always has a
// Ready cannot stall the simulation.
const readyLoopMax = 64

// clientOp is one client operation, from invocation to outcome.
type clientOp struct {
	id     uint64 // request id, and the value a write stores
	client int
	write  bool
	key    uint64
	node   consensus.NodeID
	callTs int64
	// startStep is the step the client invoked it.
	startStep int64
	// deadlineStep is when the client gives up.
	deadlineStep int64

	acked          bool // writes: ProposalAck said where the entry sits
	ackIndex       uint64
	ackTerm        uint64
	readIndexKnown bool // reads: ReadState received
	readIndex      uint64
	done           bool
}

// Result summarises a run that passed.
type Result struct {
	Seed               uint64
	Nodes              int
	Steps              int64
	Elections          int // terms that had a leader
	Crashes            int
	Partitions         int
	Messages           uint64
	SnapshotsTaken     int
	SnapshotsInstalled int // received from a leader
	OpsOK              int // operations completed with an answer
	OpsFailed          int // definite failures and dropped reads
	WritesUnknown      int // writes whose client gave up
	MembershipChanges  int // conf change entries appended by a leader
	Decommissioned     int // nodes whose removal committed
	// ReadsAtOnce counts reads a leader answered in the step they were
	// invoked: with no heartbeat round, which takes at least two steps
	// (DelayMinSteps >= 1 each way, as RandomOptions draws it), so only a
	// lease can have answered.
	ReadsAtOnce int
	// LinearizabilityUnknown is true when porcupine ran out of time: the
	// history was neither proven linearizable nor refuted.
	LinearizabilityUnknown bool
}

// Failure is a run that broke a property: the seed that reproduces it, the
// property, and the last events that led there.
type Failure struct {
	Seed  uint64
	Step  int64
	Err   error
	Trace string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("seed %d, step %d: %v", f.Seed, f.Step, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Simulator runs one seeded cluster in one goroutine. It is not safe for
// concurrent use; run several Simulators for parallel sweeps.
type Simulator struct {
	opts       Options
	rng        *rand.Rand
	step       int64
	nodes      []*simNode // nodes[0] unused
	net        *network
	check      *checker
	trace      *tracer
	faulty     bool // false once the liveness phase has healed everything
	res        Result
	leader     consensus.NodeID // the leader most recently reported, for routing
	leaderTerm uint64

	clients   []*clientOp // the op in progress per client (nil: idle)
	nextOpID  uint64
	ts        int64 // logical time of invocations and completions
	history   []porcupine.Operation
	unknown   []*clientOp
	failedOps map[uint64]bool // writes known to have failed definitely
	acked     []*clientOp     // writes acknowledged as committed
	ackErr    error           // a violation found while settling acks

	nextConfID   uint64
	confRequests map[uint64]consensus.ConfChange // membership requests awaiting an ack
	removals     []pendingRemoval
}

// New prepares a simulation; live, when non-nil, receives every trace event.
func New(opts Options, live io.Writer) (*Simulator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5851f42d4c957f2d))
	s := &Simulator{
		opts:      opts,
		rng:       rng,
		net:       newNetwork(&opts.Network, rng, opts.machines()),
		check:     newChecker(opts.machines(), opts.SkipStampCheck),
		trace:     newTracer(opts.TraceEvents, live),
		faulty:    true,
		clients:   make([]*clientOp, opts.Workload.Clients),
		failedOps: map[uint64]bool{},

		confRequests: map[uint64]consensus.ConfChange{},
		res:          Result{Seed: opts.Seed, Nodes: opts.Nodes},
	}
	s.net.opts = &s.opts.Network
	s.nodes = make([]*simNode, opts.machines()+1)
	for i := 1; i <= opts.machines(); i++ {
		n := &simNode{id: consensus.NodeID(i), tickPeriodMillisteps: tickPeriodMillisteps(&opts, i, rng), clockMs: 1_700_000_000_000}
		n.nextTickMillistep = (rng.Int64N(n.tickPeriodSteps()) + 1) * 1000
		if err := n.restore(s); err != nil {
			return nil, err
		}
		s.nodes[i] = n
	}
	return s, nil
}

// tickPeriodMillisteps draws machine i's tick period. Without lease reads it
// is skewed by up to TickSkewPercent either way. With them the clocks obey
// the lease's assumption: periods lie between nominal and nominal +
// LeaseDriftPercent, machine 1 at the fast end and machine 2 at the slow end,
// so that the bound is met at its edge, not comfortably inside it.
func tickPeriodMillisteps(opts *Options, i int, rng *rand.Rand) int64 {
	nominal := opts.Faults.TickPeriodSteps
	if opts.ReadLeaseTicks == 0 {
		skew := int64(0)
		if p := opts.Faults.TickSkewPercent; p > 0 {
			skew = nominal * int64(rng.IntN(2*p+1)-p) / 100
		}
		return max(1, nominal+skew) * 1000
	}
	drift := int64(opts.LeaseDriftPercent)
	switch i {
	case 1:
		drift = 0
	case 2:
	default:
		drift = rng.Int64N(drift + 1)
	}
	return nominal * 1000 * (100 + drift) / 100
}

// Run simulates one seed: the fault phase, then the liveness phase, then the
// end checks. It returns a *Failure when a property breaks.
func Run(ctx context.Context, opts Options, live io.Writer) (Result, error) {
	s, err := New(opts, live)
	if err != nil {
		return Result{}, err
	}
	return s.Run(ctx)
}

// Run executes the simulation.
func (s *Simulator) Run(ctx context.Context) (Result, error) {
	if err := s.run(ctx); err != nil {
		return s.res, &Failure{Seed: s.opts.Seed, Step: s.step, Err: err, Trace: s.trace.dump()}
	}
	return s.res, nil
}

func (s *Simulator) run(ctx context.Context) error {
	s.trace.note(0, 0, "start: %d nodes, prevote=%v checkquorum=%v heartbeat=%d ticks, net %+v, faults %+v, bugs %+v",
		s.opts.Nodes, s.opts.PreVote, s.opts.CheckQuorum, s.opts.HeartbeatTicks, s.opts.Network, s.opts.Faults, s.opts.Bugs)
	for s.step = 1; s.step <= s.opts.SafetySteps; s.step++ {
		if s.step%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.faults(); err != nil {
			return err
		}
		s.clientsStep()
		if err := s.tick(); err != nil {
			return err
		}
	}
	if err := s.liveness(ctx); err != nil {
		return err
	}
	s.res.Steps = s.step
	return s.finalChecks()
}

// tick advances every part of the cluster by one step.
func (s *Simulator) tick() error {
	for {
		p, ok := s.net.due(s.step)
		if !ok {
			break
		}
		if err := s.deliver(p.msg); err != nil {
			return err
		}
	}
	for _, n := range s.nodes[1:] {
		if !n.up {
			continue
		}
		s.tickDue(n)
		if err := s.process(n); err != nil {
			return err
		}
	}
	return nil
}

// tickDue gives n the ticks whose time has come by this step; a busy node
// counts them (bounded) for when it is free.
func (s *Simulator) tickDue(n *simNode) {
	for n.nextTickMillistep <= s.step*1000 {
		n.nextTickMillistep += n.tickPeriodMillisteps
		n.clockMs += n.tickPeriodMillisteps / 1000
		if n.busy(s.step) {
			if n.pendingTicks < 2*s.opts.ElectionTicks {
				n.pendingTicks++
			}
			continue
		}
		n.raft.Tick(n.clockMs)
	}
}

// catchUpTicks gives n, with lease reads on and before it takes a read, the
// ticks it counted while busy and those due by this step: the node loop
// reads the monotonic clock and catches up the same way before a read
// (consensus.Node.catchUpTicks), so a leader's lease is judged against the
// time of the read, not against the last tick it happened to take.
func (s *Simulator) catchUpTicks(n *simNode) {
	if s.opts.ReadLeaseTicks == 0 {
		return
	}
	for ; n.pendingTicks > 0; n.pendingTicks-- {
		n.raft.Tick(n.clockMs)
	}
	s.tickDue(n)
}

func (s *Simulator) deliver(m consensus.Message) error {
	n := s.nodes[m.To]
	if !n.up {
		s.trace.message(s.step, evDrop, &m, 0)
		return nil
	}
	s.trace.message(s.step, evDeliver, &m, 0)
	if n.busy(s.step) {
		n.deferInput(input{kind: inputMessage, msg: m})
		return nil
	}
	return s.stepNode(n, m)
}

func (s *Simulator) stepNode(n *simNode, m consensus.Message) error {
	if m.Type == consensus.MsgReadIndex {
		s.catchUpTicks(n)
	}
	if err := n.raft.Step(m); err != nil {
		// A core may refuse stale or foreign messages; that is not a
		// safety problem, but it belongs in the trace.
		s.trace.note(s.step, n.id, "Step(%s from n%d): %v", m.Type, m.From, err)
	}
	return nil
}

// process lets node n finish a due sync, take deferred inputs, and take and
// handle its Readies.
func (s *Simulator) process(n *simNode) error {
	if s.step < n.pausedUntilStep {
		return nil
	}
	for range readyLoopMax {
		for len(n.syncs) > 0 && n.syncs[0].step <= s.step {
			ps := n.syncs[0]
			n.syncs[0] = pendingSync{}
			n.syncs = n.syncs[1:]
			if err := s.completeSync(n, ps); err != nil {
				return err
			}
			if s.ackErr != nil {
				return s.ackErr
			}
			if !n.up {
				return nil
			}
		}
		if n.blockingSync() {
			return nil
		}
		// Inputs never start a sync (only taking a Ready does), so the
		// whole inbox is taken in arrival order, and its array reused.
		for i := range n.inbox {
			if err := s.takeInput(n, n.inbox[i]); err != nil {
				return err
			}
			n.inbox[i] = input{}
		}
		n.inbox = n.inbox[:0]
		for ; n.pendingTicks > 0; n.pendingTicks-- {
			n.raft.Tick(n.clockMs)
		}
		if !n.raft.HasReady() {
			return nil
		}
		if err := s.takeReady(n); err != nil {
			return err
		}
		if s.ackErr != nil {
			return s.ackErr
		}
	}
	return nil
}

func (s *Simulator) takeInput(n *simNode, in input) error {
	switch in.kind {
	case inputMessage:
		return s.stepNode(n, in.msg)
	case inputPropose:
		n.raft.Propose(in.op.id, appendSetCommand(nil, in.op.key, in.op.id))
	case inputRead:
		s.catchUpTicks(n)
		n.raft.ReadIndex(in.op.id)
	case inputTransfer:
		n.raft.TransferLeader(in.to)
	case inputConfChange:
		s.confRequests[in.confID] = in.cc
		n.raft.ProposeConfChange(in.confID, in.cc)
	}
	return nil
}

// takeReady does what the Ready contract asks up to the sync: messages out,
// entries and hard state written (not yet durable), and schedules the sync.
func (s *Simulator) takeReady(n *simNode) error {
	rd := n.raft.Ready()
	// Messages to different peers carry no order between them, and a core
	// that builds them by ranging over a map hands them out in a random
	// order, which would make runs irreproducible: fix one order (stable,
	// so that messages to one peer keep theirs).
	slices.SortStableFunc(rd.Messages, byRecipient)
	slices.SortStableFunc(rd.MessagesAfterPersist, byRecipient)
	for i := range rd.Messages {
		s.send(&rd.Messages[i])
	}
	for _, c := range rd.SnapshotChunks {
		if c.Offset == 0 {
			n.spoolMeta, n.spoolBody = c.Meta, nil
		}
		if n.spoolMeta.Index != c.Meta.Index || n.spoolMeta.Term != c.Meta.Term || c.Offset != uint64(len(n.spoolBody)) {
			return violation("n%d: chunk of snapshot %d/t%d at offset %d does not continue the spool of %d/t%d (%d bytes)",
				n.id, c.Meta.Index, c.Meta.Term, c.Offset, n.spoolMeta.Index, n.spoolMeta.Term, len(n.spoolBody))
		}
		n.spoolBody = append(n.spoolBody, c.Data...)
	}
	if sn := rd.Snapshot; sn != nil {
		if n.spoolMeta.Index != sn.Meta.Index || n.spoolMeta.Term != sn.Meta.Term {
			return violation("n%d: snapshot %d/t%d to install, but the spool holds %d/t%d", n.id, sn.Meta.Index, sn.Meta.Term, n.spoolMeta.Index, n.spoolMeta.Term)
		}
		// Contract step 2: the log restarts after the snapshot (in the
		// page cache; durable, with the state machine, at the sync).
		n.written.ApplySnapshot(sn.Meta)
		if err := s.check.installSnapshot(n.id, sn.Meta.Index, sn.Meta.Term); err != nil {
			return err
		}
		s.res.SnapshotsInstalled++
		s.trace.note(s.step, n.id, "SNAPSHOT received through index %d term %d (%d bytes)", sn.Meta.Index, sn.Meta.Term, len(n.spoolBody))
	}
	if len(rd.Entries) > 0 {
		if err := n.written.Append(rd.Entries); err != nil {
			return fmt.Errorf("n%d: append %d entries at %d: %w", n.id, len(rd.Entries), rd.Entries[0].Index, err)
		}
		if err := s.check.appendEntries(n.id, rd.Entries); err != nil {
			return err
		}
	}
	f := &s.opts.Faults
	if rd.HardStateChanged {
		if err := n.written.SaveHardState(rd.HardState); err != nil {
			return fmt.Errorf("n%d: save hard state: %w", n.id, err)
		}
		if rd.HardState.Term < n.term {
			return violation("n%d: term goes down from %d to %d", n.id, n.term, rd.HardState.Term)
		}
		if last := s.check.lastIndex(n.id); rd.HardState.Commit > last {
			return violation("n%d: commit index %d beyond its last log index %d", n.id, rd.HardState.Commit, last)
		}
		// Leader commit rule (Raft §5.4.2, Figure 2): a leader advances its
		// commit index only to an entry of its own term. Checked only for
		// a node that already led this term at its previous Ready, since
		// one Ready may also carry a commit learned as a follower.
		if !s.opts.SkipCommitRuleCheck && n.role == consensus.RoleLeader && rd.HardState.Term == n.term && rd.HardState.Commit > n.commit {
			if t := s.check.logTerm(n.id, rd.HardState.Commit); t != rd.HardState.Term {
				return violation("leader commit rule: n%d, leading term %d, advances its commit index from %d to %d, an entry of term %d",
					n.id, rd.HardState.Term, n.commit, rd.HardState.Commit, t)
			}
		}
		if n.role == consensus.RoleLeader && rd.HardState.Commit > n.commit && s.faulty && n.crashStep == 0 &&
			f.CrashNewLeaderMaxSteps > 0 && s.rng.IntN(100) < f.CrashAfterCommitPercent {
			n.crashStep = s.step + 1 + s.rng.Int64N(f.CrashNewLeaderMaxSteps)
		}
		n.commit = max(n.commit, rd.HardState.Commit)
		n.term = rd.HardState.Term
	}
	if ss := rd.SoftState; ss != nil {
		if ss.Role != n.role || ss.Leader != n.leader {
			s.trace.note(s.step, n.id, "role %s term %d leader n%d", ss.Role, ss.Term, ss.Leader)
		}
		n.role, n.leader = ss.Role, ss.Leader
		if ss.Role == consensus.RoleLeader {
			if err := s.check.becameLeader(n.id, ss.Term); err != nil {
				return err
			}
			s.res.Elections++
			if s.faulty && f.CrashNewLeaderMaxSteps > 0 && s.rng.IntN(100) < f.CrashNewLeaderPercent {
				n.crashStep = s.step + 1 + s.rng.Int64N(f.CrashNewLeaderMaxSteps)
			}
		}
		if ss.Leader != consensus.None && ss.Term >= s.leaderTerm {
			s.leader, s.leaderTerm = ss.Leader, ss.Term
		}
	}
	syncStep := s.step + s.opts.Faults.SyncMinSteps
	if span := s.opts.Faults.SyncMaxSteps - s.opts.Faults.SyncMinSteps; span > 0 {
		syncStep += s.rng.Int64N(span + 1)
	}
	if k := len(n.syncs); k > 0 {
		// Writes complete in the order they were issued.
		syncStep = max(syncStep, n.syncs[k-1].step)
	}
	// A snapshot from the leader is installed with the disk idle, as the
	// node loop does (it drains its persister first): the node waits.
	if !s.opts.AsyncStorageWrites || rd.Snapshot != nil || len(rd.SnapshotChunks) > 0 {
		n.syncs = append(n.syncs, pendingSync{rd: rd, step: syncStep, blocking: true})
		return nil
	}
	// Asynchronous writes: the sync keeps only what it needs (the core
	// reuses the Ready's other arrays after Advance), and the node applies
	// what committed, settles its clients and advances at once.
	n.syncs = append(n.syncs, pendingSync{step: syncStep, rd: consensus.Ready{
		HardState: rd.HardState, HardStateChanged: rd.HardStateChanged,
		Entries: rd.Entries, MessagesAfterPersist: rd.MessagesAfterPersist,
	}})
	return s.settleReady(n, rd)
}

// completeSync is the end of a Ready's fsync: durable state, then the
// messages that promised it; for a blocking sync then apply, client
// outcomes and Advance; with asynchronous writes, StableTo.
func (s *Simulator) completeSync(n *simNode, ps pendingSync) error {
	rd := ps.rd
	if sn := rd.Snapshot; sn != nil {
		body := n.spoolBody
		n.spoolMeta, n.spoolBody = consensus.SnapshotMeta{}, nil
		n.installSnapshot(sn.Meta, body, false)
		if sn.Meta.Index < n.sm.applied {
			return fmt.Errorf("n%d: snapshot through %d would rewind a state machine at %d", n.id, sn.Meta.Index, n.sm.applied)
		}
		if err := n.sm.restore(body, sn.Meta.Index); err != nil {
			return fmt.Errorf("n%d: restore snapshot through %d: %w", n.id, sn.Meta.Index, err)
		}
		s.settleCoveredWrites(n)
	}
	if err := n.persist(&rd); err != nil {
		return err
	}
	crashAfterVote := false
	for i := range rd.MessagesAfterPersist {
		m := &rd.MessagesAfterPersist[i]
		s.send(m)
		if m.Type == consensus.MsgVoteResp && !m.Reject && s.faulty &&
			s.rng.IntN(100) < s.opts.Faults.CrashAfterVotePercent {
			crashAfterVote = true
		}
	}
	if ps.blocking {
		if err := s.settleReady(n, rd); err != nil {
			return err
		}
	}
	if k := len(rd.Entries); k > 0 && s.opts.AsyncStorageWrites {
		n.raft.StableTo(rd.Entries[k-1].Index, rd.Entries[k-1].Term)
	}
	if crashAfterVote && s.downCount() < s.opts.Faults.MaxDownNodes {
		s.crash(n, "right after granting a vote")
		n.restartStep = s.step + 1 + s.rng.Int64N(10)
	}
	return nil
}

// settleReady is contract step 5 and Advance: apply the committed entries,
// settle the clients' outcomes, maybe snapshot, advance the core.
func (s *Simulator) settleReady(n *simNode, rd consensus.Ready) error {
	for i := range rd.CommittedEntries {
		if err := s.apply(n, &rd.CommittedEntries[i]); err != nil {
			return err
		}
	}
	// As with messages, outcomes for different requests carry no order,
	// and a core may produce them from a map: fix one.
	slices.SortStableFunc(rd.ProposalAcks, func(a, b consensus.ProposalAck) int { return cmp.Compare(a.RequestID, b.RequestID) })
	slices.SortStableFunc(rd.ReadStates, func(a, b consensus.ReadState) int { return cmp.Compare(a.RequestID, b.RequestID) })
	slices.SortStableFunc(rd.ReadAcks, func(a, b consensus.ReadAck) int { return cmp.Compare(a.RequestID, b.RequestID) })
	for _, ack := range rd.ProposalAcks {
		if ack.RequestID&confRequestBit != 0 {
			s.confAck(n, ack)
			continue
		}
		s.proposalAck(n, ack)
		if s.ackErr != nil {
			return s.ackErr
		}
	}
	for _, rs := range rd.ReadStates {
		if op := n.findOp(rs.RequestID); op != nil && !op.write {
			op.readIndexKnown, op.readIndex = true, rs.Index
			if op.startStep == s.step && n.role == consensus.RoleLeader {
				s.res.ReadsAtOnce++
			}
		}
	}
	for _, ra := range rd.ReadAcks {
		if op := n.findOp(ra.RequestID); op != nil && !op.write && ra.Err != nil {
			s.finishFailed(n, op, ra.Err)
		}
	}
	s.serveReads(n)
	if err := s.maybeSnapshot(n); err != nil {
		return err
	}
	n.raft.Advance(rd)
	return nil
}

// settleCoveredWrites decides the writes waiting on n whose index a
// restored snapshot has covered: the committed record says which entry is
// there.
func (s *Simulator) settleCoveredWrites(n *simNode) {
	for _, op := range n.ops {
		if op.write && op.acked && !op.done && op.ackIndex <= n.sm.applied {
			if err := s.settleWrite(n, op, s.check.committedTerm(op.ackIndex), nil); err != nil && s.ackErr == nil {
				s.ackErr = err
			}
		}
	}
	n.compactOps()
}

// maybeSnapshot takes a snapshot of n's state machine and compacts its log
// when SnapshotEveryEntries entries were applied since the last one. The
// snapshot is written durably at once (a file written and fsynced before
// the log is truncated).
func (s *Simulator) maybeSnapshot(n *simNode) error {
	every := s.opts.SnapshotEveryEntries
	index := n.sm.applied
	if every == 0 || index < n.durableSnap.Index+every || index > n.durableLastIndex() {
		return nil
	}
	// With asynchronous writes the state machine may have applied entries
	// whose write is still in flight, over an older suffix on the disk: the
	// snapshot waits until the disk holds the entry at its index (the node
	// waits for its persister, Node.SnapshotMeta).
	for i := range n.syncs {
		if ents := n.syncs[i].rd.Entries; len(ents) > 0 && ents[0].Index <= index {
			return nil
		}
	}
	term := s.check.logTerm(n.id, index)
	conf, err := n.raft.ConfStateAt(index)
	if err != nil {
		return fmt.Errorf("n%d: snapshot at %d: %w", n.id, index, err)
	}
	meta := consensus.SnapshotMeta{Index: index, Term: term, ConfState: conf}
	// The snapshot carries the last entry's stamp, as the server's do, so
	// that a leader whose log it replaces keeps stamps monotonic.
	last, err := n.written.Entry(index)
	if err != nil {
		return fmt.Errorf("n%d: snapshot at %d: %w", n.id, index, err)
	}
	meta.TimeMs = last.TimeMs
	n.installSnapshot(meta, n.sm.snapshot(), true)
	if err := n.written.TruncatePrefix(index, term); err != nil {
		return fmt.Errorf("n%d: compact the log through %d: %w", n.id, index, err)
	}
	s.res.SnapshotsTaken++
	s.trace.note(s.step, n.id, "SNAPSHOT taken through index %d term %d; log compacted", index, term)
	return nil
}

func byRecipient(a, b consensus.Message) int { return cmp.Compare(a.To, b.To) }

func (s *Simulator) send(m *consensus.Message) {
	s.res.Messages++
	if err := s.check.leaderMessage(m); err != nil && s.ackErr == nil {
		s.ackErr = err
	}
	v := s.net.send(s.step, *m)
	s.trace.message(s.step, evSend, m, v)
}

// apply applies one committed entry to n's state machine and settles the
// writes waiting on its index.
func (s *Simulator) apply(n *simNode, e *consensus.Entry) error {
	if e.Index != n.sm.applied+1 {
		return violation("n%d applies index %d after %d (gap or repeat)", n.id, e.Index, n.sm.applied)
	}
	if err := s.check.applied(n.id, n.term, e); err != nil {
		return err
	}
	n.sm.applied = e.Index
	if e.Type == consensus.EntryConfChange {
		s.appliedConfChange(e)
	}
	if e.Type == consensus.EntryNormal && len(e.Data) > 0 {
		key, value, err := decodeSetCommand(e.Data)
		if err != nil {
			return fmt.Errorf("n%d applies index %d: %w", n.id, e.Index, err)
		}
		if err := n.sm.set(key, value); err != nil {
			return fmt.Errorf("n%d applies index %d: %w", n.id, e.Index, err)
		}
		if s.failedOps[value] {
			return violation("write %d was reported failed definitely, yet n%d applies it at index %d term %d", value, n.id, e.Index, e.Term)
		}
	}
	for _, op := range n.ops {
		if op.write && op.acked && !op.done && op.ackIndex == e.Index {
			if err := s.settleWrite(n, op, e.Term, e); err != nil {
				return err
			}
		}
	}
	n.compactOps()
	return nil
}

// settleWrite decides a write acked at (ackIndex, ackTerm) now that the entry
// at ackIndex is known committed with term.
func (s *Simulator) settleWrite(n *simNode, op *clientOp, term uint64, e *consensus.Entry) error {
	if term != op.ackTerm {
		s.failedOps[op.id] = true
		s.finishFailed(n, op, consensus.ErrProposalDropped)
		return nil
	}
	if e != nil {
		if _, value, err := decodeSetCommand(e.Data); err != nil || value != op.id {
			return violation("write %d was acked at index %d term %d, but that entry is another (value %d, err %v)",
				op.id, op.ackIndex, op.ackTerm, value, err)
		}
	}
	s.finishOK(n, op, 0)
	s.acked = append(s.acked, op)
	return nil
}

func (s *Simulator) proposalAck(n *simNode, ack consensus.ProposalAck) {
	op := n.findOp(ack.RequestID)
	if op == nil || !op.write || op.done {
		return
	}
	if op.acked && ack.Err == nil && (ack.Index != op.ackIndex || ack.Term != op.ackTerm) {
		s.trace.note(s.step, n.id, "request %d acked twice: at %d/t%d and at %d/t%d", op.id, op.ackIndex, op.ackTerm, ack.Index, ack.Term)
		s.ackErr = violation("request %d got two ProposalAcks naming different entries (%d/t%d, %d/t%d): one request, two entries",
			op.id, op.ackIndex, op.ackTerm, ack.Index, ack.Term)
		return
	}
	if errors.Is(ack.Err, consensus.ErrTimeout) {
		// A proposal forwarded to a leader that is no longer known: it
		// may still commit.
		s.giveUp(op, ack.Err.Error())
		return
	}
	if ack.Err != nil {
		s.failedOps[op.id] = true
		s.finishFailed(n, op, ack.Err)
		return
	}
	op.acked, op.ackIndex, op.ackTerm = true, ack.Index, ack.Term
	if ack.Index <= n.sm.applied {
		// The entry committed (and was applied here) before the ack came
		// back, which forwarding and a slow network allow.
		var e *consensus.Entry
		term := s.check.committedTerm(ack.Index)
		if term == op.ackTerm {
			if got, err := n.written.Entry(ack.Index); err == nil {
				e = &got
			}
		}
		if err := s.settleWrite(n, op, term, e); err != nil {
			s.ackErr = err
		}
	}
}

func (s *Simulator) serveReads(n *simNode) {
	for _, op := range n.ops {
		if !op.write && !op.done && op.readIndexKnown && op.readIndex <= n.sm.applied {
			s.finishOK(n, op, n.sm.get(op.key))
		}
	}
	n.compactOps()
}

// finishOK records a completed operation in the history.
func (s *Simulator) finishOK(n *simNode, op *clientOp, readValue uint64) {
	op.done = true
	s.ts++
	in := registerInput{write: op.write, key: op.key, value: op.id}
	var out any = uint64(0)
	if !op.write {
		out = readValue
	}
	s.history = append(s.history, porcupine.Operation{ClientId: op.client, Input: in, Call: op.callTs, Output: out, Return: s.ts})
	s.res.OpsOK++
	s.clients[op.client] = nil
	s.trace.note(s.step, n.id, "client %d: %s ok (value %d)", op.client, opName(op), readValue)
}

// finishFailed ends an operation that had no effect: it stays out of the
// history.
func (s *Simulator) finishFailed(n *simNode, op *clientOp, err error) {
	op.done = true
	s.res.OpsFailed++
	s.clients[op.client] = nil
	s.trace.note(s.step, n.id, "client %d: %s failed: %v", op.client, opName(op), err)
}

// giveUp ends an operation whose outcome the client will never learn. A
// write may still take effect: it enters the history with no return.
func (s *Simulator) giveUp(op *clientOp, why string) {
	op.done = true
	s.clients[op.client] = nil
	if op.write {
		s.unknown = append(s.unknown, op)
		s.res.WritesUnknown++
	}
	s.trace.note(s.step, op.node, "client %d: %s gives up: %s", op.client, opName(op), why)
}

func opName(op *clientOp) string {
	if op.write {
		return fmt.Sprintf("set(k%d, %d)", op.key, op.id)
	}
	return fmt.Sprintf("get(k%d)#%d", op.key, op.id)
}

func (n *simNode) findOp(id uint64) *clientOp {
	for _, op := range n.ops {
		if op.id == id {
			return op
		}
	}
	return nil
}

func (n *simNode) compactOps() {
	kept := n.ops[:0]
	for _, op := range n.ops {
		if !op.done {
			kept = append(kept, op)
		}
	}
	clear(n.ops[len(kept):])
	n.ops = kept
}

// clientsStep times out waiting clients and starts new operations.
func (s *Simulator) clientsStep() {
	for c, op := range s.clients {
		if op != nil && s.step >= op.deadlineStep {
			s.giveUp(op, "timeout")
			s.nodes[op.node].compactOps()
			continue
		}
		if op != nil || !s.faulty || s.rng.IntN(100) >= s.opts.Workload.OpPercentPerStep {
			continue
		}
		s.startOp(c, s.rng.IntN(100) >= s.opts.Workload.ReadPercent, consensus.None)
	}
}

// startOp sends a new operation from client c to target (None: the client
// picks, usually the known leader).
func (s *Simulator) startOp(c int, write bool, target consensus.NodeID) *clientOp {
	if target == consensus.None {
		target = consensus.NodeID(1 + s.rng.IntN(s.opts.machines()))
		if s.leader != consensus.None && s.rng.IntN(100) < s.opts.Workload.LeaderPercent {
			target = s.leader
		}
	}
	n := s.nodes[target]
	if !n.up {
		return nil // connection refused: nothing happened
	}
	s.nextOpID++
	s.ts++
	op := &clientOp{
		id: s.nextOpID, client: c, write: write, key: s.rng.Uint64N(s.opts.Workload.Keys),
		node: target, callTs: s.ts, startStep: s.step, deadlineStep: s.step + s.opts.Workload.TimeoutSteps,
	}
	s.clients[c] = op
	n.ops = append(n.ops, op)
	s.trace.note(s.step, n.id, "client %d: %s invoked", c, opName(op))
	kind := inputRead
	if write {
		kind = inputPropose
	}
	if n.busy(s.step) {
		if !n.deferInput(input{kind: kind, op: op}) {
			s.finishFailed(n, op, errors.New("node inbox full"))
			n.compactOps()
		}
		return op
	}
	_ = s.takeInput(n, input{kind: kind, op: op})
	return op
}

func (s *Simulator) downCount() int {
	down := 0
	for _, n := range s.nodes[1:] {
		if !n.up && !n.decommissioned {
			down++
		}
	}
	return down
}

// crash takes n down; its waiting clients lose their answers.
func (s *Simulator) crash(n *simNode, why string) {
	s.tornSync(n)
	s.trace.note(s.step, n.id, "CRASH (%s); durable: snapshot %d, %d entries, %+v", why, n.durableSnap.Index, len(n.durableEntries), n.durableHard)
	for _, op := range n.ops {
		if !op.done {
			s.giveUp(op, "node crashed")
		}
	}
	n.ops = n.ops[:0]
	n.crash()
	if !n.decommissioned {
		s.res.Crashes++ // a decommissioned node is no fault
	}
	if s.leader == n.id {
		s.leader = consensus.None
	}
}

// tornSync models a crash in the middle of n's fsync: the disk wrote its
// batch in order (entries, then hard state) and a random prefix of it made
// it. Nothing the node promised depends on it (MessagesAfterPersist are still
// unsent), so the core must cope with any prefix, e.g. entries of a term
// newer than the durable hard state's.
func (s *Simulator) tornSync(n *simNode) {
	if len(n.syncs) == 0 {
		return
	}
	rd := &n.syncs[0].rd
	if rd.Snapshot != nil || len(rd.Entries) == 0 && !rd.HardStateChanged ||
		s.rng.IntN(100) >= s.opts.Faults.TornSyncPercent {
		return
	}
	keep := s.rng.IntN(len(rd.Entries) + 1)
	torn := consensus.Ready{Entries: rd.Entries[:keep]}
	if keep == len(rd.Entries) && s.rng.IntN(2) == 0 {
		torn.HardState, torn.HardStateChanged = rd.HardState, rd.HardStateChanged
	}
	if err := n.persist(&torn); err != nil {
		s.trace.note(s.step, n.id, "torn sync: %v", err)
		return
	}
	s.trace.note(s.step, n.id, "TORN sync: %d of %d entries and hard state %v reached the disk", keep, len(rd.Entries), torn.HardStateChanged)
}

func (s *Simulator) restart(n *simNode) error {
	if err := n.restore(s); err != nil {
		return err
	}
	s.check.resetLog(n.id)
	if sn := n.durableSnap; sn.Index > 0 {
		if err := s.check.installSnapshot(n.id, sn.Index, sn.Term); err != nil {
			return err
		}
	}
	if err := s.check.appendEntries(n.id, n.durableEntries); err != nil {
		return err
	}
	n.nextTickMillistep = (s.step + 1 + s.rng.Int64N(n.tickPeriodSteps())) * 1000
	s.trace.note(s.step, n.id, "RESTART from snapshot %d and %d durable entries, %+v", n.durableSnap.Index, len(n.durableEntries), n.durableHard)
	return nil
}

// faults changes the network and crashes and restarts nodes.
func (s *Simulator) faults() error {
	for _, n := range s.nodes[1:] {
		if !n.up && n.restartStep <= s.step {
			if err := s.restart(n); err != nil {
				return err
			}
		}
	}
	s.settleRemovals()
	if !s.faulty {
		return nil
	}
	if err := s.membershipStep(); err != nil {
		return err
	}
	f := &s.opts.Faults
	for _, n := range s.nodes[1:] {
		if n.up && n.crashStep > 0 && n.crashStep <= s.step && s.downCount() < f.MaxDownNodes {
			s.crash(n, "soon after becoming leader")
			n.restartStep = s.step + f.RestartMinSteps
			if span := f.RestartMaxSteps - f.RestartMinSteps; span > 0 {
				n.restartStep += s.rng.Int64N(span + 1)
			}
		}
	}
	if s.net.maybeChange(s.step, s.leader) {
		if s.net.partitioned {
			s.res.Partitions++
			s.trace.note(s.step, 0, "PARTITION %s: %s", s.net.mode, s.net.describe())
		} else {
			s.trace.note(s.step, 0, "network healed")
		}
	}
	if f.ClockJumpPerTenThousand > 0 && f.ClockJumpMaxMs > 0 && s.rng.IntN(10_000) < f.ClockJumpPerTenThousand {
		n := s.nodes[1+s.rng.IntN(s.opts.machines())]
		jump := s.rng.Int64N(2*f.ClockJumpMaxMs+1) - f.ClockJumpMaxMs
		n.clockMs += jump
		s.trace.note(s.step, n.id, "CLOCK jumps %+d ms", jump)
	}
	if f.TransferPerTenThousand > 0 && s.rng.IntN(10_000) < f.TransferPerTenThousand {
		if l := s.currentLeader(); l != consensus.None {
			to := consensus.NodeID(1 + s.rng.IntN(s.opts.machines()))
			if to != l {
				n := s.nodes[l]
				s.trace.note(s.step, l, "TRANSFER leadership to n%d requested", to)
				in := input{kind: inputTransfer, to: to}
				if n.busy(s.step) {
					n.deferInput(in)
				} else if err := s.takeInput(n, in); err != nil {
					return err
				}
			}
		}
	}
	if f.PausePerTenThousand > 0 && f.PauseMaxSteps > 0 && s.rng.IntN(10_000) < f.PausePerTenThousand {
		victim := s.nodes[1+s.rng.IntN(s.opts.machines())]
		if s.leader != consensus.None && s.rng.IntN(100) < f.CrashLeaderPercent {
			victim = s.nodes[s.leader]
		}
		if victim.up && s.step >= victim.pausedUntilStep {
			victim.pausedUntilStep = s.step + 1 + s.rng.Int64N(f.PauseMaxSteps)
			s.trace.note(s.step, victim.id, "PAUSE until step %d", victim.pausedUntilStep)
		}
	}
	if f.CrashPerTenThousand > 0 && s.rng.IntN(10_000) < f.CrashPerTenThousand && s.downCount() < f.MaxDownNodes {
		victim := s.nodes[1+s.rng.IntN(s.opts.machines())]
		if s.leader != consensus.None && s.rng.IntN(100) < f.CrashLeaderPercent {
			victim = s.nodes[s.leader]
		}
		if victim.up {
			s.crash(victim, "scheduled")
			victim.restartStep = s.step + f.RestartMinSteps
			if span := f.RestartMaxSteps - f.RestartMinSteps; span > 0 {
				victim.restartStep += s.rng.Int64N(span + 1)
			}
		}
	}
	return nil
}

// liveness heals every fault, then requires a leader and a newly committed
// write within LivenessElectionTimeouts election timeouts, and then every
// node to catch up.
func (s *Simulator) liveness(ctx context.Context) error {
	s.faulty = false
	s.net.heal()
	s.opts.Network.LossPercent = 0
	s.opts.Network.DuplicatePercent = 0
	s.opts.Network.SpikePercent = 0
	for _, n := range s.nodes[1:] {
		if !n.decommissioned {
			n.restartStep = s.step
		}
	}
	s.trace.note(s.step, 0, "LIVENESS PHASE: network healed, all nodes restart")
	maxPeriod := int64(1)
	for _, n := range s.nodes[1:] {
		maxPeriod = max(maxPeriod, n.tickPeriodSteps())
	}
	// Packets already in flight may carry a long spike; the budget starts
	// once they have landed.
	timeouts := s.opts.LivenessElectionTimeouts
	if !s.opts.PreVote {
		// Without pre-vote a node whose log is too stale to win still
		// raises everyone's term when it times out first, restarting
		// their election timers; a leader comes only when an up-to-date
		// node times out first, so allow three times as long.
		timeouts *= 3
	}
	budget := timeouts*int64(s.opts.ElectionTicks)*maxPeriod + s.opts.Network.SpikeMaxSteps
	// A leader that must first bring a long backlog to its followers one
	// small message at a time (MaxMsgBytes, MaxInflight) is slow, not
	// stuck: while replication makes progress the deadline moves, up to
	// livenessProgressBudgets budgets in all.
	hardDeadline := s.step + livenessProgressBudgets*budget
	deadline := s.step + budget
	progress := s.replicationProgress()
	extend := func() {
		if p := s.replicationProgress(); p > progress {
			progress = p
			deadline = min(hardDeadline, s.step+budget)
		}
	}
	probeClient := len(s.clients)
	s.clients = append(s.clients, nil)
	var probe *clientOp
	var probeIndex uint64
	for ; ; s.step++ {
		if s.step%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		extend()
		if s.step > deadline {
			return violation("liveness: no leader committed a new write within %d steps (%d election timeouts) of the last replication progress after healing; leader hint n%d term %d",
				budget, timeouts, s.leader, s.leaderTerm)
		}
		if err := s.faults(); err != nil {
			return err
		}
		s.clientsStep()
		if probe == nil && s.clients[probeClient] == nil {
			if l := s.currentLeader(); l != consensus.None {
				probe = s.startOp(probeClient, true, l)
			}
		}
		if err := s.tick(); err != nil {
			return err
		}
		if probe != nil && probe.done {
			if probe.acked && !s.failedOps[probe.id] && s.check.committedTerm(probe.ackIndex) == probe.ackTerm {
				probeIndex = probe.ackIndex
				break
			}
			probe = nil // failed or gave up: try again with whoever leads now
		}
	}
	s.trace.note(s.step, 0, "liveness: write committed at index %d", probeIndex)
	// Every node must now catch up to the probe and to every write acked
	// meanwhile (writes in flight before the probe may land after it).
	hardDeadline = s.step + livenessProgressBudgets*budget
	deadline = s.step + budget
	for ; ; s.step++ {
		extend()
		target := probeIndex
		for _, op := range s.acked {
			target = max(target, op.ackIndex)
		}
		behind := consensus.None
		for _, id := range s.members() {
			if n := s.nodes[id]; n.sm == nil || n.sm.applied < target {
				behind = n.id
				break
			}
		}
		if behind == consensus.None {
			return nil
		}
		if s.step > deadline {
			if s.nodes[behind].sm == nil {
				return violation("liveness: member n%d is down (decommissioned %v), %d steps after the last replication progress",
					behind, s.nodes[behind].decommissioned, budget)
			}
			return violation("liveness: n%d has applied %d, not index %d, %d steps after the last replication progress",
				behind, s.nodes[behind].sm.applied, target, budget)
		}
		if err := s.faults(); err != nil {
			return err
		}
		s.clientsStep()
		if err := s.tick(); err != nil {
			return err
		}
	}
}

// livenessProgressBudgets caps how far replication progress may push the
// liveness deadline, in budgets of LivenessElectionTimeouts.
const livenessProgressBudgets = 5

// replicationProgress grows whenever any node's log or applied index grows.
func (s *Simulator) replicationProgress() uint64 {
	var p uint64
	for _, n := range s.nodes[1:] {
		p += s.check.lastIndex(n.id)
		if n.sm != nil {
			p += n.sm.applied
		}
	}
	return p
}

// currentLeader is a live node that believes it leads in the highest term.
func (s *Simulator) currentLeader() consensus.NodeID {
	best, bestTerm := consensus.None, uint64(0)
	for _, n := range s.nodes[1:] {
		if n.up && n.role == consensus.RoleLeader && n.term >= bestTerm {
			best, bestTerm = n.id, n.term
		}
	}
	return best
}

// finalChecks: every acknowledged write is in every node's applied state,
// and the client history is linearizable.
func (s *Simulator) finalChecks() error {
	members := s.members()
	for _, op := range s.acked {
		for _, id := range members {
			n := s.nodes[id]
			if n.sm == nil {
				return violation("member n%d is down at the end", id)
			}
			if n.sm.applied < op.ackIndex || s.check.logTerm(n.id, op.ackIndex) != op.ackTerm {
				return violation("acknowledged write %d (index %d term %d) is not applied on n%d (applied %d, term there %d)",
					op.id, op.ackIndex, op.ackTerm, n.id, n.sm.applied, s.check.logTerm(n.id, op.ackIndex))
			}
		}
	}
	history := s.history
	for _, op := range s.clients {
		if op != nil && !op.done && op.write {
			s.unknown = append(s.unknown, op)
		}
	}
	for _, op := range s.unknown {
		history = append(history, porcupine.Operation{
			ClientId: op.client, Input: registerInput{write: true, key: op.key, value: op.id},
			Call: op.callTs, Output: uint64(0), Return: math.MaxInt64,
		})
	}
	switch checkLinearizable(history, 10*time.Second) {
	case porcupine.Illegal:
		return violation("linearizability: the history of %d operations (%d with unknown outcome) has no linearization", len(history), len(s.unknown))
	case porcupine.Unknown:
		s.res.LinearizabilityUnknown = true
	}
	return nil
}
