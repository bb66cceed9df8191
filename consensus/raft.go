package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
)

// voteContextTransfer marks a MsgVote sent on MsgTimeoutNow (leader
// transfer): voters grant it despite the leader lease (etcd's "force").
const voteContextTransfer uint64 = 1

// stepFunc handles a message after the shared rules of Step; tickFunc
// advances one role's timers. They are swapped on each role change.
type (
	stepFunc func(r *Raft, m Message) error
	tickFunc func(r *Raft)
)

// Raft is the deterministic consensus core of one node. Events come in
// through Tick, Step, Propose, ReadIndex and TransferLeader; effects come out
// as a Ready, which the node loop carries out and confirms with Advance. It
// does no I/O except reading Config.Log and Config.Snapshots, reads no clock,
// starts no goroutine and is not safe for concurrent use: one goroutine owns
// it.
type Raft struct {
	id     NodeID
	cfg    Config
	logger *slog.Logger
	rng    *rand.Rand
	bugs   BugHooks

	term uint64
	vote NodeID
	lead NodeID
	role Role
	log  raftLog

	voters   []NodeID // sorted
	learners []NodeID // sorted
	// conf is the membership as a function of the log index; voters and
	// learners are always its latest (membership.go).
	conf confHistory
	// removal is the latest MsgRemoved a leader sent us (membership.go).
	removal removalNotice
	// progress is the leader's view of every member (nil unless leader).
	progress map[NodeID]*progress
	// votes holds the answers to the election in progress.
	votes map[NodeID]bool

	// ticks counts Tick calls since start: the clock of lease reads.
	ticks                   uint64
	electionElapsed         int
	heartbeatElapsed        int
	randomizedElectionTicks int
	leadTransferee          NodeID

	// nowMs is the wall clock of the last Tick; lastStampMs the TimeMs of
	// the last entry this node appended as leader (stamps never decrease).
	nowMs, lastStampMs int64

	step stepFunc
	tick tickFunc

	// Effects gathered since the last Ready.
	msgs             []Message
	msgsAfterPersist []Message
	proposalAcks     []ProposalAck
	readStates       []ReadState
	readAcks         []ReadAck
	// needBcast: entries were appended or commit moved since the last
	// Ready; the MsgApps go out once, at Ready time, so that every proposal
	// between two Readys shares a MsgApp (batching).
	needBcast bool

	prevSoft SoftState
	prevHard HardState

	reads readIndexState
	// forwardedReads are the ReadIndex requests this follower sent to its
	// leader and awaits (bounded by MaxPendingReads).
	forwardedReads map[uint64]struct{}
	// forwardedProps are the proposals this follower sent to its leader
	// and whose answer it awaits (bounded by MaxUncommittedEntries, what
	// the leader would hold of them at most).
	forwardedProps map[uint64]struct{}
	incoming       *snapshotAssembly
	snapshotChunks []SnapshotChunk // for the next Ready

	matchScratch []uint64
}

// NewRaft builds the core from cfg: the durable log and hard state as of
// start, and the membership.
func NewRaft(cfg Config) (*Raft, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	first, last := cfg.Log.FirstIndex(), cfg.Log.LastIndex()
	if first == 0 || last+1 < first {
		return nil, fmt.Errorf("consensus: log storage has first index %d, last index %d: %w", first, last, errLogCorrupt)
	}
	hs := cfg.HardState
	committed := max(hs.Commit, cfg.Applied)
	if committed > last {
		return nil, fmt.Errorf("consensus: commit %d (applied %d) is past the log's last index %d: %w",
			hs.Commit, cfg.Applied, last, ErrUnavailable)
	}
	if cfg.Applied+1 < first {
		return nil, fmt.Errorf("consensus: applied %d is before the log's first index %d (snapshot not restored?): %w",
			cfg.Applied, first, ErrCompacted)
	}
	r := &Raft{
		id:     cfg.ID,
		cfg:    cfg,
		logger: cfg.Logger.With("raft", uint64(cfg.ID)),
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.ID))),
		log: raftLog{
			storage:        cfg.Log,
			unstableOffset: last + 1,
			inProgress:     last,
			committed:      committed,
			applying:       cfg.Applied,
			applied:        cfg.Applied,
		},
		term:  hs.Term,
		vote:  hs.Vote,
		votes: make(map[NodeID]bool),

		forwardedReads: make(map[uint64]struct{}),
		forwardedProps: make(map[uint64]struct{}),
	}
	if cfg.Bugs != nil {
		r.bugs = *cfg.Bugs
	}
	base := ConfState{Voters: cfg.Voters, Learners: cfg.Learners}
	baseIndex := first - 1
	if cfg.Snapshots != nil {
		if meta, ok := cfg.Snapshots.Latest(); ok {
			if len(meta.ConfState.Voters) > 0 {
				// The membership at the snapshot's index; the conf entries
				// of the log after it follow. (A snapshot outside the log's
				// range is odd: its membership is the best guess there is.)
				base, baseIndex = meta.ConfState, min(max(meta.Index, baseIndex), last)
			}
			r.lastStampMs = max(r.lastStampMs, meta.TimeMs)
		}
	}
	if err := r.loadMembership(base, baseIndex, last); err != nil {
		return nil, err
	}
	r.prevHard = hs
	r.becomeFollower(r.term, None)
	r.prevSoft = r.softState()
	return r, nil
}

