package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// Reference: thesis §9.6. A node partitioned away campaigns with pre-vote
// only, so its term does not grow; when it rejoins, the leader keeps its
// term and leadership.
func TestPreVotePartitionedNodeDoesNotDisrupt(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	term := nw.nodes[lead].r.term
	other := NodeID(1)
	for other == lead {
		other++
	}
	nw.isolate(other)
	for range 100 {
		nw.tick()
		nw.stabilize()
	}
	if got := nw.nodes[other].r.term; got != term {
		t.Fatalf("isolated node's term %d, want %d (pre-vote must not raise it)", got, term)
	}
	nw.heal()
	for range 30 {
		nw.tick()
		nw.stabilize()
	}
	if nw.leader() != lead || nw.nodes[lead].r.term != term {
		t.Fatalf("leader %d term %d after rejoin, want %d term %d", nw.leader(), nw.nodes[lead].r.term, lead, term)
	}
}

// Without pre-vote, the same rejoin raises the term and deposes the leader:
// the scenario above is a real test of pre-vote.
func TestWithoutPreVoteRejoinDisrupts(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.PreVote = false; c.CheckQuorum = false })
	lead := nw.electLeader()
	term := nw.nodes[lead].r.term
	other := NodeID(1)
	for other == lead {
		other++
	}
	nw.isolate(other)
	for range 60 {
		nw.tick()
		nw.stabilize()
	}
	nw.heal()
	for range 30 {
		nw.tick()
		nw.stabilize()
	}
	if nw.nodes[lead].r.term == term {
		t.Fatalf("leader's term unchanged at %d: expected disruption without pre-vote", term)
	}
}

// Reference: thesis §6.2 check-quorum. A leader cut off from a majority
// steps down within an election timeout or two.
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	nw.isolate(lead)
	for range 25 {
		nw.tick(lead)
		nw.stabilize()
	}
	if r := nw.nodes[lead].r; r.role == RoleLeader {
		t.Fatalf("isolated leader still leads after 25 ticks")
	}
}

// Reference: thesis §9.6. A follower that heard from its leader within the
// election timeout ignores vote requests (the lease), unless they come from
// a leader transfer.
func TestLeaseIgnoresVotes(t *testing.T) {
	tests := []struct {
		name     string
		ctx      uint64
		wantTerm uint64
	}{
		{"ordinary vote ignored", 0, 1},
		{"transfer vote heard", voteContextTransfer, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 2, ids3, nil, withCheckQuorum, withPreVote)
			step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 1})
			drain(t, r)
			step(t, r, Message{From: 3, Type: MsgVote, Term: 5, Context: tt.ctx, Index: 9, LogTerm: 9})
			if r.term != tt.wantTerm {
				t.Fatalf("term %d, want %d", r.term, tt.wantTerm)
			}
		})
	}
}

// Reference: thesis §6.4. Reads are answered with the commit index once a
// heartbeat round confirms leadership; several reads share one round.
func TestReadIndexBatched(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil)
	makeLeader(t, r)
	drain(t, r)
	// Commit the no-op so reads may start.
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
	drain(t, r)
	r.ReadIndex(10)
	r.ReadIndex(11)
	hbs := msgsOfType(drain(t, r), MsgHeartbeat)
	if len(hbs) != 2 || hbs[0].Context == 0 {
		t.Fatalf("heartbeats %+v, want one round with a context", hbs)
	}
	ctx := hbs[0].Context
	r.ReadIndex(12) // queued for the next round
	rd := r.Ready()
	if len(rd.ReadStates) != 0 || len(rd.Messages) != 0 {
		t.Fatalf("read served before confirmation (%+v) or a second round in flight (%+v)", rd.ReadStates, rd.Messages)
	}
	r.Advance(rd)
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: r.term, Context: ctx})
	rd = r.Ready()
	if len(rd.ReadStates) != 2 || rd.ReadStates[0].RequestID != 10 || rd.ReadStates[1].Index != 1 {
		t.Fatalf("read states %+v, want 10 and 11 at index 1", rd.ReadStates)
	}
	// The next round asks only node 3, which completed this one.
	next := msgsOfType(rd.Messages, MsgHeartbeat)
	if len(next) != 1 || next[0].To != 3 || next[0].Context <= ctx {
		t.Fatalf("second round %+v, want one heartbeat to the fast follower 3", next)
	}
	r.Advance(rd)
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: r.term, Context: next[0].Context})
	if rd := r.Ready(); len(rd.ReadStates) != 1 || rd.ReadStates[0].RequestID != 12 {
		t.Fatalf("read states %+v, want 12", rd.ReadStates)
	}
}

