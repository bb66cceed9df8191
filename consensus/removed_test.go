package consensus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// removeFollower4 builds a cluster of four voters led by 1 and removes 4;
// the removal commits among 1, 2 and 3, and 4 never receives it (the
// leader stops sending to it when the entry is appended).
func removeFollower4(t *testing.T) *network {
	t.Helper()
	nw := newNetwork(t, 4)
	nw.campaign(1)
	if nw.leader() != 1 {
		t.Fatalf("leader %d, want 1", nw.leader())
	}
	ack := nw.confChange(1, ConfChange{Type: ConfChangeRemoveNode, NodeID: 4})
	if ack.Err != nil {
		t.Fatal(ack.Err)
	}
	nw.stabilize()
	if c := nw.nodes[1].r.log.committed; c < ack.Index {
		t.Fatalf("removal at %d not committed (commit %d)", ack.Index, c)
	}
	mustConf(t, nw.nodes[4].r, []NodeID{1, 2, 3, 4}, nil)
	return nw
}

func lastAck(t *testing.T, n *testNode, requestID uint64) ProposalAck {
	t.Helper()
	for i := len(n.acks) - 1; i >= 0; i-- {
		if n.acks[i].RequestID == requestID {
			return n.acks[i]
		}
	}
	t.Fatalf("no ack for request %d", requestID)
	return ProposalAck{}
}

// Reference: thesis §4.2.3 (removed servers), our rule: a leader answers a
// node missing from its committed configuration with MsgRemoved. A
// proposal that node forwards is refused (nothing appended) and fails with
// ErrRemoved; from then on it fails requests at once, sends nothing and
// never campaigns, and the cluster does not notice.
func TestRemovedFollowerLearnsFromAForwardedProposal(t *testing.T) {
	nw := removeFollower4(t)
	leader, r4 := nw.nodes[1].r, nw.nodes[4].r
	if r4.removed() {
		t.Fatal("node 4 counts itself removed before anybody told it")
	}
	last, term := leader.log.lastIndex(), leader.term
	r4.Propose(7, []byte("x"))
	nw.stabilize()
	if ack := lastAck(t, nw.nodes[4], 7); !errors.Is(ack.Err, ErrRemoved) {
		t.Fatalf("forwarded proposal on the removed node: %+v, want ErrRemoved", ack)
	}
	if got := leader.log.lastIndex(); got != last {
		t.Fatalf("the leader appended the removed node's proposal (last index %d -> %d)", last, got)
	}
	if !r4.Status().Removed {
		t.Fatal("Status().Removed is false after MsgRemoved")
	}

	r4.ReadIndex(8)
	r4.Propose(9, []byte("y"))
	nw.process(4)
	if len(nw.queue) != 0 {
		t.Fatalf("the removed node sent %v for a read and a write", nw.queue)
	}
	if ra := nw.nodes[4].readErr; len(ra) != 1 || ra[0].RequestID != 8 || !errors.Is(ra[0].Err, ErrRemoved) {
		t.Fatalf("read on the removed node: %+v, want ErrRemoved", ra)
	}
	if ack := lastAck(t, nw.nodes[4], 9); !errors.Is(ack.Err, ErrRemoved) {
		t.Fatalf("second proposal: %+v, want ErrRemoved at once", ack)
	}

	requireRemovedStaysQuiet(t, nw, r4, leader, term)
}

// A removed node that only pre-votes (no client) learns from the leader's
// answer to its pre-vote, and stops; the leader keeps its term.
func TestRemovedFollowerLearnsFromItsPreVote(t *testing.T) {
	nw := removeFollower4(t)
	leader, r4 := nw.nodes[1].r, nw.nodes[4].r
	term := leader.term
	preVoted := false
	for range 3 * 2 * r4.cfg.ElectionTicks {
		nw.tick()
		nw.stabilize()
		preVoted = preVoted || r4.role == RolePreCandidate
		if r4.removed() {
			break
		}
	}
	if !r4.removed() {
		t.Fatalf("node 4 not told after three election timeouts (pre-voted: %t)", preVoted)
	}
	requireRemovedStaysQuiet(t, nw, r4, leader, term)
}