// setMembership installs a membership, checking it.
func (r *Raft) setMembership(voters, learners []NodeID) error {
	if len(voters) == 0 {
		return fmt.Errorf("%w: no voters", errConfig)
	}
	v := slices.Clone(voters)
	l := slices.Clone(learners)
	slices.Sort(v)
	slices.Sort(l)
	v, l = slices.Compact(v), slices.Compact(l)
	for _, id := range v {
		if id == None {
			return fmt.Errorf("%w: voter id 0", errConfig)
		}
		if _, found := slices.BinarySearch(l, id); found {
			return fmt.Errorf("%w: node %d is both voter and learner", errConfig, id)
		}
	}
	r.voters, r.learners = v, l
	r.matchScratch = make([]uint64, 0, len(v))
	return nil
}

func (r *Raft) isVoter(id NodeID) bool {
	_, found := slices.BinarySearch(r.voters, id)
	return found
}

// promotable reports whether this node may campaign.
func (r *Raft) promotable() bool {
	return r.isVoter(r.id) && r.log.pendingSnap == nil && !r.removed()
}

func (r *Raft) softState() SoftState { return SoftState{Role: r.role, Term: r.term, Leader: r.lead} }

func (r *Raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

// ---- events ----

// Tick advances logical time by one tick; nowMs is the wall clock used to
// stamp entries (a smaller value than before is ignored).
func (r *Raft) Tick(nowMs int64) {
	if nowMs > r.nowMs {
		r.nowMs = nowMs
	}
	r.ticks++
	r.tick(r)
}

// Step feeds one message from a peer. Malformed messages are refused with an
// error and change nothing; everything else is handled per the rules.
// Reference: Raft §5.1 (terms), thesis §9.6 (pre-vote, lease).
func (r *Raft) Step(m Message) error {
	if err := r.checkMessage(m); err != nil {
		return err
	}
	// Removal is a fact of the committed log, not of a term: it is told
	// and taken whatever the terms (membership.go).
	if m.Type == MsgRemoved {
		r.handleRemoved(m)
		return nil
	}
	if r.answerRemoved(m) {
		return nil
	}
	switch {
	case m.Term == 0:
		// Term-less forwards (MsgProp, MsgReadIndex, MsgTransferLeader).
	case m.Term > r.term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := m.Type == MsgVote && m.Context == voteContextTransfer
			inLease := r.cfg.CheckQuorum && r.lead != None && r.electionElapsed < r.cfg.ElectionTicks
			// With lease reads a node that just started may have promised
			// a leader, before it stopped, not to vote for another within
			// an election timeout: it keeps that promise (readindex.go).
			inLease = inLease || (r.cfg.ReadLeaseTicks > 0 && r.ticks < uint64(r.cfg.ElectionTicks))
			if !force && inLease {
				// We heard from a leader within the election timeout: a
				// candidate now is disruptive, not needed.
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote never changes our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term we would campaign in.
		case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
			r.becomeFollower(m.Term, m.From)
		case m.Type == MsgVote:
			// Raft Figure 2: only a granted vote (or a leader) resets the
			// election timer, not a higher term. Otherwise a candidate
			// whose log is too old to win, campaigning again and again,
			// keeps resetting the timers of the nodes that could win.
			elapsed := r.electionElapsed
			r.becomeFollower(m.Term, None)
			r.electionElapsed = elapsed
		default:
			r.becomeFollower(m.Term, None)
		}
	case m.Term < r.term:
		switch {
		case (r.cfg.CheckQuorum || r.cfg.PreVote || !r.promotable()) && (m.Type == MsgHeartbeat || m.Type == MsgApp):
			// A stale leader: tell it our term so it steps down (otherwise
			// with pre-vote it would never hear a higher term). Without
			// pre-vote and check-quorum a node's next campaign tells it,
			// but a node that never campaigns (a learner in its own log)
			// must answer: else a learner that moved to a later term
			// (granting a vote that then lost) and a leader of the older
			// term ignore each other for ever (sim seed 102819).
			r.send(Message{To: m.From, Type: MsgAppResp})
		case m.Type == MsgPreVote:
			r.send(Message{To: m.From, Term: r.term, Type: MsgPreVoteResp, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
		return nil
	}
	return r.step(r, m)
}

// checkMessage refuses messages no correct peer sends.
func (r *Raft) checkMessage(m Message) error {
	if !m.Type.Valid() {
		return fmt.Errorf("consensus: message type %d from %d: invalid", m.Type, m.From)
	}
	if m.From == None || m.From == r.id {
		return fmt.Errorf("consensus: %v from node %d to %d: bad sender", m.Type, m.From, r.id)
	}
	if m.To != r.id {
		return fmt.Errorf("consensus: %v from %d for node %d delivered to %d", m.Type, m.From, m.To, r.id)
	}
	// Only forwards are term-less; a node still at term 0 rejecting a
	// pre-vote is the one other sender of term 0.
	if termless(m.Type) != (m.Term == 0) && !(m.Type == MsgPreVoteResp && m.Reject) {
		return fmt.Errorf("consensus: %v from %d with term %d", m.Type, m.From, m.Term)
	}
	if m.Type == MsgApp {
		for i := range m.Entries {
			e := &m.Entries[i]
			if want := m.Index + 1 + uint64(i); e.Index != want {
				return fmt.Errorf("consensus: MsgApp from %d: entry %d has index %d, want %d", m.From, i, e.Index, want)
			}
			if e.Term > m.Term || e.Term < m.LogTerm || (i > 0 && e.Term < m.Entries[i-1].Term) {
				return fmt.Errorf("consensus: MsgApp from %d at term %d: entry %d has term %d", m.From, m.Term, e.Index, e.Term)
			}
		}
	}
	return nil
}

// termless types are forwarded requests that carry no term: a follower in
// an older term may still forward them to the leader it knows.
func termless(t MessageType) bool {
	return t == MsgProp || t == MsgReadIndex || t == MsgTransferLeader
}

// handleVoteRequest decides MsgVote and MsgPreVote (Raft §5.2, §5.4.1).
func (r *Raft) handleVoteRequest(m Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
		r.send(Message{To: m.From, Term: m.Term, Type: respType})
		if m.Type == MsgVote {
			r.electionElapsed = 0
			if !r.bugs.ForgetVotePersist {
				r.vote = m.From
			}
		}
		return
	}
	r.send(Message{To: m.From, Term: r.term, Type: respType, Reject: true})
}

// Propose asks to append data to the log. The outcome comes back in
// Ready.ProposalAcks under requestID: at once on the leader, after a round
// trip on a follower (which forwards to the leader), ErrNoLeader when no
// leader is known, ErrRemoved on a node told it was removed
// (MsgRemoved, membership.go). data must not be modified afterwards.
func (r *Raft) Propose(requestID uint64, data []byte) {
	switch {
	case r.removal.index != 0 && r.removed(): // one compare unless told
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: ErrRemoved})
	case r.role == RoleLeader:
		if r.leadTransferee != None {
			r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: ErrLeaderChanging})
			return
		}
		index, ok := r.appendEntries(Entry{Type: EntryNormal, Data: data})
		if !ok {
			r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: ErrProposalDropped})
			return
		}
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Index: index, Term: r.term})
	case r.lead == None:
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: ErrNoLeader})
	default:
		if len(r.forwardedProps) >= r.cfg.MaxUncommittedEntries {
			r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: ErrProposalDropped})
			return
		}
		r.forwardedProps[requestID] = struct{}{}
		r.send(Message{To: r.lead, Type: MsgProp, Context: requestID, Entries: []Entry{{Data: data}}})
	}
}