// TestReadRoundFallsBackToAllPeers: a round sent only to the follower that
// answered the last one first is sent to every peer when it is still
// unconfirmed at the next tick, and the next round asks whoever completed
// it. Without the fallback the read would wait for the periodic heartbeat.
func TestReadRoundFallsBackToAllPeers(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil, func(c *Config) { c.HeartbeatTicks = 5 })
	makeLeader(t, r)
	drain(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
	drain(t, r)
	r.ReadIndex(10)
	hbs := msgsOfType(drain(t, r), MsgHeartbeat)
	if len(hbs) != 2 {
		t.Fatalf("first round %+v, want heartbeats to both followers", hbs)
	}
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: r.term, Context: hbs[0].Context})
	drain(t, r)
	r.ReadIndex(11)
	hbs = msgsOfType(drain(t, r), MsgHeartbeat)
	if len(hbs) != 1 || hbs[0].To != 3 {
		t.Fatalf("second round %+v, want one heartbeat to 3", hbs)
	}
	round := hbs[0].Context
	// Node 3 is gone: one tick later every peer is asked.
	r.heartbeatElapsed = 0
	r.Tick(0)
	rd := r.Ready()
	hbs = msgsOfType(rd.Messages, MsgHeartbeat)
	if len(hbs) != 2 || hbs[0].Context != round || len(rd.ReadStates) != 0 {
		t.Fatalf("after a tick: heartbeats %+v read states %+v, want round %d asked of both, unanswered", hbs, rd.ReadStates, round)
	}
	r.Advance(rd)
	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Context: round})
	rd = r.Ready()
	if len(rd.ReadStates) != 1 || rd.ReadStates[0].RequestID != 11 {
		t.Fatalf("read states %+v, want 11", rd.ReadStates)
	}
	r.Advance(rd)
	r.ReadIndex(12)
	hbs = msgsOfType(drain(t, r), MsgHeartbeat)
	if len(hbs) != 1 || hbs[0].To != 2 {
		t.Fatalf("third round %+v, want one heartbeat to 2", hbs)
	}
}

// A new leader does not serve reads before it commits an entry of its term;
// the planted bug skips the heartbeat round.
func TestReadIndexWaitsForTermCommitAndQuorum(t *testing.T) {
	for _, bug := range []bool{false, true} {
		t.Run(fmt.Sprintf("bug=%v", bug), func(t *testing.T) {
			r := newTestRaft(t, 1, ids3, nil, func(c *Config) { c.Bugs = &BugHooks{ReadWithoutQuorum: bug} })
			makeLeader(t, r)
			drain(t, r)
			r.ReadIndex(1)
			if rd := r.Ready(); len(rd.ReadStates) != 0 {
				t.Fatalf("read served before the term's first commit")
			} else {
				r.Advance(rd)
			}
			step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
			rd := r.Ready()
			if served := len(rd.ReadStates) == 1; served != bug {
				t.Fatalf("read served without a heartbeat round: %v, want %v", served, bug)
			}
		})
	}
}

