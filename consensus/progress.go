package consensus

// ProgressState is how the leader sends to one follower.
type ProgressState uint8

const (
	// StateProbe: the leader does not know where the follower's log
	// matches; it sends one MsgApp and waits for the answer (or the next
	// heartbeat answer) before sending another.
	StateProbe ProgressState = iota
	// StateReplicate: the logs match up to Match; the leader streams
	// MsgApps optimistically, up to the inflight bounds (pipelining).
	StateReplicate
	// StateSnapshot: the follower needs entries the leader has compacted;
	// the leader sends a snapshot in chunks and no MsgApp until it lands.
	StateSnapshot
)

func (s ProgressState) String() string {
	switch s {
	case StateProbe:
		return "probe"
	case StateReplicate:
		return "replicate"
	case StateSnapshot:
		return "snapshot"
	}
	return "unknown"
}

// snapshotHeartbeatsResend is how many heartbeat intervals an unacknowledged
// snapshot chunk waits before it is sent again (the chunk or its ack was
// lost).
const snapshotHeartbeatsResend = 2

// progress is the leader's view of one member (itself included).
type progress struct {
	// match is the highest index known to be in the member's durable log;
	// next is the next index to send.
	match, next uint64
	state       ProgressState
	// probeSent: in StateProbe, a MsgApp is outstanding; wait for its
	// answer or a heartbeat answer before probing again.
	probeSent bool
	// recentActive: the member answered within this election timeout
	// (check-quorum).
	recentActive bool
	learner      bool
	inflights    *inflights
	// readAckedRound is the highest ReadIndex round the member confirmed
	// (through a heartbeat answer).
	readAckedRound uint64

	// InstallSnapshot state (StateSnapshot): the snapshot being sent, the
	// offset of the chunk in flight and the offset just past it, and
	// whether it is the last one. Stop-and-wait: one chunk at a time.
	snapMeta      SnapshotMeta
	snapOffset    uint64
	snapSentTo    uint64
	snapLastSent  bool
	snapIdleBeats int

	// Loss detection in StateReplicate: the match seen at the last
	// heartbeat answer, how many heartbeat intervals in a row had answers
	// that found it unchanged while entries were outstanding, and the
	// tick of the last one counted.
	matchAtBeat   uint64
	stallBeats    int
	stallBeatTick uint64
}

// replicateStallHeartbeats is how many heartbeat intervals in a row may
// bring answers that find a replicating follower's match stuck, with
// entries outstanding, before the leader assumes MsgApps were lost and
// probes again from match+1. The transport drops messages silently, so
// this is the only retransmission path in StateReplicate. It counts
// intervals, not answers: read rounds (readindex.go) send heartbeats many
// times per interval, and counting their answers made a follower that was
// merely fsyncing an append look stalled within a millisecond under mixed
// reads and writes, dropping it to probing and resending its entries.
const replicateStallHeartbeats = 3

// heartbeatAnswered records a heartbeat answer received at tick and
// reports whether the follower looks stalled (lost MsgApps) and should be
// probed again; answers within intervalTicks of the last one counted add
// nothing.
func (p *progress) heartbeatAnswered(tick, intervalTicks uint64) bool {
	if p.state != StateReplicate || p.match+1 >= p.next || p.match != p.matchAtBeat {
		p.stallBeats = 0
		p.matchAtBeat = p.match
		p.stallBeatTick = tick
		return false
	}
	if tick < p.stallBeatTick+intervalTicks {
		return false
	}
	p.stallBeatTick = tick
	p.stallBeats++
	return p.stallBeats >= replicateStallHeartbeats
}

func newProgress(next uint64, maxInflight int, maxInflightBytes uint64, learner bool) *progress {
	return &progress{next: next, learner: learner, inflights: newInflights(maxInflight, maxInflightBytes)}
}

// becomeProbe starts probing from just after match (or after the snapshot
// just sent, which the follower now holds).
func (p *progress) becomeProbe() {
	if p.state == StateSnapshot {
		p.next = max(p.match+1, p.snapMeta.Index+1)
	} else {
		p.next = p.match + 1
	}
	p.state = StateProbe
	p.probeSent = false
	p.inflights.reset()
}

// abortSnapshot gives up sending a snapshot the follower never got and
// probes from its match again.
func (p *progress) abortSnapshot() {
	p.state = StateProbe
	p.next = p.match + 1
	p.probeSent = false
	p.inflights.reset()
}

// becomeReplicate starts streaming from just after match.
func (p *progress) becomeReplicate() {
	p.state = StateReplicate
	p.next = p.match + 1
	p.probeSent = false
	p.stallBeats = 0
	p.inflights.reset()
}

// becomeSnapshot starts sending the snapshot meta from its first byte.
func (p *progress) becomeSnapshot(meta SnapshotMeta) {
	p.state = StateSnapshot
	p.snapMeta = meta
	p.snapOffset, p.snapSentTo, p.snapLastSent, p.snapIdleBeats = 0, 0, false, 0
	p.probeSent = false
	p.inflights.reset()
}

// maybeUpdate records that the member's log matches up to n; it reports
// whether match moved.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if p.match < n {
		p.match = n
		updated = true
		p.probeSent = false
	}
	p.next = max(p.next, n+1)
	return updated
}

// maybeDecrTo handles a rejection of the MsgApp whose previous index was
// rejected; matchHint is the highest index that may still match (from the
// follower's hint). It reports false for a stale rejection.
func (p *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if p.state == StateReplicate {
		if rejected <= p.match {
			return false // an old message, answered after newer ones matched
		}
		p.next = p.match + 1
		return true
	}
	if p.next-1 != rejected {
		return false // not the answer to the probe we are waiting on
	}
	p.next = max(min(rejected, matchHint+1), p.match+1)
	p.probeSent = false
	return true
}

// paused reports whether the leader must not send a MsgApp now.
func (p *progress) paused() bool {
	switch p.state {
	case StateProbe:
		return p.probeSent
	case StateReplicate:
		return p.inflights.full()
	}
	return true
}