// ReadIndex asks for a linearizable read. The outcome comes back under
// requestID as a Ready.ReadStates entry (serve once applied reaches Index)
// or a Ready.ReadAcks error. Reference: thesis §6.4.
func (r *Raft) ReadIndex(requestID uint64) {
	switch {
	case r.removal.index != 0 && r.removed():
		r.readAcks = append(r.readAcks, ReadAck{RequestID: requestID, Err: ErrRemoved})
	case r.role == RoleLeader:
		r.leaderRead(readRequest{id: requestID})
	case r.lead == None:
		r.readAcks = append(r.readAcks, ReadAck{RequestID: requestID, Err: ErrNoLeader})
	default:
		if len(r.forwardedReads) >= r.cfg.MaxPendingReads {
			r.readAcks = append(r.readAcks, ReadAck{RequestID: requestID, Err: ErrProposalDropped})
			return
		}
		r.forwardedReads[requestID] = struct{}{}
		r.send(Message{To: r.lead, Type: MsgReadIndex, Context: requestID})
	}
}

// TransferLeader asks the leader to hand leadership to `to` (thesis §3.10).
// On a follower the request is forwarded to the known leader.
func (r *Raft) TransferLeader(to NodeID) {
	if r.role == RoleLeader {
		r.transferTo(to)
		return
	}
	if r.lead != None {
		r.send(Message{To: r.lead, Type: MsgTransferLeader, Index: uint64(to)})
	}
}

// ---- roles ----

// reset starts a term (or restarts the timers within one).
func (r *Raft) reset(term uint64) {
	if term != r.term {
		r.term = term
		r.vote = None
	}
	if r.role == RoleLeader {
		r.failReads()
	}
	// A lease belongs to one leadership.
	r.reads.leaseUntilTick, r.reads.leaseVoid = 0, false
	// Reads forwarded to the leader we are leaving will not be answered
	// (an answer from an older term is ignored): fail them now so the
	// node can retry with the next leader instead of timing out.
	// (In request-id order, not map order: the core is deterministic.)
	if len(r.forwardedReads) > 0 {
		ids := slices.Sorted(maps.Keys(r.forwardedReads))
		for _, id := range ids {
			r.readAcks = append(r.readAcks, ReadAck{RequestID: id, Err: ErrNoLeader})
		}
		clear(r.forwardedReads)
	}
	// Proposals forwarded to that leader may never be answered either (a
	// leader stopped by SIGTERM right after handing off leadership, a
	// connection lost with the message). Unlike a read, a proposal cannot
	// be retried: the old leader may have appended it, and it may still
	// commit. So its outcome is unknown, and the client is told so now
	// rather than after its whole request timeout.
	if len(r.forwardedProps) > 0 {
		ids := slices.Sorted(maps.Keys(r.forwardedProps))
		for _, id := range ids {
			r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: id, Err: ErrTimeout})
		}
		clear(r.forwardedProps)
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.randomizedElectionTicks = r.cfg.ElectionTicks + r.rng.IntN(r.cfg.ElectionTicks)
	r.leadTransferee = None
	clear(r.votes)
	r.progress = nil
	r.needBcast = false
}

func (r *Raft) becomeFollower(term uint64, lead NodeID) {
	r.reset(term)
	r.lead = lead
	r.role = RoleFollower
	r.step = stepFollower
	r.tick = tickElection
}

func (r *Raft) becomePreCandidate() {
	// Neither term nor vote change: a pre-candidate disturbs nobody.
	r.reset(r.term)
	r.role = RolePreCandidate
	r.step = stepCandidate
	r.tick = tickElection
}

