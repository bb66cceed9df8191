package consensus

import (
	"fmt"
	"maps"
	"slices"
)

// Membership changes, one server at a time (thesis §4.1; see doc.go for
// why not joint consensus).
//
// A configuration takes effect on a server as soon as its conf change entry
// is in the server's log (appended by the leader, or received by a
// follower), committed or not. A new leader may truncate an uncommitted
// conf change; the membership then reverts to the latest conf entry still
// in the log (confHistory.truncate). The leader accepts a conf change only
// when an entry of its term has committed and no other conf change is
// uncommitted (the errata to the thesis: without the first rule a leader
// of a new term could commit a change that conflicts with one an earlier
// leader appended elsewhere, and two disjoint majorities could form).

// loadMembership builds the membership history at start: base at
// baseIndex (the snapshot's, or the bootstrap membership), then every conf
// change entry of the log after baseIndex, up to last.
func (r *Raft) loadMembership(base ConfState, baseIndex, last uint64) error {
	if len(base.Voters) == 0 {
		return fmt.Errorf("%w: no voters", errConfig)
	}
	base.Voters, base.Learners = sortedIDs(base.Voters), sortedIDs(base.Learners)
	r.conf.reset(baseIndex, base)
	const scanBytesMax = 4 << 20
	for lo := baseIndex + 1; lo <= last; {
		ents, err := r.cfg.Log.Entries(lo, last+1, scanBytesMax)
		if err != nil {
			return fmt.Errorf("consensus: read log [%d,%d] for conf changes: %w", lo, last, err)
		}
		if len(ents) == 0 {
			return fmt.Errorf("consensus: log returned no entries from %d (last %d): %w", lo, last, errLogCorrupt)
		}
		r.recordConfChanges(ents)
		lo = ents[len(ents)-1].Index + 1
	}
	cs := r.conf.latest()
	return r.setMembership(cs.Voters, cs.Learners)
}

func sortedIDs(ids []NodeID) []NodeID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// recordConfChanges adds the conf change entries of ents to the history.
// A change that does not apply (undecodable, or invalid for the membership
// before it) is skipped, the same way on every server, since every server
// sees the same log.
func (r *Raft) recordConfChanges(ents []Entry) bool {
	changed := false
	for i := range ents {
		e := &ents[i]
		if e.Type != EntryConfChange {
			continue
		}
		cc, err := DecodeConfChange(e.Data)
		if err == nil {
			var next ConfState
			next, err = applyConfChange(r.conf.latest(), cc)
			if err == nil {
				r.conf.changes = append(r.conf.changes, confEntry{index: e.Index, conf: next})
				changed = true
				continue
			}
		}
		r.logger.Error("conf change entry skipped", "index", e.Index, "term", e.Term, "err", err)
	}
	return changed
}

// noteAppended updates the membership after ents were appended to the log
// (replacing any suffix from ents[0].Index on).
func (r *Raft) noteAppended(ents []Entry) {
	if len(ents) == 0 {
		return
	}
	before := r.conf.latestIndex()
	r.conf.truncate(ents[0].Index)
	truncated := r.conf.latestIndex() != before
	if r.recordConfChanges(ents) || truncated {
		r.membershipChanged()
	}
}

// membershipFromSnapshot restarts the history from a snapshot received
// from the leader. A snapshot without a membership (from an older node)
// keeps ours.
func (r *Raft) membershipFromSnapshot(meta SnapshotMeta) {
	cs := meta.ConfState
	if len(cs.Voters) == 0 {
		cs = r.conf.latest()
	} else {
		cs = ConfState{Voters: sortedIDs(cs.Voters), Learners: sortedIDs(cs.Learners)}
	}
	r.conf.reset(meta.Index, cs)
	r.membershipChanged()
}

// membershipChanged installs the latest membership of the history and, on
// the leader, creates progress for new members and drops it for removed
// ones (the leader itself included: a removed leader does not count itself
// in any quorum, thesis §4.2.2).
func (r *Raft) membershipChanged() {
	cs := r.conf.latest()
	if err := r.setMembership(cs.Voters, cs.Learners); err != nil {
		// Unreachable: applyConfChange never yields such a membership.
		r.logger.Error("membership refused", "err", err)
		return
	}
	switch r.role {
	case RoleLeader:
	case RoleCandidate, RolePreCandidate:
		if !r.isVoter(r.id) {
			r.becomeFollower(r.term, None)
		}
		return
	default:
		return
	}
	for id := range r.progress {
		if !r.isVoter(id) && !r.isLearner(id) {
			delete(r.progress, id)
		}
	}
	last := r.log.lastIndex()
	for _, ids := range [2][]NodeID{r.voters, r.learners} {
		for _, id := range ids {
			if pr := r.progress[id]; pr != nil {
				pr.learner = r.isLearner(id)
				continue
			}
			// next = last, not last+1: every probe to the new member then
			// carries an entry, so a lost first probe is made good by the
			// next heartbeat answer instead of waiting for a new write.
			pr := newProgress(max(last, 1), r.cfg.MaxInflightMsgs, r.cfg.MaxInflightBytes, r.isLearner(id))
			// Give the new member one election timeout before check-quorum
			// holds its silence against us.
			pr.recentActive = true
			r.progress[id] = pr
		}
	}
	if r.leadTransferee != None && !r.isVoter(r.leadTransferee) {
		r.leadTransferee = None
	}
	if r.maybeCommit() {
		r.needBcast = true
	}
	// The quorum changed, so the read round in flight may be confirmed
	// already: a removed member's answer never comes, and a last voter
	// gets no answer at all, so waiting for the next one would hold every
	// read forever.
	if id := r.reads.roundID; id != 0 && r.readQuorum(id) {
		r.completeReadRound()
	}
}