// A follower gets a read index from the leader; reads fail on leader loss.
func TestReadIndexOnFollowerAndLeaderLoss(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	f := NodeID(1)
	for f == lead {
		f++
	}
	nw.nodes[lead].r.Propose(1, []byte("w"))
	nw.stabilize()
	nw.nodes[f].r.ReadIndex(77)
	nw.stabilize()
	rs := nw.nodes[f].reads
	if len(rs) != 1 || rs[0].RequestID != 77 || rs[0].Index != nw.nodes[lead].r.log.committed {
		t.Fatalf("follower read states %+v, want 77 at %d", rs, nw.nodes[lead].r.log.committed)
	}
	// Leader cut off: its pending read fails when it steps down.
	nw.isolate(lead)
	nw.nodes[lead].r.ReadIndex(88)
	for range 25 {
		nw.tick(lead)
		nw.stabilize()
	}
	errs := nw.nodes[lead].readErr
	if len(errs) != 1 || errs[0].RequestID != 88 || !errors.Is(errs[0].Err, ErrProposalDropped) {
		t.Fatalf("read errors %+v, want 88 dropped", errs)
	}
}

// Reference: thesis §3.10. Leader transfer: the target is brought up to
// date, campaigns at once, wins; proposals are dropped meanwhile.
func TestLeaderTransfer(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	target := NodeID(1)
	for target == lead {
		target++
	}
	// Hold back the target so that it needs entries first.
	nw.cut[[2]NodeID{lead, target}] = true
	nw.nodes[lead].r.Propose(1, []byte("a"))
	nw.stabilize()
	nw.heal()
	nw.nodes[lead].r.TransferLeader(target)
	nw.nodes[lead].r.Propose(2, []byte("during"))
	nw.process(lead)
	if acks := nw.nodes[lead].acks; !errors.Is(acks[len(acks)-1].Err, ErrProposalDropped) {
		t.Fatalf("proposal during transfer: %+v, want dropped", acks[len(acks)-1])
	}
	nw.stabilize()
	if nw.leader() != target {
		t.Fatalf("leader %d after transfer, want %d", nw.leader(), target)
	}
	nw.checkLogsAgree()
}

// A transfer to a node that cannot catch up aborts after an election
// timeout and the leader takes proposals again.
func TestLeaderTransferAborts(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	target := NodeID(1)
	for target == lead {
		target++
	}
	nw.isolate(target)
	nw.nodes[lead].r.Propose(1, []byte("a"))
	nw.stabilize()
	nw.nodes[lead].r.TransferLeader(target)
	for range 12 {
		nw.tick(lead)
		nw.stabilize()
	}
	r := nw.nodes[lead].r
	if r.role != RoleLeader || r.leadTransferee != None {
		t.Fatalf("role %v transferee %d, want leader with no transfer", r.role, r.leadTransferee)
	}
	r.Propose(2, []byte("b"))
	nw.process(lead)
	if acks := nw.nodes[lead].acks; acks[len(acks)-1].Err != nil {
		t.Fatalf("proposal after abort: %+v", acks[len(acks)-1])
	}
}

// Reference: Raft §7. A follower that needs compacted entries receives the
// snapshot in chunks (some lost on the way) and then the rest of the log.
func TestSnapshotInChunks(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.MaxMsgBytes = 16 })
	lead := nw.electLeader()
	slow := NodeID(1)
	for slow == lead {
		slow++
	}
	snapData := bytes.Repeat([]byte("snapshot-bytes|"), 10) // 150 bytes: 10 chunks
	snapIndex := nw.leaveBehindSnapshot(lead, slow, snapData)
	ln := nw.nodes[lead]
	nw.heal()
	// Drop every third chunk once.
	dropped := map[uint64]bool{}
	for range 100 {
		nw.round(func(m Message) bool {
			if m.Type == MsgSnap && m.SnapOffset%48 == 16 && !dropped[m.SnapOffset] {
				dropped[m.SnapOffset] = true
				return false
			}
			return true
		})
	}
	nw.stabilize()
	if len(dropped) == 0 {
		t.Fatal("no chunk dropped: the test does not test resending")
	}
	sn := nw.nodes[slow]
	var got []byte
	for _, e := range sn.applied {
		if e.Index == snapIndex && e.Type == EntryNormal && bytes.Equal(e.Data, snapData) {
			got = e.Data
		}
	}
	if got == nil {
		t.Fatalf("slow node did not install the snapshot (applied %d entries)", len(sn.applied))
	}
	if sn.r.log.committed != ln.r.log.committed || sn.r.log.lastIndex() != ln.r.log.lastIndex() {
		t.Fatalf("slow node at commit %d last %d, leader %d %d", sn.r.log.committed, sn.r.log.lastIndex(),
			ln.r.log.committed, ln.r.log.lastIndex())
	}
	ln.r.Propose(99, []byte("after"))
	nw.stabilize()
	if d := nw.appliedData(slow); d[len(d)-1] != "after" {
		t.Fatalf("slow node applied %q last, want after", d[len(d)-1])
	}
}