func (r *Raft) becomeCandidate() {
	r.reset(r.term + 1)
	r.vote = r.id
	r.role = RoleCandidate
	r.step = stepCandidate
	r.tick = tickElection
}

func (r *Raft) becomeLeader() {
	r.reset(r.term)
	r.lead = r.id
	r.role = RoleLeader
	r.step = stepLeader
	r.tick = tickHeartbeat
	last := r.log.lastIndex()
	r.progress = make(map[NodeID]*progress, len(r.voters)+len(r.learners))
	for _, id := range r.voters {
		r.progress[id] = newProgress(last+1, r.cfg.MaxInflightMsgs, r.cfg.MaxInflightBytes, false)
	}
	for _, id := range r.learners {
		r.progress[id] = newProgress(last+1, r.cfg.MaxInflightMsgs, r.cfg.MaxInflightBytes, true)
	}
	if self := r.progress[r.id]; self != nil {
		// The leader counts itself only for what it has persisted.
		self.match = r.log.stableIndex()
		self.recentActive = true
		self.becomeReplicate()
		self.next = last + 1
	}
	if e, err := r.log.entries(last, last+1, 0); err == nil && len(e) == 1 && e[0].TimeMs > r.lastStampMs {
		r.lastStampMs = e[0].TimeMs
	}
	if r.cfg.Snapshots != nil {
		// The last entry may be compacted into a snapshot taken after we
		// started (sim seed 1019763): its stamp is in the snapshot's meta.
		if meta, ok := r.cfg.Snapshots.Latest(); ok && meta.TimeMs > r.lastStampMs {
			r.lastStampMs = meta.TimeMs
		}
	}
	// The no-op of the new term (thesis §6.4): committing it commits every
	// earlier entry and lets ReadIndex start.
	r.appendEntries(Entry{Type: EntryNoop})
	r.logger.Info("became leader", "term", r.term, "lastIndex", last)
}

// hup starts an election: pre-vote first unless transfer.
func (r *Raft) hup(transfer bool) {
	if r.role == RoleLeader || !r.promotable() {
		return
	}
	if r.cfg.PreVote && !transfer {
		r.becomePreCandidate()
		r.votes[r.id] = true
		if r.poll() == voteWon {
			r.campaign(false)
			return
		}
		for _, id := range r.voters {
			if id != r.id {
				r.send(Message{To: id, Type: MsgPreVote, Term: r.term + 1,
					Index: r.log.lastIndex(), LogTerm: r.log.lastTerm()})
			}
		}
		return
	}
	r.campaign(transfer)
}

// campaign becomes candidate and asks for votes (Raft §5.2).
func (r *Raft) campaign(transfer bool) {
	r.becomeCandidate()
	r.votes[r.id] = true
	if r.poll() == voteWon {
		r.becomeLeader()
		return
	}
	var ctx uint64
	if transfer {
		ctx = voteContextTransfer
	}
	for _, id := range r.voters {
		if id != r.id {
			r.send(Message{To: id, Type: MsgVote, Index: r.log.lastIndex(), LogTerm: r.log.lastTerm(), Context: ctx})
		}
	}
}

// poll counts the votes of the election in progress.
func (r *Raft) poll() voteResult {
	granted, rejected := 0, 0
	for _, id := range r.voters {
		if v, ok := r.votes[id]; ok {
			if v {
				granted++
			} else {
				rejected++
			}
		}
	}
	return tallyVotes(len(r.voters), granted, rejected)
}

// ---- ticks ----

func tickElection(r *Raft) {
	r.electionElapsed++
	// The only voter has nobody to wait for, nor a rival to avoid: it
	// campaigns on its first tick, so a single-node server serves at once.
	alone := len(r.voters) == 1 && r.promotable()
	if (alone || r.electionElapsed >= r.randomizedElectionTicks) && r.promotable() {
		r.electionElapsed = 0
		r.hup(false)
	}
}

func tickHeartbeat(r *Raft) {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.cfg.ElectionTicks {
		r.electionElapsed = 0
		if r.cfg.CheckQuorum {
			if !r.quorumActive() {
				r.logger.Warn("stepping down: no quorum heard within an election timeout", "term", r.term)
				r.becomeFollower(r.term, None)
				return
			}
			for id, pr := range r.progress {
				pr.recentActive = id == r.id
			}
		}
		if r.leadTransferee != None {
			r.logger.Info("leader transfer timed out", "to", uint64(r.leadTransferee))
			r.leadTransferee = None
		}
	}
	if r.heartbeatElapsed >= r.cfg.HeartbeatTicks {
		r.heartbeatElapsed = 0
		r.bcastHeartbeat()
		r.resendStalledSnapshots()
	} else {
		r.readRoundTick()
	}
}

func (r *Raft) quorumActive() bool {
	active := 0
	for _, id := range r.voters {
		if pr := r.progress[id]; pr != nil && pr.recentActive {
			active++
		}
	}
	return active >= majority(len(r.voters))
}

// ---- sending ----

// afterPersist reports whether a message promises something about local
// durable state (votes, log contents) and so may leave only after the
// Ready's HardState and Entries are durable.
func afterPersist(t MessageType) bool {
	return t == MsgAppResp || t == MsgVote || t == MsgVoteResp || t == MsgSnapResp
}

func (r *Raft) send(m Message) {
	m.From = r.id
	if m.Term == 0 && !termless(m.Type) {
		m.Term = r.term
	}
	// The slices go to the loop with each Ready, so they cannot be reused;
	// sizing the first allocation for a round to every peer saves the
	// growth steps (Message is large).
	if afterPersist(m.Type) {
		if r.msgsAfterPersist == nil {
			r.msgsAfterPersist = make([]Message, 0, 2)
		}
		r.msgsAfterPersist = append(r.msgsAfterPersist, m)
		return
	}
	if r.msgs == nil {
		r.msgs = make([]Message, 0, len(r.voters)+len(r.learners))
	}
	r.msgs = append(r.msgs, m)
}