func (r *Raft) isLearner(id NodeID) bool {
	_, found := slices.BinarySearch(r.learners, id)
	return found
}

// maybeStepDownRemoved makes a leader that is no longer a voter step down
// once the entry that removed it has committed (thesis §4.2.2): until then
// it leads a cluster it is not part of, so that the change can commit.
func (r *Raft) maybeStepDownRemoved() {
	if r.role != RoleLeader || r.isVoter(r.id) || r.log.committed < r.conf.latestIndex() {
		return
	}
	r.logger.Info("stepping down: removed from the cluster", "term", r.term, "confIndex", r.conf.latestIndex())
	r.becomeFollower(r.term, None)
}

// ProposeConfChange asks the leader to change the membership by one server.
// The outcome comes back in Ready.ProposalAcks under requestID, like
// Propose: Index/Term when the entry was appended (the change took effect
// on this leader at once; it succeeded when that entry commits), or Err:
// ErrNotLeader (or ErrNoLeader) on a follower — it is not forwarded —,
// ErrConfChangePending when a change is uncommitted or no entry of this
// term has committed yet, ErrLearnerBehind when promoting a learner whose
// log is more than Config.PromoteLagEntriesMax behind, ErrConfChangeInvalid
// when cc does not apply to the current membership, ErrProposalDropped
// while transferring leadership or when the uncommitted suffix is full.
func (r *Raft) ProposeConfChange(requestID uint64, cc ConfChange) {
	if err := r.checkConfChange(cc); err != nil {
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: err})
		return
	}
	index, ok := r.appendEntries(Entry{Type: EntryConfChange, Data: cc.Encode(nil)})
	if !ok {
		r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Err: ErrProposalDropped})
		return
	}
	r.logger.Info("membership change proposed", "change", cc.Type.String(), "node", uint64(cc.NodeID), "index", index)
	r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: requestID, Index: index, Term: r.term})
}

// checkConfChange says why the leader may not append cc now.
func (r *Raft) checkConfChange(cc ConfChange) error {
	switch {
	case r.removed():
		return ErrRemoved
	case r.role != RoleLeader && r.lead == None:
		return ErrNoLeader
	case r.role != RoleLeader:
		return fmt.Errorf("%w: leader is %d", ErrNotLeader, r.lead)
	case r.leadTransferee != None:
		return ErrProposalDropped
	case !r.committedInCurrentTerm():
		return fmt.Errorf("%w: no entry of term %d committed yet", ErrConfChangePending, r.term)
	case r.conf.latestIndex() > r.log.committed:
		return fmt.Errorf("%w: conf change at %d not committed (commit %d)", ErrConfChangePending,
			r.conf.latestIndex(), r.log.committed)
	case len(cc.Addr) > confChangeAddrBytesMax || len(cc.Context) > confChangeContextBytesMax:
		return fmt.Errorf("%w: address %d bytes (max %d), context %d bytes (max %d)", ErrConfChangeInvalid,
			len(cc.Addr), confChangeAddrBytesMax, len(cc.Context), confChangeContextBytesMax)
	case cc.NodeID == None:
		return fmt.Errorf("%w: node id 0", ErrConfChangeInvalid)
	}
	if _, err := applyConfChange(r.conf.latest(), cc); err != nil {
		return err
	}
	if cc.Type == ConfChangePromoteVoter {
		pr := r.progress[cc.NodeID]
		last := r.log.lastIndex()
		if pr == nil || pr.match+r.cfg.PromoteLagEntriesMax < last {
			var match uint64
			if pr != nil {
				match = pr.match
			}
			return fmt.Errorf("%w: learner %d holds up to %d, leader's last index %d, allowed lag %d",
				ErrLearnerBehind, cc.NodeID, match, last, r.cfg.PromoteLagEntriesMax)
		}
	}
	return nil
}

// ConfStateAt returns the membership in force at log index (the one a
// snapshot taken at index must carry), or ErrCompacted when index is before
// the history the core keeps (the log's first index minus one). The slices
// are the caller's.
func (r *Raft) ConfStateAt(index uint64) (ConfState, error) {
	cs, err := r.conf.at(index)
	if err != nil {
		return ConfState{}, fmt.Errorf("consensus: %w", err)
	}
	return ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}, nil
}