// The leader says nothing while the removal is uncommitted (it may still be
// rolled back); once it committed, a follower tells a removed node that
// asks for its vote too (the leader may be a member that node never knew).
func TestRemovedToldOnceCommitted(t *testing.T) {
	t.Run("uncommitted", func(t *testing.T) {
		nw := newNetwork(t, 4)
		nw.campaign(1)
		nw.isolate(2)
		nw.isolate(3)
		ack := nw.confChange(1, ConfChange{Type: ConfChangeRemoveNode, NodeID: 4})
		if ack.Err != nil {
			t.Fatal(ack.Err)
		}
		nw.stabilize()
		r4 := nw.nodes[4].r
		r4.Propose(7, []byte("x"))
		nw.stabilize()
		if r4.removed() {
			t.Fatal("told removed while the removal is uncommitted")
		}
		if a := lastAck(t, nw.nodes[4], 7); a.Err != nil || a.Index == 0 {
			t.Fatalf("proposal forwarded before the removal committed: %+v, want appended", a)
		}
	})
	t.Run("by a follower", func(t *testing.T) {
		nw := removeFollower4(t)
		r4 := nw.nodes[4].r
		nw.deliver(Message{From: 4, To: 2, Type: MsgPreVote, Term: r4.term + 1,
			Index: r4.log.lastIndex(), LogTerm: r4.log.lastTerm()})
		nw.stabilize()
		if !r4.removed() {
			t.Fatal("a follower did not tell the removed node that asked for its vote")
		}
	})
}

// A follower that lags behind the addition of a new member tells that
// member it is removed when asked for its vote, but still grants the vote,
// and the member, whose log names it after the notice's index, ignores the
// notice and wins.
func TestLaggingFollowerStillVotesForANewMember(t *testing.T) {
	enc := func(typ ConfChangeType, id NodeID) []byte { return ConfChange{Type: typ, NodeID: id}.Encode(nil) }
	log := []Entry{
		{Index: 1, Term: 1, Type: EntryNoop},
		{Index: 2, Term: 1, Type: EntryConfChange, Data: enc(ConfChangeRemoveNode, 3)},
		{Index: 3, Term: 1, Type: EntryConfChange, Data: enc(ConfChangeAddLearner, 4)},
		{Index: 4, Term: 1, Type: EntryConfChange, Data: enc(ConfChangePromoteVoter, 4)},
	}
	lagging := newTestRaft(t, 2, ids3, nil)
	step(t, lagging, Message{From: 1, Type: MsgApp, Term: 1, Entries: log[:2], Commit: 2})
	drain(t, lagging)
	member := newTestRaft(t, 4, ids3, nil)
	step(t, member, Message{From: 1, Type: MsgApp, Term: 1, Entries: log, Commit: 4})
	drain(t, member)
	mustConf(t, member, []NodeID{1, 2, 4}, nil)

	tickUntil(t, member, 100, func() bool { return member.role == RoleCandidate })
	votes := msgsOfType(drain(t, member), MsgVote)
	var toLagging []Message
	for _, m := range votes {
		if m.To == 2 {
			toLagging = append(toLagging, m)
		}
	}
	if len(toLagging) != 1 {
		t.Fatalf("vote requests to 2: %v", toLagging)
	}
	step(t, lagging, toLagging[0])
	answers := drain(t, lagging)
	if got := msgsOfType(answers, MsgRemoved); len(got) != 1 {
		t.Fatalf("the lagging follower's answers %v, want one MsgRemoved", answers)
	}
	if got := msgsOfType(answers, MsgVoteResp); len(got) != 1 || got[0].Reject {
		t.Fatalf("the lagging follower's vote %v, want granted", got)
	}
	for _, m := range answers {
		step(t, member, m)
	}
	if member.removed() {
		t.Fatal("the new member took a lagging follower's notice")
	}
	if member.role != RoleLeader {
		t.Fatalf("the new member is %v with 2 of 3 votes, want leader", member.role)
	}
}