// appendEntries appends entries to the leader's log at the current term,
// stamping them; it returns the first index, or false when the uncommitted
// suffix is full. The no-op of a new term is never refused.
func (r *Raft) appendEntries(ents ...Entry) (uint64, bool) {
	last := r.log.lastIndex()
	if ents[0].Type != EntryNoop && int(last-r.log.committed)+len(ents) > r.cfg.MaxUncommittedEntries {
		return 0, false
	}
	stamp := max(r.nowMs, r.lastStampMs)
	r.lastStampMs = stamp
	for i := range ents {
		ents[i].Term = r.term
		ents[i].Index = last + 1 + uint64(i)
		ents[i].TimeMs = stamp
	}
	r.log.append(ents)
	r.noteAppended(ents)
	r.needBcast = true
	if r.bugs.LeaderCountsUnsynced {
		if self := r.progress[r.id]; self != nil {
			self.maybeUpdate(r.log.lastIndex())
			r.maybeCommit()
		}
	}
	if len(r.voters) == 1 && len(r.learners) == 0 && r.isVoter(r.id) {
		// Nothing to send: commit waits for our own persistence (Advance).
		r.needBcast = false
	}
	return last + 1, true
}

// bcastAppend sends what each follower lacks (and the commit index).
func (r *Raft) bcastAppend() {
	for _, id := range r.voters {
		r.sendAppendAll(id, true)
	}
	for _, id := range r.learners {
		r.sendAppendAll(id, true)
	}
}

// sendAppendAll sends MsgApps to id until its window is full or it has
// everything (pipelining); with sendIfEmpty the first may carry no entries
// (it then just announces the commit index).
func (r *Raft) sendAppendAll(id NodeID, sendIfEmpty bool) {
	if id == r.id {
		return
	}
	if !r.maybeSendAppend(id, sendIfEmpty) {
		return
	}
	for r.maybeSendAppend(id, false) {
	}
}