// committedIndexCountingLearners is the planted bug LearnerCountsForCommit:
// the highest index held by majority(voters) members, learners included.
func (r *Raft) committedIndexCountingLearners() uint64 {
	var all []uint64
	for _, ids := range [2][]NodeID{r.voters, r.learners} {
		for _, id := range ids {
			if pr := r.progress[id]; pr != nil {
				all = append(all, pr.match)
			} else {
				all = append(all, 0)
			}
		}
	}
	slices.Sort(all)
	q := majority(len(r.voters))
	if q > len(all) {
		return 0
	}
	return all[len(all)-q]
}

// removalNotice is what a MsgRemoved told this node: the
// configuration at index (the entry there has term), committed, does not
// name it. Zero when never told.
type removalNotice struct {
	index, term uint64
	from        NodeID
}

// removed reports whether this node was told it is no member and its own
// log does not say otherwise. Its log says otherwise only with a
// configuration after the notice's index that names it, on a log that holds
// the notice's entry (committed here, or the same term there): a re-addition
// comes after the removal, so it supersedes the notice, while a conf entry
// on a log that diverges at the notice's index can never commit. The notice
// is not persisted: after a restart the leader tells the node again.
func (r *Raft) removed() bool {
	n := r.removal
	switch {
	case n.index == 0:
		return false
	case r.conf.latestIndex() <= n.index || !(r.isVoter(r.id) || r.isLearner(r.id)):
		return true
	}
	holdsNotice := n.index <= r.log.committed || (n.term != 0 && r.log.matchTerm(n.index, n.term))
	return !holdsNotice
}

// answerRemoved is the sending side of MsgRemoved: a message from a node
// that is no member of our latest configuration, once that configuration
// has committed, gets a MsgRemoved. The leader answers whatever the node
// sends it, refusing forwarded requests (nothing appended); any other
// node answers only vote requests, so that a removed node is told even
// when the leader is a member added after its removal (it only asks the
// voters it knows). Vote requests are still handled as before after the
// answer (in a lease, ignored): a follower may lag behind the addition of
// a new member, or a leader be stale, and neither may withhold its vote
// from a real member; such a member keeps its standing anyway, since its
// own log holds a later configuration naming it (removed). It reports
// whether m was answered and needs nothing more.
func (r *Raft) answerRemoved(m Message) bool {
	switch m.Type {
	case MsgPreVote, MsgVote:
	case MsgProp, MsgReadIndex, MsgTransferLeader, MsgAppResp, MsgHeartbeatResp, MsgSnapResp:
		if r.role != RoleLeader {
			return false
		}
	default:
		return false
	}
	index := r.conf.latestIndex()
	if index == 0 || index > r.log.committed || r.isVoter(m.From) || r.isLearner(m.From) {
		return false
	}
	reply := Message{To: m.From, Type: MsgRemoved, Index: index}
	if t, err := r.log.term(index); err == nil {
		reply.LogTerm = t
	}
	if m.Type == MsgProp || m.Type == MsgReadIndex {
		reply.Context, reply.Reject = m.Context, true
	}
	r.send(reply)
	return m.Type != MsgPreVote && m.Type != MsgVote
}

// handleRemoved takes a MsgRemoved (whatever its term: a committed
// configuration stays committed). The forwarded request it refused fails
// with ErrRemoved; once this node counts itself removed, every forwarded
// read fails with ErrRemoved too, and it stops campaigning. The other
// forwarded proposals stay pending: the leader may have appended them
// (sent while this node was a member) or refused them, and its answer,
// MsgPropResp or MsgRemoved naming them, may still come; else the node's
// request timeout ends them (outcome unknown).
func (r *Raft) handleRemoved(m Message) {
	was := r.removed()
	if m.Index > r.removal.index {
		r.removal = removalNotice{index: m.Index, term: m.LogTerm, from: m.From}
	}
	now := r.removed()
	if m.Reject {
		if _, waiting := r.forwardedProps[m.Context]; waiting {
			delete(r.forwardedProps, m.Context)
			err := ErrRemoved
			if !now {
				// Our log names us in a later configuration than the
				// sender's: it is behind, but it did refuse the request.
				err = ErrProposalDropped
			}
			r.proposalAcks = append(r.proposalAcks, ProposalAck{RequestID: m.Context, Err: err})
		}
	}
	if !now {
		return
	}
	if len(r.forwardedReads) > 0 {
		ids := slices.Sorted(maps.Keys(r.forwardedReads))
		for _, id := range ids {
			r.readAcks = append(r.readAcks, ReadAck{RequestID: id, Err: ErrRemoved})
		}
		clear(r.forwardedReads)
	}
	if !was {
		r.logger.Warn("removed from the cluster: not campaigning, clients get ErrRemoved",
			"told by", uint64(m.From), "confIndex", m.Index, "term", r.term)
	}
	switch {
	case r.role != RoleFollower:
		r.becomeFollower(r.term, None) // answers pending proposals ErrTimeout
	case r.lead != None:
		r.lead = None
	}
}