// A node added again after its removal is a member again, with no word
// from anybody: the conf entry that adds it supersedes the notice.
func TestRemovedNodeAddedAgain(t *testing.T) {
	nw := removeFollower4(t)
	r4 := nw.nodes[4].r
	r4.Propose(7, []byte("x"))
	nw.stabilize()
	if !r4.removed() {
		t.Fatal("not told")
	}
	if ack := nw.confChange(1, ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); ack.Err != nil {
		t.Fatal(ack.Err)
	}
	for range 5 {
		nw.tick()
		nw.stabilize()
	}
	mustConf(t, r4, []NodeID{1, 2, 3}, []NodeID{4})
	if r4.removed() {
		t.Fatal("still removed after it was added again")
	}
	r4.Propose(8, []byte("y"))
	nw.stabilize()
	if a := lastAck(t, nw.nodes[4], 8); a.Err != nil || a.Index == 0 {
		t.Fatalf("proposal on the re-added node: %+v, want appended", a)
	}
}

// removed() against the node's own log: a notice counts unless a later
// configuration on a log that holds the notice's entry names the node.
func TestRemovalNoticeAgainstOwnLog(t *testing.T) {
	remove4 := ConfChange{Type: ConfChangeRemoveNode, NodeID: 4}.Encode(nil)
	add4 := ConfChange{Type: ConfChangeAddLearner, NodeID: 4}.Encode(nil)
	base := []Entry{{Index: 1, Term: 1, Type: EntryNoop}, {Index: 2, Term: 1, Type: EntryConfChange, Data: remove4}}
	readded := append(base[:2:2], Entry{Index: 3, Term: 1, Type: EntryConfChange, Data: add4})
	tests := []struct {
		name   string
		log    []Entry
		commit uint64
		notice *Message
		want   bool
	}{
		{"never told", base, 1, nil, false},
		{"log behind the notice", nil, 0, &Message{Index: 2, LogTerm: 1}, true},
		{"notice at our own removal", base, 1, &Message{Index: 2, LogTerm: 1}, true},
		{"added again after the notice", readded, 1, &Message{Index: 2, LogTerm: 1}, false},
		{"added again, notice committed here", readded, 2, &Message{Index: 2}, false},
		{"later conf on a log that diverges at the notice", readded, 1, &Message{Index: 2, LogTerm: 2}, true},
		{"notice after the re-addition", readded, 1, &Message{Index: 5, LogTerm: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 4, []NodeID{1, 2, 3, 4}, nil)
			if tt.log != nil {
				step(t, r, Message{From: 1, Type: MsgApp, Term: 1, Entries: tt.log, Commit: tt.commit})
			}
			if tt.notice != nil {
				m := *tt.notice
				m.From, m.Type, m.Term = 1, MsgRemoved, 1
				step(t, r, m)
			}
			if got := r.removed(); got != tt.want {
				t.Fatalf("removed() = %t, want %t", got, tt.want)
			}
			if got := r.promotable(); got == tt.want && r.isVoter(4) {
				t.Fatalf("promotable() = %t with removed() = %t", got, tt.want)
			}
		})
	}
}