// maybeSendAppend sends one MsgApp (or starts a snapshot) to id; it reports
// whether a message went.
func (r *Raft) maybeSendAppend(to NodeID, sendIfEmpty bool) bool {
	pr := r.progress[to]
	if pr == nil || pr.paused() {
		return false
	}
	last := r.log.lastIndex()
	prevIndex := pr.next - 1
	prevTerm, errTerm := r.log.term(prevIndex)
	var ents []Entry
	var errEnts error
	if pr.next <= last {
		ents, errEnts = r.log.entries(pr.next, last+1, r.cfg.MaxMsgBytes)
	}
	if errTerm != nil || errEnts != nil {
		if errors.Is(errTerm, ErrCompacted) || errors.Is(errEnts, ErrCompacted) {
			return r.sendSnapshot(to, pr)
		}
		r.logger.Error("cannot read log to send", "to", uint64(to), "term", errTerm, "entries", errEnts)
		return false
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if n := len(ents); n > 0 {
		switch pr.state {
		case StateReplicate:
			lastSent := ents[n-1].Index
			pr.next = lastSent + 1
			pr.inflights.add(lastSent, entriesBytes(ents))
		case StateProbe:
			pr.probeSent = true
		}
	} else if pr.state == StateProbe {
		pr.probeSent = true
	}
	r.send(Message{To: to, Type: MsgApp, Index: prevIndex, LogTerm: prevTerm, Entries: ents, Commit: r.log.committed})
	return true
}

// bcastHeartbeat sends every peer a heartbeat carrying the read round in
// flight, if any (which has then been asked of every peer).
func (r *Raft) bcastHeartbeat() {
	r.reads.roundAskedAll = r.reads.roundAskedAll || r.reads.roundID != 0
	r.forEachPeer(r.sendHeartbeat)
}

// sendHeartbeat sends one peer a heartbeat carrying the read round in
// flight.
func (r *Raft) sendHeartbeat(id NodeID, pr *progress) {
	// Never tell a follower to commit past what it is known to hold: its
	// log beyond match may still differ from ours.
	r.send(Message{To: id, Type: MsgHeartbeat, Commit: min(pr.match, r.log.committed), Context: r.reads.roundID})
}

// forEachPeer calls fn for every member but this node, voters then
// learners in ID order: never in map order, which would make the order of
// messages, hence a simulation, differ from run to run.
func (r *Raft) forEachPeer(fn func(id NodeID, pr *progress)) {
	for _, ids := range [2][]NodeID{r.voters, r.learners} {
		for _, id := range ids {
			if pr := r.progress[id]; pr != nil && id != r.id {
				fn(id, pr)
			}
		}
	}
}

// ---- leader ----

func stepLeader(r *Raft, m Message) error {
	switch m.Type {
	case MsgProp:
		r.handleForwardedProposal(m)
		return nil
	case MsgReadIndex:
		r.leaderRead(readRequest{id: m.Context, from: m.From})
		return nil
	case MsgTransferLeader:
		target := NodeID(m.Index)
		if target == None {
			target = m.From
		}
		r.transferTo(target)
		return nil
	case MsgPropResp, MsgReadIndexResp:
		r.handleForwardedReply(m)
		return nil
	}
	pr := r.progress[m.From]
	if pr == nil {
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		pr.recentActive = true
		pr.probeSent = false
		if m.Reject && m.RejectHint < pr.match {
			// Divergence from the paper: match never goes back there, but
			// a follower that lost acknowledged entries must get them
			// again. Committed entries stay committed: a majority other
			// than this follower may be needed to have them, which is the
			// durability the disk failed to give.
			r.logger.Warn("follower lost entries it had acknowledged; probing from its last index",
				"follower", uint64(m.From), "match", pr.match, "last", m.RejectHint)
			pr.match = m.RejectHint
			pr.matchAtBeat = m.RejectHint
			pr.becomeProbe()
		}
		if pr.heartbeatAnswered(r.ticks, uint64(r.cfg.HeartbeatTicks)) {
			r.logger.Debug("follower stalled; probing again", "to", uint64(m.From), "match", pr.match)
			pr.becomeProbe()
		}
		if pr.match < r.log.lastIndex() {
			r.sendAppendAll(m.From, false)
		}
		r.handleReadAck(m.From, pr, m.Context)
	case MsgSnapResp:
		r.handleSnapshotResponse(m, pr)
	case MsgApp, MsgHeartbeat, MsgSnap:
		// Two leaders in one term would break election safety.
		return fmt.Errorf("consensus: %v from %d in our own term %d as leader: %w", m.Type, m.From, r.term, errLogCorrupt)
	}
	return nil
}

func (r *Raft) handleForwardedProposal(m Message) {
	reply := Message{To: m.From, Type: MsgPropResp, Context: m.Context}
	if r.leadTransferee != None || len(m.Entries) == 0 {
		reply.Reject = true
		r.send(reply)
		return
	}
	ents := make([]Entry, len(m.Entries))
	for i := range m.Entries {
		ents[i] = Entry{Type: EntryNormal, Data: m.Entries[i].Data}
	}
	index, ok := r.appendEntries(ents...)
	if !ok {
		reply.Reject = true
		r.send(reply)
		return
	}
	reply.Index, reply.LogTerm = index, r.term
	r.send(reply)
}

// handleAppendResponse is Raft §5.3 on the leader side, with the thesis's
// fast back-off and etcd-style probe/replicate flow control.
func (r *Raft) handleAppendResponse(m Message, pr *progress) {
	pr.recentActive = true
	if m.Reject {
		nextProbe := m.RejectHint
		if m.LogTerm > 0 {
			// Skip every entry of ours whose term the follower cannot
			// hold at that position.
			nextProbe, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, nextProbe) {
			if pr.state == StateReplicate {
				pr.becomeProbe()
			}
			r.sendAppendAll(m.From, false)
		}
		return
	}
	wasPaused := pr.paused()
	if !pr.maybeUpdate(m.Index) && !(pr.match == m.Index && pr.state == StateProbe) {
		return
	}
	switch pr.state {
	case StateProbe:
		pr.becomeReplicate()
	case StateSnapshot:
		if pr.match >= pr.snapMeta.Index || pr.match+1 >= r.log.firstIndex() {
			pr.becomeProbe()
			pr.becomeReplicate()
		}
	case StateReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if r.maybeCommit() {
		r.needBcast = true
	} else if wasPaused || pr.next <= r.log.lastIndex() {
		r.sendAppendAll(m.From, false)
	}
	if m.From == r.leadTransferee && pr.match == r.log.lastIndex() {
		r.send(Message{To: m.From, Type: MsgTimeoutNow})
	}
}

// maybeCommit advances the commit index to what a majority holds, counting
// only entries of the current term (Raft §5.4.2). It reports a change.
func (r *Raft) maybeCommit() bool {
	matches := r.matchScratch[:0]
	for _, id := range r.voters {
		if pr := r.progress[id]; pr != nil {
			matches = append(matches, pr.match)
		} else {
			matches = append(matches, 0)
		}
	}
	r.matchScratch = matches
	mci := committedIndex(matches)
	if r.bugs.LearnerCountsForCommit {
		mci = r.committedIndexCountingLearners()
	}
	if mci <= r.log.committed {
		return false
	}
	t, err := r.log.term(mci)
	if err != nil {
		return false
	}
	if t != r.term && !r.bugs.CommitOldTermByCount {
		return false
	}
	r.log.commitTo(mci)
	return true
}

func (r *Raft) transferTo(target NodeID) {
	if target == None || target == r.id {
		return
	}
	pr := r.progress[target]
	if pr == nil || pr.learner {
		r.logger.Warn("leader transfer to a non-voter ignored", "to", uint64(target))
		return
	}
	if r.leadTransferee == target {
		return
	}
	r.leadTransferee = target
	// The target's forced election ignores the followers' promise to
	// this leader: no lease reads for the rest of this term.
	r.reads.leaseVoid = true
	// The transfer aborts one election timeout from now (tickHeartbeat).
	r.electionElapsed = 0
	if pr.match == r.log.lastIndex() {
		r.send(Message{To: target, Type: MsgTimeoutNow})
		return
	}
	r.sendAppendAll(target, true)
}

// ---- candidate ----

func stepCandidate(r *Raft, m Message) error {
	myResp := MsgVoteResp
	if r.role == RolePreCandidate {
		myResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		r.send(Message{To: m.From, Type: MsgPropResp, Context: m.Context, Reject: true})
	case MsgReadIndex:
		r.send(Message{To: m.From, Type: MsgReadIndexResp, Context: m.Context, Reject: true})
	case MsgApp, MsgHeartbeat, MsgSnap:
		// A leader exists in our term (or a later one, Step moved us).
		r.becomeFollower(m.Term, m.From)
		return stepFollower(r, m)
	case MsgPropResp, MsgReadIndexResp:
		r.handleForwardedReply(m)
	case myResp:
		if !r.isVoter(m.From) {
			return nil
		}
		if _, seen := r.votes[m.From]; !seen {
			r.votes[m.From] = !m.Reject
		}
		switch r.poll() {
		case voteWon:
			if r.role == RolePreCandidate {
				r.campaign(false)
			} else {
				r.becomeLeader()
				r.bcastAppend()
				r.needBcast = false
			}
		case voteLost:
			r.becomeFollower(r.term, None)
		}
	}
	return nil
}

// ---- follower ----

func stepFollower(r *Raft, m Message) error {
	switch m.Type {
	case MsgProp:
		// Forwarded to us by a node that thinks we lead: we do not.
		r.send(Message{To: m.From, Type: MsgPropResp, Context: m.Context, Reject: true})
	case MsgReadIndex:
		r.send(Message{To: m.From, Type: MsgReadIndexResp, Context: m.Context, Reject: true})
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		return r.handleAppend(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.log.commitTo(min(m.Commit, r.log.lastIndex()))
		resp := Message{To: m.From, Type: MsgHeartbeatResp, Context: m.Context}
		if m.Commit > r.log.lastIndex() {
			// The leader sends min(our match, its commit): we once had
			// that entry durably and lost it (a torn disk write, or
			// appendfsync no). Say so, or the leader never resends it.
			resp.Reject, resp.RejectHint = true, r.log.lastIndex()
		}
		r.send(resp)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader:
		if r.lead != None {
			target := m.Index
			if target == 0 {
				target = uint64(m.From)
			}
			r.send(Message{To: r.lead, Type: MsgTransferLeader, Index: target})
		}
	case MsgTimeoutNow:
		r.logger.Info("campaigning on leader transfer", "from", uint64(m.From), "term", r.term)
		r.hup(true)
	case MsgPropResp, MsgReadIndexResp:
		r.handleForwardedReply(m)
	}
	return nil
}

// handleAppend is AppendEntries on the receiver (Raft §5.3).
func (r *Raft) handleAppend(m Message) error {
	if m.Index < r.log.committed {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return nil
	}
	matches := r.log.matchTerm(m.Index, m.LogTerm)
	if r.bugs.SkipLogMatching && m.Index <= r.log.lastIndex() {
		matches = true
	}
	if !matches {
		hint := min(m.Index, r.log.lastIndex())
		hint, hintTerm := r.log.findConflictByTerm(hint, m.LogTerm)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hint, LogTerm: hintTerm})
		return nil
	}
	lastNew := m.Index + uint64(len(m.Entries))
	if ci := r.log.findConflict(m.Entries); ci != 0 {
		if ci <= r.log.committed && !r.bugs.SkipLogMatching {
			return fmt.Errorf("consensus: MsgApp from %d conflicts at %d with committed %d: %w",
				m.From, ci, r.log.committed, errLogCorrupt)
		}
		appended := m.Entries[ci-(m.Index+1):]
		r.log.append(appended)
		r.noteAppended(appended)
	}
	// Remember the newest stamp we hold: should we lead after the log was
	// compacted, our first entries must not be stamped earlier.
	if n := len(m.Entries); n > 0 && m.Entries[n-1].TimeMs > r.lastStampMs {
		r.lastStampMs = m.Entries[n-1].TimeMs
	}
	r.log.commitTo(min(m.Commit, lastNew))
	r.send(Message{To: m.From, Type: MsgAppResp, Index: lastNew})
	return nil
}

// handleForwardedReply turns the leader's answers to forwarded requests into
// the outcomes the waiting clients get.
func (r *Raft) handleForwardedReply(m Message) {
	if m.Type == MsgPropResp {
		if _, waiting := r.forwardedProps[m.Context]; !waiting {
			return // already answered on a leader change, or a duplicate
		}
		delete(r.forwardedProps, m.Context)
	}
	switch {
	case m.Type == MsgPropResp && m.Reject:
		// The leader refuses forwarded proposals only while it hands
		// leadership over (handleForwardedProposal).
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: m.Context, Err: ErrLeaderChanging})
	case m.Type == MsgPropResp:
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: m.Context, Index: m.Index, Term: m.LogTerm})
	default:
		if _, waiting := r.forwardedReads[m.Context]; !waiting {
			return // already failed on a leader change, or a duplicate
		}
		delete(r.forwardedReads, m.Context)
		if m.Reject {
			r.readAcks = append(r.readAcks, ReadAck{RequestID: m.Context, Err: ErrNoLeader})
		} else {
			r.readStates = append(r.readStates, ReadState{RequestID: m.Context, Index: m.Index})
		}
	}
}

