package sim

import (
	"errors"
	"math"
	"slices"

	"github.com/raftkv/raftkv/consensus"
)

// Membership changes in the fault schedule (Options.SpareNodes,
// MembershipPerTenThousand). The cycle, one server at a time: add a spare
// as learner, promote it, remove a random voter (the leader included);
// now and then a learner is removed instead of promoted. The voters never
// number fewer than Options.Nodes, so MaxDownNodes keeps its meaning.
//
// A node whose removal committed is decommissioned: it goes down and never
// comes back (its id is never reused). A server returning under a removed
// id with a wiped disk would have forgotten its votes, and a stale
// candidate whose log still lists it as a voter could count it.

// confRequestBit marks the request ids of membership changes, so that
// their ProposalAcks never meet a client operation's id.
const confRequestBit = uint64(1) << 63

// pendingRemoval is a RemoveNode some node applied: id goes for good at the
// next step, as the entry at (index, term) committed.
type pendingRemoval struct {
	id          consensus.NodeID
	index, term uint64
}

// membershipStep asks the current leader for the next change of the cycle.
func (s *Simulator) membershipStep() error {
	if s.opts.MembershipPerTenThousand <= 0 || s.rng.IntN(10_000) >= s.opts.MembershipPerTenThousand {
		return nil
	}
	l := s.currentLeader()
	if l == consensus.None {
		return nil
	}
	n := s.nodes[l]
	st := n.raft.Status()
	var cc consensus.ConfChange
	switch {
	case len(st.Learners) > 0:
		cc.NodeID = st.Learners[s.rng.IntN(len(st.Learners))]
		cc.Type = consensus.ConfChangePromoteVoter
		if s.rng.IntN(4) == 0 {
			cc.Type = consensus.ConfChangeRemoveNode
		}
	case len(st.Voters) > s.opts.Nodes:
		cc = consensus.ConfChange{Type: consensus.ConfChangeRemoveNode, NodeID: st.Voters[s.rng.IntN(len(st.Voters))]}
	default:
		var spares []consensus.NodeID
		for _, m := range s.nodes[s.opts.Nodes+1:] {
			if !m.decommissioned && !m.removing && !slices.Contains(st.Voters, m.id) {
				spares = append(spares, m.id)
			}
		}
		if len(spares) == 0 {
			return nil
		}
		cc = consensus.ConfChange{Type: consensus.ConfChangeAddLearner, NodeID: spares[s.rng.IntN(len(spares))]}
	}
	if cc.Type == consensus.ConfChangeRemoveNode {
		if s.nodes[cc.NodeID].removing {
			// One removal request per node at a time: a second one is
			// refused (a change is pending) and its refusal must not
			// clear the flag the first one set (seed 7609: the node
			// was added back while its first removal was appended, then
			// decommissioned while a member).
			return nil
		}
		// From now on the node is never a spare to add again: were the
		// removal to commit after we added it back, it would be
		// decommissioned while a member.
		s.nodes[cc.NodeID].removing = true
	}
	s.nextConfID++
	in := input{kind: inputConfChange, cc: cc, confID: confRequestBit | s.nextConfID}
	s.trace.note(s.step, l, "MEMBERSHIP %s n%d requested (voters %v learners %v)", cc.Type, cc.NodeID, st.Voters, st.Learners)
	if n.busy(s.step) {
		n.deferInput(in)
		return nil
	}
	return s.takeInput(n, in)
}

// confAck records the outcome of a membership request on n.
func (s *Simulator) confAck(n *simNode, ack consensus.ProposalAck) {
	cc, ok := s.confRequests[ack.RequestID]
	if !ok {
		return
	}
	delete(s.confRequests, ack.RequestID)
	if ack.Err != nil {
		s.trace.note(s.step, n.id, "MEMBERSHIP %s n%d refused: %v", cc.Type, cc.NodeID, ack.Err)
		// A refused removal was not appended; one whose outcome is
		// unknown may still commit, so the node stays out of the spares.
		if cc.Type == consensus.ConfChangeRemoveNode && !errors.Is(ack.Err, consensus.ErrTimeout) {
			s.nodes[cc.NodeID].removing = false
		}
		return
	}
	s.res.MembershipChanges++
	s.trace.note(s.step, n.id, "MEMBERSHIP %s n%d appended at %d/t%d", cc.Type, cc.NodeID, ack.Index, ack.Term)
}

// appliedConfChange notes a committed RemoveNode (whoever proposed it, and
// even if its ack was lost): the node is decommissioned at the next step,
// not here, as it may be the very node applying the entry.
func (s *Simulator) appliedConfChange(e *consensus.Entry) {
	cc, err := consensus.DecodeConfChange(e.Data)
	if err != nil || cc.Type != consensus.ConfChangeRemoveNode || int(cc.NodeID) >= len(s.nodes) {
		return
	}
	if s.nodes[cc.NodeID].decommissioned {
		return
	}
	for _, rm := range s.removals {
		if rm.id == cc.NodeID {
			return
		}
	}
	s.nodes[cc.NodeID].removing = true
	s.removals = append(s.removals, pendingRemoval{id: cc.NodeID, index: e.Index, term: e.Term})
}

// settleRemovals decommissions the nodes whose removal committed, and
// forgets removals that lost their index to another entry.
func (s *Simulator) settleRemovals() {
	kept := s.removals[:0]
	for _, rm := range s.removals {
		switch t := s.check.committedTerm(rm.index); {
		case t == 0:
			kept = append(kept, rm)
		case t == rm.term:
			n := s.nodes[rm.id]
			n.decommissioned = true
			s.res.Decommissioned++
			if n.up {
				s.crash(n, "decommissioned: its removal committed")
			}
			n.restartStep = math.MaxInt64
			s.trace.note(s.step, rm.id, "DECOMMISSIONED (removal at %d/t%d committed)", rm.index, rm.term)
		default:
			s.nodes[rm.id].removing = false
		}
	}
	clear(s.removals[len(kept):])
	s.removals = kept
}

// members is the membership the current leader (or, without one, the live
// node with the longest log) is in: the nodes that must hold every
// acknowledged write.
func (s *Simulator) members() []consensus.NodeID {
	var best *simNode
	if l := s.currentLeader(); l != consensus.None {
		best = s.nodes[l]
	} else {
		for _, n := range s.nodes[1:] {
			if n.up && (best == nil || s.check.lastIndex(n.id) > s.check.lastIndex(best.id)) {
				best = n
			}
		}
	}
	if best == nil {
		ids := make([]consensus.NodeID, 0, s.opts.machines())
		for _, n := range s.nodes[1:] {
			if !n.decommissioned {
				ids = append(ids, n.id)
			}
		}
		return ids
	}
	st := best.raft.Status()
	return append(st.Voters, st.Learners...)
}