// round ticks every node, runs each one's Ready once, and delivers the
// messages that came out and keep accepts.
func (nw *network) round(keep func(Message) bool) {
	nw.tick()
	for _, id := range nw.ids {
		nw.process(id)
	}
	q := nw.queue
	nw.queue = nil
	for _, m := range q {
		if keep(m) {
			nw.deliver(m)
		}
	}
}

// leaveBehindSnapshot cuts slow off while the leader commits 20 entries,
// then makes the leader snapshot (body snapData) and compact its log past
// what slow holds, so that slow can only catch up through InstallSnapshot.
// It returns the snapshot's index; slow stays cut off.
func (nw *network) leaveBehindSnapshot(lead, slow NodeID, snapData []byte) uint64 {
	nw.t.Helper()
	nw.isolate(slow)
	for i := range 20 {
		nw.nodes[lead].r.Propose(uint64(i), fmt.Appendf(nil, "v%02d", i))
	}
	nw.stabilize()
	ln := nw.nodes[lead]
	snapIndex := ln.r.log.applied
	snapTerm, _ := ln.r.log.term(snapIndex)
	ln.snaps.Save(SnapshotMeta{Index: snapIndex, Term: snapTerm, ConfState: ConfState{Voters: ids3}}, snapData)
	cutTerm, err := ln.storage.Term(snapIndex - 2)
	if err != nil {
		nw.t.Fatal(err)
	}
	if err := ln.storage.TruncatePrefix(snapIndex-2, cutTerm); err != nil {
		nw.t.Fatal(err)
	}
	return snapIndex
}

// Pipelining: a leader keeps at most MaxInflightMsgs MsgApps in flight to a
// follower that does not answer, then stops.
func TestFlowControlBoundsInflight(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil, func(c *Config) { c.MaxInflightMsgs = 3; c.MaxMsgBytes = 1 })
	makeLeader(t, r)
	drain(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1}) // 2 to replicate
	drain(t, r)
	for i := range 10 {
		r.Propose(uint64(i), []byte("x"))
	}
	apps := 0
	for _, m := range drain(t, r) {
		if m.Type == MsgApp && m.To == 2 {
			apps++
		}
	}
	if apps != 3 {
		t.Fatalf("%d MsgApps in flight to 2, want 3", apps)
	}
	// An ack frees the window; more go.
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 3})
	if n := len(msgsOfType(drain(t, r), MsgApp)); n != 2 {
		t.Fatalf("%d MsgApps after freeing two slots, want 2", n)
	}
}

// The Ready split: the leader's MsgApp goes before persistence, a
// follower's MsgAppResp and vote only after.
func TestReadyOrdering(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil)
	makeLeader(t, r)
	rd := r.Ready()
	if len(msgsOfType(rd.Messages, MsgApp)) != 2 || len(rd.Entries) != 1 {
		t.Fatalf("leader Ready: %d MsgApp before persist, %d entries", len(msgsOfType(rd.Messages, MsgApp)), len(rd.Entries))
	}
	f := newTestRaft(t, 2, ids3, nil)
	step(t, f, Message{From: 1, Type: MsgApp, Term: 1, Entries: []Entry{{Index: 1, Term: 1}}})
	step(t, f, Message{From: 3, Type: MsgVote, Term: 1, Index: 5, LogTerm: 1})
	rd = f.Ready()
	if len(rd.Messages) != 0 || len(rd.MessagesAfterPersist) != 2 {
		t.Fatalf("follower Ready: %d before, %d after persist; want 0 and 2", len(rd.Messages), len(rd.MessagesAfterPersist))
	}
}