// ---- Ready / Advance ----

// HasReady reports whether Ready would carry any effect.
func (r *Raft) HasReady() bool {
	return r.needBcast || r.readRoundDue() || len(r.msgs) > 0 || len(r.msgsAfterPersist) > 0 ||
		len(r.proposalAcks) > 0 || len(r.readStates) > 0 || len(r.readAcks) > 0 || len(r.snapshotChunks) > 0 ||
		r.log.hasUnsent() || r.log.pendingSnap != nil || r.log.hasNextCommitted() ||
		r.softState() != r.prevSoft || r.hardState() != r.prevHard
}

// Ready returns the effects gathered since the last Ready. Messages, acks,
// read states and Entries are handed over (they will not appear again: an
// entry is written once, and confirmed by Advance or StableTo); HardState
// and Snapshot appear again until Advance confirms them.
func (r *Raft) Ready() Ready {
	if r.needBcast && r.role == RoleLeader {
		r.bcastAppend()
	}
	r.needBcast = false
	r.maybeStepDownRemoved()
	r.maybeStartReadRound()
	rd := Ready{
		HardState:            r.hardState(),
		Entries:              r.log.nextUnsent(),
		Snapshot:             r.log.pendingSnap,
		SnapshotChunks:       r.snapshotChunks,
		Messages:             r.msgs,
		MessagesAfterPersist: r.msgsAfterPersist,
		ProposalAcks:         r.proposalAcks,
		ReadStates:           r.readStates,
		ReadAcks:             r.readAcks,
	}
	rd.HardStateChanged = rd.HardState != r.prevHard
	if ss := r.softState(); ss != r.prevSoft {
		changed := ss // escapes; declared here so an unchanged Ready allocates nothing
		rd.SoftState = &changed
		r.prevSoft = ss
	}
	if ents, err := r.log.nextCommitted(r.cfg.MaxApplyBytes); err != nil {
		r.logger.Error("cannot read committed entries", "err", err)
	} else if n := len(ents); n > 0 {
		rd.CommittedEntries = ents
		r.log.applying = ents[n-1].Index
	}
	r.msgs, r.msgsAfterPersist, r.proposalAcks, r.readStates, r.readAcks = nil, nil, nil, nil, nil
	r.snapshotChunks = nil
	return rd
}

