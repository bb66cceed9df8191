package consensus

// ReadIndex on the leader (thesis §6.4), batched: requests queue, and a
// round starts at Ready time when none is in flight, so every read that
// arrived since the previous Ready shares one heartbeat round. When a quorum
// confirms the round, each of its requests is answered with the commit index
// recorded when the round started; reads that arrived meanwhile wait for
// the next round. A round may only
// start once the leader has committed an entry of its own term (its no-op):
// before that its commit index may be behind the cluster's.
//
// # Lease reads (Config.ReadLeaseTicks)
//
// A follower that heard from the leader within an election timeout ignores
// vote requests (CheckQuorum), so once a quorum has answered a heartbeat
// sent at tick T no other leader can be elected before T + ElectionTicks of
// those followers' ticks. The leader therefore answers reads at once, at
// its commit index, while its own tick count is below T + ReadLeaseTicks,
// T being the start of the last read round a quorum confirmed (heartbeats
// of a round are sent after it starts, so an answer echoing the round
// proves receipt after T). Reads that find no lease go through a round as
// usual, which renews it. The assumptions, and what enforces them:
//   - tick rates differ by less than the margin between ReadLeaseTicks and
//     ElectionTicks - 1 (the caller's clock drift bound; one tick is lost
//     to the phase of each side's ticker);
//   - every member runs with the same ElectionTicks and lease setting;
//   - a node that restarts forgot which leader it heard from: with leases
//     on, it ignores vote requests for ElectionTicks after it starts;
//   - a leader transfer makes the target campaign with a forced vote that
//     followers grant despite the lease: the leader voids its lease for
//     the rest of the term when it starts one;
//   - a new term or role starts without a lease, and the leader must have
//     committed an entry of its term (as for any read).
//
// # Asking only the fast followers
//
// A round needs answers from a quorum, not from every follower, and every
// answer costs the follower a wake-up, a read and a write, and the leader
// a write and a read: with reads the only load, that is most of a
// follower's CPU. So a round's heartbeats go only to the followers whose
// answers completed the previous round (enough of them to make a quorum
// with the leader: one of two in a 3-node cluster); the others still get
// every periodic heartbeat. If a round is still unconfirmed at the next
// tick (one of them is slow, down or cut off), the leader asks every peer
// for it, and the next round goes to whoever completed that one. Safety is
// untouched: the quorum check is the same; what a failed fast follower
// costs is at most a tick of read latency, once.
//
// Round ids increase for the life of the core. Heartbeats always carry the
// id of the round in flight, so a lost heartbeat or answer is made good by
// the next heartbeat; a follower's answer confirms every round up to the id
// it echoes.

// readRequest is one read waiting on the leader: from is None for a local
// request, else the follower that forwarded it.
type readRequest struct {
	id   uint64
	from NodeID
}

type readIndexState struct {
	queued     []readRequest // waiting for the next round
	round      []readRequest // in the round in flight
	roundID    uint64        // the round in flight; 0: none
	roundIndex uint64        // commit index when the round started
	lastID     uint64        // the last round id given out
	// roundStartTick is the tick at which the round in flight started;
	// leaseUntilTick is where the lease from the confirmed rounds ends;
	// leaseVoid forbids leases for the rest of the term (a transfer).
	roundStartTick uint64
	leaseUntilTick uint64
	leaseVoid      bool
	// roundAskedAll: the round in flight went to every peer, not only to
	// the fast ones. ackers are the voters (this node excluded) whose
	// answers confirmed the round in flight, in arrival order; fast are
	// those that completed the last confirmed round.
	roundAskedAll bool
	ackers        []NodeID
	fast          []NodeID
}

// leaseHeld reports whether this leader may answer reads without a round.
func (r *Raft) leaseHeld() bool {
	return r.cfg.ReadLeaseTicks > 0 && r.role == RoleLeader && !r.reads.leaseVoid &&
		r.leadTransferee == None && r.ticks < r.reads.leaseUntilTick && r.committedInCurrentTerm()
}

func (r *Raft) committedInCurrentTerm() bool {
	t, err := r.log.term(r.log.committed)
	return err == nil && t == r.term
}

// leaderRead takes a read request on the leader.
func (r *Raft) leaderRead(req readRequest) {
	if r.leaseHeld() {
		r.answerRead(req, r.log.committed, nil)
		return
	}
	if len(r.reads.queued)+len(r.reads.round) >= r.cfg.MaxPendingReads {
		r.answerRead(req, 0, ErrProposalDropped)
		return
	}
	r.reads.queued = append(r.reads.queued, req)
}