// The planted vote bug grants without recording the vote.
func TestForgetVotePersistBug(t *testing.T) {
	for _, bug := range []bool{false, true} {
		r := newTestRaft(t, 1, ids3, nil, func(c *Config) { c.Bugs = &BugHooks{ForgetVotePersist: bug} })
		step(t, r, Message{From: 2, Type: MsgVote, Term: 1})
		rd := r.Ready()
		if got := rd.HardState.Vote == 2; got == bug {
			t.Errorf("bug=%v: hard state vote %d", bug, rd.HardState.Vote)
		}
	}
}

// The planted log-matching bug accepts entries after a mismatched prefix.
func TestSkipLogMatchingBug(t *testing.T) {
	for _, bug := range []bool{false, true} {
		r := newTestRaft(t, 1, ids3, storageWith(t, 2, 1, 2), func(c *Config) { c.Bugs = &BugHooks{SkipLogMatching: bug} })
		step(t, r, Message{From: 2, Type: MsgApp, Term: 3, Index: 2, LogTerm: 3, Entries: []Entry{{Index: 3, Term: 3}}})
		if got := r.log.lastIndex() == 3; got != bug {
			t.Errorf("bug=%v: last index %d", bug, r.log.lastIndex())
		}
	}
}

// Bad messages are refused with an error, never a panic.
func TestStepRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		m    Message
	}{
		{"invalid type", Message{Type: 200, From: 2, To: 1, Term: 1}},
		{"no sender", Message{Type: MsgApp, To: 1, Term: 1}},
		{"wrong recipient", Message{Type: MsgApp, From: 2, To: 3, Term: 1}},
		{"from self", Message{Type: MsgApp, From: 1, To: 1, Term: 1}},
		{"gap in entries", Message{Type: MsgApp, From: 2, To: 1, Term: 1, Entries: []Entry{{Index: 1, Term: 1}, {Index: 3, Term: 1}}}},
		{"entry term above message term", Message{Type: MsgApp, From: 2, To: 1, Term: 1, Entries: []Entry{{Index: 1, Term: 2}}}},
		{"termed MsgProp", Message{Type: MsgProp, From: 2, To: 1, Term: 4}},
		{"vote without term", Message{Type: MsgVote, From: 2, To: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 1, ids3, nil)
			before := r.Status()
			if err := r.Step(tt.m); err == nil {
				t.Fatal("no error")
			}
			if after := r.Status(); after.HardState != before.HardState || after.LastIndex != before.LastIndex {
				t.Fatalf("state changed: %+v -> %+v", before, after)
			}
		})
	}
}

// A read forwarded to a leader that is then replaced fails at once with
// ErrNoLeader (the old leader's answer would carry an older term and be
// ignored), so the node can retry instead of timing out; a late answer is
// not reported twice.
func TestForwardedReadFailsOnLeaderChange(t *testing.T) {
	r := newTestRaft(t, 2, ids3, nil)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 1})
	r.ReadIndex(5)
	if reqs := msgsOfType(drain(t, r), MsgReadIndex); len(reqs) != 1 || reqs[0].To != 1 || reqs[0].Term != 0 {
		t.Fatalf("forwarded reads %+v, want one term-less MsgReadIndex to 1", reqs)
	}
	step(t, r, Message{From: 3, Type: MsgApp, Term: 2})
	rd := r.Ready()
	if len(rd.ReadAcks) != 1 || rd.ReadAcks[0].RequestID != 5 || !errors.Is(rd.ReadAcks[0].Err, ErrNoLeader) {
		t.Fatalf("read acks %+v, want 5 failed with ErrNoLeader", rd.ReadAcks)
	}
	r.Advance(rd)
	step(t, r, Message{From: 3, Type: MsgReadIndexResp, Term: 2, Context: 5, Index: 9})
	if rd := r.Ready(); len(rd.ReadStates) != 0 {
		t.Fatalf("a failed read was answered again: %+v", rd.ReadStates)
	}
}