// TestNodeRemovedFollowerFailsRequests: through the node loop, a removed
// follower's write and read fail with ErrRemoved (a definite failure) at
// once, not after a request timeout or an election timeout of parking, and
// its Status says so; the rest of the cluster goes on.
func TestNodeRemovedFollowerFailsRequests(t *testing.T) {
	tc := startTestCluster(t, 4)
	lead := tc.waitLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tc.nodes[lead].Propose(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	gone := lead%4 + 1
	if _, err := tc.nodes[lead].ProposeConfChange(ctx, ConfChange{Type: ConfChangeRemoveNode, NodeID: gone}); err != nil {
		t.Fatalf("remove %d: %v", gone, err)
	}
	start := time.Now()
	_, err := tc.nodes[gone].Propose(ctx, []byte("b"))
	if errors.Is(err, ErrTimeout) {
		// The removed node's election timer (100 ms) fired before the
		// answer came: it pre-voted, and a forward pending then has an
		// unknown outcome. The pre-vote's answer tells it all the same.
		t.Logf("first write on the removed node: %v; again", err)
		_, err = tc.nodes[gone].Propose(ctx, []byte("b"))
	}
	if !errors.Is(err, ErrRemoved) {
		t.Fatalf("write on the removed node: %v, want ErrRemoved", err)
	}
	if err := tc.nodes[gone].ReadBarrier(ctx); !errors.Is(err, ErrRemoved) {
		t.Fatalf("read on the removed node: %v, want ErrRemoved", err)
	}
	// Without the leader's word the write would wait for the context's
	// 10 s (the leader appends, or ignores, a non-member's proposal).
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the removed node took %v to answer", d)
	}
	if st, err := tc.nodes[gone].Status(ctx); err != nil || !st.Removed {
		t.Fatalf("removed node's Status: Removed %t, %v", st.Removed, err)
	}
	for i := range 5 {
		if _, err := tc.nodes[lead].Propose(ctx, []byte{byte('c' + i)}); err != nil {
			t.Fatalf("write on the leader after the removal: %v", err)
		}
	}
	if got := Role(tc.nodes[lead].Metrics().Role); got != RoleLeader {
		t.Fatalf("node %d is %v after the removal, want leader", lead, got)
	}
	if got := tc.sms[lead].snapshotString(); strings.Contains(got, "b") {
		t.Fatalf("the leader applied the removed node's write: %q", got)
	}
}

// A forwarded proposal still pending when the node is told by another
// message (its pre-vote's answer) stays pending: the leader's answer to it
// says whether it was appended, here a refusal (ErrRemoved), not an
// unknown outcome.
func TestRemovedPendingProposalWaitsForItsAnswer(t *testing.T) {
	nw := removeFollower4(t)
	leader, n4 := nw.nodes[1].r, nw.nodes[4]
	n4.r.Propose(7, []byte("x"))
	nw.process(4)
	held := nw.queue
	nw.queue = nil
	if len(held) != 1 || held[0].Type != MsgProp {
		t.Fatalf("node 4 sent %v, want one MsgProp", held)
	}
	index := leader.conf.latestIndex()
	term, _ := leader.log.term(index)
	step(t, n4.r, Message{From: 2, Type: MsgRemoved, Term: leader.term, Index: index, LogTerm: term})
	nw.process(4)
	if !n4.r.removed() {
		t.Fatal("not removed after a MsgRemoved")
	}
	for _, a := range n4.acks {
		if a.RequestID == 7 {
			t.Fatalf("the pending proposal was answered %v before the leader's answer", a.Err)
		}
	}
	nw.deliver(held[0])
	nw.stabilize()
	if a := lastAck(t, n4, 7); !errors.Is(a.Err, ErrRemoved) {
		t.Fatalf("pending proposal: %v, want ErrRemoved", a.Err)
	}
}

// requireRemovedStaysQuiet: for 100 ticks a node that was told it was
// removed never campaigns, and node 1 keeps leading in the same term.
func requireRemovedStaysQuiet(t *testing.T, nw *network, removed, leader *Raft, term uint64) {
	t.Helper()
	for range 100 {
		nw.tick()
		nw.stabilize()
		if removed.role != RoleFollower {
			t.Fatalf("the removed node campaigns after it was told (%v)", removed.role)
		}
	}
	if nw.leader() != 1 || leader.term != term {
		t.Fatalf("leader %d term %d, want 1 at term %d: the removed node disturbed the cluster", nw.leader(), leader.term, term)
	}
}