// readRoundDue reports whether Ready would start a read round.
func (r *Raft) readRoundDue() bool {
	return r.role == RoleLeader && r.reads.roundID == 0 && len(r.reads.queued) > 0 && r.committedInCurrentTerm()
}

// maybeStartReadRound starts a heartbeat round for the queued reads when
// none is in flight and the leader may serve reads.
func (r *Raft) maybeStartReadRound() {
	if !r.readRoundDue() {
		return
	}
	rs := &r.reads
	rs.lastID++
	rs.roundID = rs.lastID
	rs.roundIndex = r.log.committed
	rs.roundStartTick = r.ticks
	rs.round, rs.queued = rs.queued, rs.round[:0]
	if self := r.progress[r.id]; self != nil {
		self.readAckedRound = rs.roundID
	}
	if r.bugs.ReadWithoutQuorum || r.readQuorum(rs.roundID) {
		r.completeReadRound()
		return
	}
	r.sendReadRound()
}

// sendReadRound sends the round in flight to the followers that completed
// the last one, if they still make a quorum with this node, else to every
// peer.
func (r *Raft) sendReadRound() {
	rs := &r.reads
	need := majority(len(r.voters))
	if r.isVoter(r.id) {
		need--
	}
	if need > 0 && len(rs.fast) >= need && r.readPeersUsable(rs.fast[:need]) {
		rs.roundAskedAll = false
		for _, id := range rs.fast[:need] {
			r.sendHeartbeat(id, r.progress[id])
		}
		return
	}
	r.bcastHeartbeat()
}

// readPeersUsable reports whether ids are all voters other than this node.
func (r *Raft) readPeersUsable(ids []NodeID) bool {
	for _, id := range ids {
		if id == r.id || !r.isVoter(id) || r.progress[id] == nil {
			return false
		}
	}
	return true
}

// readRoundTick runs on the leader's ticks: a round sent only to the fast
// followers and still unconfirmed a tick after it started goes to every
// peer.
func (r *Raft) readRoundTick() {
	rs := &r.reads
	if rs.roundID != 0 && !rs.roundAskedAll && r.ticks > rs.roundStartTick {
		r.bcastHeartbeat()
	}
}

// handleReadAck records a follower's confirmation of rounds up to ctx.
func (r *Raft) handleReadAck(from NodeID, pr *progress, ctx uint64) {
	id := r.reads.roundID
	if id != 0 && ctx >= id && pr.readAckedRound < id && from != r.id && r.isVoter(from) {
		r.reads.ackers = append(r.reads.ackers, from)
	}
	if ctx > pr.readAckedRound {
		pr.readAckedRound = ctx
	}
	if id != 0 && ctx >= id && r.readQuorum(id) {
		r.completeReadRound()
	}
}

func (r *Raft) readQuorum(id uint64) bool {
	acked := 0
	for _, v := range r.voters {
		if pr := r.progress[v]; pr != nil && pr.readAckedRound >= id {
			acked++
		}
	}
	return acked >= majority(len(r.voters))
}

// completeReadRound answers the round in flight and starts the next one.
func (r *Raft) completeReadRound() {
	rs := &r.reads
	if r.cfg.ReadLeaseTicks > 0 {
		lease := uint64(r.cfg.ReadLeaseTicks)
		if r.bugs.LeaseOutlivesElection {
			lease += uint64(r.cfg.ElectionTicks)
		}
		rs.leaseUntilTick = max(rs.leaseUntilTick, rs.roundStartTick+lease)
	}
	for _, req := range rs.round {
		r.answerRead(req, rs.roundIndex, nil)
	}
	clear(rs.round)
	rs.round = rs.round[:0]
	rs.roundID = 0
	// Those who answered this round first are asked the next one.
	rs.fast, rs.ackers = rs.ackers, rs.fast[:0]
}

// failReads answers every pending read with an error: leadership is lost.
func (r *Raft) failReads() {
	rs := &r.reads
	for _, req := range rs.round {
		r.answerRead(req, 0, ErrLeaderChanging)
	}
	for _, req := range rs.queued {
		r.answerRead(req, 0, ErrLeaderChanging)
	}
	rs.round, rs.queued = rs.round[:0], rs.queued[:0]
	rs.roundID = 0
	rs.ackers, rs.fast = rs.ackers[:0], rs.fast[:0]
}

func (r *Raft) answerRead(req readRequest, index uint64, err error) {
	switch {
	case req.from != None:
		r.send(Message{To: req.from, Type: MsgReadIndexResp, Context: req.id, Index: index, Reject: err != nil})
	case err != nil:
		r.readAcks = append(r.readAcks, ReadAck{RequestID: req.id, Err: err})
	default:
		r.readStates = append(r.readStates, ReadState{RequestID: req.id, Index: index})
	}
}