// Advance tells the core the loop did everything rd asked: the hard state
// is written (or, with Config.AsyncStorageWrites, queued for writing
// before any message that depends on it), the snapshot is installed,
// committed entries are with the applier, and, unless
// Config.AsyncStorageWrites, the entries are durable.
func (r *Raft) Advance(rd Ready) {
	if rd.HardStateChanged {
		r.prevHard = rd.HardState
	}
	if rd.Snapshot != nil {
		r.log.snapshotInstalled(rd.Snapshot.Meta)
	}
	if n := len(rd.Entries); n > 0 && !r.cfg.AsyncStorageWrites {
		r.StableTo(rd.Entries[n-1].Index, rd.Entries[n-1].Term)
	}
	if r.proposalAcks == nil && cap(rd.ProposalAcks) > 0 {
		r.proposalAcks = rd.ProposalAcks[:0] // as ReadStates below
	}
	if r.readStates == nil && cap(rd.ReadStates) > 0 {
		// The loop is done with the read states (ready.go): reuse the
		// array, so that a read costs no allocation per Ready.
		r.readStates = rd.ReadStates[:0]
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.log.applied = max(r.log.applied, rd.CommittedEntries[n-1].Index)
		r.log.applying = max(r.log.applying, r.log.applied)
	}
	if len(r.conf.changes) > 0 && r.conf.changes[0].index < r.log.firstIndex() {
		// The log was compacted past some conf entries: nobody asks for
		// the membership before the first index any more.
		r.conf.foldTo(r.log.firstIndex() - 1)
	}
}

// StableTo tells the core that the entries up to index, whose entry there
// has term, are durable in Config.Log (with Config.AsyncStorageWrites; the
// loop reports its writes in order, and may report only the last of
// several). A report the log no longer matches (a suffix was replaced
// since the write began) is ignored: the write of the new suffix, which
// the loop orders after it, reports for it. On the leader this is where it
// counts itself towards the commit quorum: never for entries that are
// not yet on its disk, while any quorum of followers that acknowledged
// them commits them without it.
func (r *Raft) StableTo(index, term uint64) {
	if !r.log.stableTo(index, term) || r.role != RoleLeader {
		return
	}
	if self := r.progress[r.id]; self != nil && self.maybeUpdate(index) && r.maybeCommit() {
		r.needBcast = true
	}
}

// ---- status ----

// PeerStatus is the leader's view of one member.
type PeerStatus struct {
	Match, Next  uint64
	State        ProgressState
	RecentActive bool
	Learner      bool
}

// Status is a snapshot of the core's state for metrics, tests and logs.
type Status struct {
	ID             NodeID
	SoftState      SoftState
	HardState      HardState
	Applied        uint64
	FirstIndex     uint64
	LastIndex      uint64
	LeadTransferee NodeID
	// Voters and Learners are the membership in force: the latest in the
	// log, committed or not. A snapshot must carry the membership at its
	// own index instead (Raft.ConfStateAt).
	Voters   []NodeID
	Learners []NodeID
	// Progress is set on the leader only.
	Progress map[NodeID]PeerStatus
	// Removed: this node was told (MsgRemoved) it is no member of the
	// committed configuration, and its own log does not say otherwise
	// (ErrRemoved).
	Removed bool
}

// Status reports the core's state. It allocates; keep it off hot paths.
func (r *Raft) Status() Status {
	st := Status{
		ID:             r.id,
		SoftState:      r.softState(),
		HardState:      r.hardState(),
		Applied:        r.log.applied,
		FirstIndex:     r.log.firstIndex(),
		LastIndex:      r.log.lastIndex(),
		LeadTransferee: r.leadTransferee,
		Voters:         slices.Clone(r.voters),
		Learners:       slices.Clone(r.learners),
		Removed:        r.removed(),
	}
	if r.role == RoleLeader {
		st.Progress = make(map[NodeID]PeerStatus, len(r.progress))
		for id, pr := range r.progress {
			st.Progress[id] = PeerStatus{Match: pr.match, Next: pr.next, State: pr.state,
				RecentActive: pr.recentActive, Learner: pr.learner}
		}
	}
	return st
}