// A proposal forwarded to a leader that is then replaced is answered at
// once with ErrTimeout (outcome unknown: the old leader may have appended
// it), not left to the client's request timeout, as happens when a leader
// exits right after handing off leadership; the old leader's late answer
// is not reported twice.
func TestForwardedProposalUnknownOnLeaderChange(t *testing.T) {
	r := newTestRaft(t, 2, ids3, nil)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 1})
	r.Propose(5, []byte("x"))
	r.Propose(6, []byte("y"))
	if props := msgsOfType(drain(t, r), MsgProp); len(props) != 2 || props[0].To != 1 {
		t.Fatalf("forwarded proposals %+v, want two MsgProp to 1", props)
	}
	// The leader answers 6 before it goes.
	step(t, r, Message{From: 1, Type: MsgPropResp, Term: 1, Context: 6, Index: 7, LogTerm: 1})
	if rd := r.Ready(); len(rd.ProposalAcks) != 1 || rd.ProposalAcks[0].RequestID != 6 || rd.ProposalAcks[0].Err != nil {
		t.Fatalf("proposal acks %+v, want 6 at index 7", rd.ProposalAcks)
	} else {
		r.Advance(rd)
	}
	step(t, r, Message{From: 3, Type: MsgApp, Term: 2})
	rd := r.Ready()
	if len(rd.ProposalAcks) != 1 || rd.ProposalAcks[0].RequestID != 5 || !errors.Is(rd.ProposalAcks[0].Err, ErrTimeout) {
		t.Fatalf("proposal acks %+v, want 5 unknown (ErrTimeout)", rd.ProposalAcks)
	}
	r.Advance(rd)
	step(t, r, Message{From: 3, Type: MsgPropResp, Term: 2, Context: 5, Index: 8, LogTerm: 2})
	if rd := r.Ready(); len(rd.ProposalAcks) != 0 {
		t.Fatalf("an answered proposal was answered again: %+v", rd.ProposalAcks)
	}
}

// A node still at term 0 rejects a pre-vote with term 0; the pre-candidate
// counts the rejection (and loses) instead of refusing the message.
func TestPreVoteRejectionAtTermZero(t *testing.T) {
	r := newTestRaft(t, 1, ids3, storageWith(t, 0), withPreVote)
	tickUntil(t, r, 30, func() bool { return r.role == RolePreCandidate })
	step(t, r, Message{From: 2, Type: MsgPreVoteResp, Term: 0, Reject: true})
	step(t, r, Message{From: 3, Type: MsgPreVoteResp, Term: 0, Reject: true})
	if r.role != RoleFollower || r.term != 0 {
		t.Fatalf("role %v term %d, want follower at term 0", r.role, r.term)
	}
}

// TestReadRoundsKeepReplicatingFollower: a follower still writing an
// append answers many read rounds meanwhile; the leader must not take
// those answers for lost MsgApps (it once dropped it to probing and resent
// the entries after four rounds, about a millisecond under mixed load).
func TestReadRoundsKeepReplicatingFollower(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil, func(c *Config) { c.HeartbeatTicks = 5 })
	makeLeader(t, r)
	drain(t, r)
	for _, id := range []NodeID{2, 3} {
		step(t, r, Message{From: id, Type: MsgAppResp, Term: r.term, Index: 1})
	}
	drain(t, r)
	r.Propose(1, []byte("w")) // in flight to 2, unanswered
	drain(t, r)
	pr := r.progress[2]
	for i := range 8 {
		r.ReadIndex(uint64(10 + i))
		for _, hb := range msgsOfType(drain(t, r), MsgHeartbeat) {
			if hb.To == 2 {
				step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Context: hb.Context})
			}
		}
		drain(t, r)
		if pr.state != StateReplicate {
			t.Fatalf("after read round %d the follower is in %v (match %d, next %d), want replicate", i, pr.state, pr.match, pr.next)
		}
	}
}
