package consensus

import (
	"errors"
	"slices"
	"testing"
)

var ids3 = []NodeID{1, 2, 3}

// Reference: §5.1. A node that sees a higher term in any message adopts it
// and becomes follower, whatever its role.
func TestUpdateTermFromMessage(t *testing.T) {
	for _, role := range []Role{RoleFollower, RoleCandidate, RoleLeader} {
		t.Run(role.String(), func(t *testing.T) {
			r := newTestRaft(t, 1, ids3, nil)
			switch role {
			case RoleCandidate:
				tickUntil(t, r, 100, func() bool { return r.role == RoleCandidate })
			case RoleLeader:
				makeLeader(t, r)
			}
			step(t, r, Message{From: 2, Type: MsgApp, Term: 9})
			if r.term != 9 || r.role != RoleFollower || r.lead != 2 {
				t.Errorf("term %d role %v lead %d, want 9 follower 2", r.term, r.role, r.lead)
			}
		})
	}
}

// Reference: §5.1. A message of an older term is ignored.
func TestRejectStaleTermMessage(t *testing.T) {
	r := newTestRaft(t, 1, ids3, storageWith(t, 5))
	step(t, r, Message{From: 2, Type: MsgApp, Term: 3, Commit: 0})
	if r.term != 5 || r.lead != None {
		t.Fatalf("term %d lead %d after a stale MsgApp, want 5 and none", r.term, r.lead)
	}
}

// Reference: §5.2. A follower that hears nothing for an election timeout
// becomes candidate, votes for itself, and asks every peer for a vote,
// after persisting its vote.
func TestFollowerStartsElection(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil)
	tickUntil(t, r, 20, func() bool { return r.role == RoleCandidate })
	if r.term != 1 || r.vote != 1 {
		t.Fatalf("term %d vote %d, want 1 and 1", r.term, r.vote)
	}
	rd := r.Ready()
	if !rd.HardStateChanged || rd.HardState.Vote != 1 {
		t.Fatalf("hard state %+v not persisted with the vote", rd.HardState)
	}
	if len(msgsOfType(rd.Messages, MsgVote)) != 0 {
		t.Fatal("MsgVote sent before the candidate's vote is durable")
	}
	votes := msgsOfType(rd.MessagesAfterPersist, MsgVote)
	var to []NodeID
	for _, m := range votes {
		to = append(to, m.To)
		if m.Term != 1 {
			t.Errorf("MsgVote term %d, want 1", m.Term)
		}
	}
	if !slices.Equal(to, []NodeID{2, 3}) {
		t.Errorf("MsgVote to %v, want [2 3]", to)
	}
}

// Reference: §5.2. Election outcomes by the votes received.
func TestLeaderElectionInOneRoundRPC(t *testing.T) {
	tests := []struct {
		size  int
		votes map[NodeID]bool
		want  Role
	}{
		{1, nil, RoleLeader},
		{3, map[NodeID]bool{2: true}, RoleLeader},
		{3, map[NodeID]bool{2: true, 3: true}, RoleLeader},
		{5, map[NodeID]bool{2: true, 3: true}, RoleLeader},
		{3, map[NodeID]bool{}, RoleCandidate},
		{5, map[NodeID]bool{2: true}, RoleCandidate},
		{5, map[NodeID]bool{2: false, 3: false}, RoleCandidate},
		{3, map[NodeID]bool{2: false, 3: false}, RoleFollower},
		{5, map[NodeID]bool{2: false, 3: false, 4: false}, RoleFollower},
	}
	for i, tt := range tests {
		var voters []NodeID
		for id := 1; id <= tt.size; id++ {
			voters = append(voters, NodeID(id))
		}
		r := newTestRaft(t, 1, voters, nil)
		tickUntil(t, r, 20, func() bool { return r.role != RoleFollower })
		for id, granted := range tt.votes {
			step(t, r, Message{From: id, Type: MsgVoteResp, Term: r.term, Reject: !granted})
		}
		if r.role != tt.want {
			t.Errorf("#%d: role %v, want %v", i, r.role, tt.want)
		}
	}
}

// Reference: §5.2. Each node votes for at most one candidate per term, on a
// first-come basis.
func TestFollowerVoteOncePerTerm(t *testing.T) {
	tests := []struct {
		vote, from NodeID
		wantReject bool
	}{
		{None, 2, false},
		{2, 2, false}, // a repeated request is granted again
		{3, 2, true},
	}
	for i, tt := range tests {
		st := storageWith(t, 1)
		_ = st.SaveHardState(HardState{Term: 1, Vote: tt.vote})
		r := newTestRaft(t, 1, ids3, st)
		step(t, r, Message{From: tt.from, Type: MsgVote, Term: 1})
		resp := msgsOfType(drain(t, r), MsgVoteResp)
		if len(resp) != 1 || resp[0].Reject != tt.wantReject {
			t.Errorf("#%d: responses %+v, want one with reject %v", i, resp, tt.wantReject)
		}
	}
}

// Reference: §5.2. A candidate that receives AppendEntries from a leader of
// its term steps down.
func TestCandidateFallsBack(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil)
	tickUntil(t, r, 20, func() bool { return r.role == RoleCandidate })
	step(t, r, Message{From: 2, Type: MsgApp, Term: r.term})
	if r.role != RoleFollower || r.lead != 2 {
		t.Fatalf("role %v lead %d, want follower of 2", r.role, r.lead)
	}
}

// Reference: §5.2. Election timeouts are randomized in [ET, 2ET).
func TestElectionTimeoutRandomized(t *testing.T) {
	seen := map[int]bool{}
	for seed := range int64(50) {
		st := NewMemoryStorage()
		r, err := NewRaft(Config{ID: 1, Voters: ids3, ElectionTicks: 10, Log: st, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for r.role == RoleFollower {
			r.Tick(0)
			n++
		}
		if n < 10 || n >= 20 {
			t.Fatalf("seed %d: campaigned after %d ticks, want [10,20)", seed, n)
		}
		seen[n] = true
	}
	if len(seen) < 5 {
		t.Errorf("only %d distinct timeouts over 50 seeds: not randomized", len(seen))
	}
}

// Reference: §5.4.1. A vote is denied to a candidate whose log is less up
// to date.
func TestVoteRequestUpToDate(t *testing.T) {
	// Our log: terms 1 1 2 (last index 3, last term 2).
	tests := []struct {
		index, logTerm uint64
		wantReject     bool
	}{
		{3, 2, false},
		{4, 2, false},
		{2, 2, true}, // same term, shorter
		{9, 1, true}, // longer, older term
		{1, 3, false},
	}
	for i, tt := range tests {
		r := newTestRaft(t, 1, ids3, storageWith(t, 2, 1, 1, 2))
		step(t, r, Message{From: 2, Type: MsgVote, Term: 3, Index: tt.index, LogTerm: tt.logTerm})
		resp := msgsOfType(drain(t, r), MsgVoteResp)
		if len(resp) != 1 || resp[0].Reject != tt.wantReject {
			t.Errorf("#%d: %+v, want reject %v", i, resp, tt.wantReject)
		}
	}
}

// Reference: §5.3, §6.4. A new leader appends a no-op of its term and
// replicates it; entries commit once a majority holds them.
func TestLeaderCommitsEntry(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil)
	makeLeader(t, r)
	msgs := drain(t, r)
	apps := msgsOfType(msgs, MsgApp)
	if len(apps) != 2 || len(apps[0].Entries) != 1 || apps[0].Entries[0].Type != EntryNoop {
		t.Fatalf("MsgApps %+v, want the no-op to both peers", apps)
	}
	noop := apps[0].Entries[0]
	r.Propose(1, []byte("a"))
	rd := r.Ready()
	if len(rd.ProposalAcks) != 1 || rd.ProposalAcks[0].Index != noop.Index+1 || rd.ProposalAcks[0].Term != r.term {
		t.Fatalf("acks %+v, want index %d term %d", rd.ProposalAcks, noop.Index+1, r.term)
	}
	r.cfg.Log.(*MemoryStorage).Append(rd.Entries)
	r.Advance(rd)
	if r.log.committed != 0 {
		t.Fatalf("committed %d with only the leader holding it", r.log.committed)
	}
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: noop.Index + 1})
	if r.log.committed != noop.Index+1 {
		t.Fatalf("committed %d, want %d", r.log.committed, noop.Index+1)
	}
	rd = r.Ready()
	if len(rd.CommittedEntries) != 2 || string(rd.CommittedEntries[1].Data) != "a" {
		t.Fatalf("committed entries %+v", rd.CommittedEntries)
	}
}

// Reference: §10.2.1. The leader counts itself towards commit only for
// entries it has persisted.
func TestLeaderCountsItselfOnlyAfterPersist(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil)
	makeLeader(t, r)
	rd := r.Ready() // the no-op at index 1, not yet persisted
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
	if r.log.committed != 1 {
		// leader + follower 2 hold it? The leader has not persisted: only
		// follower 2 does, which is not a majority of 3.
		t.Logf("committed %d", r.log.committed)
	}
	if r.log.committed != 0 {
		t.Fatalf("committed %d before the leader persisted, with one follower", r.log.committed)
	}
	r.cfg.Log.(*MemoryStorage).Append(rd.Entries)
	r.Advance(rd)
	if r.log.committed != 1 {
		t.Fatalf("committed %d after the leader persisted, want 1", r.log.committed)
	}
}

// Reference: §5.3. A follower rejects AppendEntries whose previous entry it
// lacks, with a hint; it accepts and truncates a conflicting suffix.
func TestFollowerAppendEntries(t *testing.T) {
	tests := []struct {
		name         string
		index, term  uint64
		ents         []Entry
		wantReject   bool
		wantHint     uint64
		wantHintTerm uint64
		wantTerms    []uint64
	}{
		{"append at end", 2, 2, []Entry{{Index: 3, Term: 3}}, false, 0, 0, []uint64{1, 2, 3}},
		{"prev missing", 5, 3, nil, true, 2, 2, []uint64{1, 2}},
		{"prev term mismatch", 2, 3, nil, true, 2, 2, []uint64{1, 2}},
		{"prev term lower skips back", 2, 1, nil, true, 1, 1, []uint64{1, 2}},
		{"conflict truncates", 1, 1, []Entry{{Index: 2, Term: 3}, {Index: 3, Term: 3}}, false, 0, 0, []uint64{1, 3, 3}},
		{"already present", 0, 0, []Entry{{Index: 1, Term: 1}}, false, 0, 0, []uint64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 1, ids3, storageWith(t, 2, 1, 2))
			step(t, r, Message{From: 2, Type: MsgApp, Term: 3, Index: tt.index, LogTerm: tt.term, Entries: tt.ents})
			rd := r.Ready()
			resp := msgsOfType(rd.MessagesAfterPersist, MsgAppResp)
			if len(resp) != 1 {
				t.Fatalf("responses %+v", rd.MessagesAfterPersist)
			}
			m := resp[0]
			if m.Reject != tt.wantReject || (m.Reject && (m.RejectHint != tt.wantHint || m.LogTerm != tt.wantHintTerm)) {
				t.Errorf("response %+v, want reject %v hint %d/%d", m, tt.wantReject, tt.wantHint, tt.wantHintTerm)
			}
			var terms []uint64
			for i := uint64(1); i <= r.log.lastIndex(); i++ {
				tm, _ := r.log.term(i)
				terms = append(terms, tm)
			}
			if !slices.Equal(terms, tt.wantTerms) {
				t.Errorf("log terms %v, want %v", terms, tt.wantTerms)
			}
		})
	}
}

// Reference: §5.3 (thesis fast back-off). A leader facing a follower with a
// long divergent suffix finds the match point in a few round trips, not
// one per entry.
func TestFastBackOff(t *testing.T) {
	nw := newNetwork(t, 3)
	// Node 1 leads term 1 but its entries reach nobody.
	nw.campaign(1)
	nw.isolate(1)
	for i := range 50 {
		nw.nodes[1].r.Propose(uint64(i), []byte("lost"))
	}
	nw.stabilize()
	nw.heal()
	// 2 becomes leader in a later term with its own entries.
	nw.isolate(1)
	for nw.leader() != 2 && nw.leader() != 3 || nw.nodes[nw.leader()].r.term == 1 {
		nw.tick(2, 3)
		nw.stabilize()
	}
	lead := nw.leader()
	for i := range 5 {
		nw.nodes[lead].r.Propose(uint64(100+i), []byte("kept"))
	}
	nw.stabilize()
	nw.heal()
	rejections := 0
	for range 50 {
		nw.tick()
		for _, id := range nw.ids {
			nw.process(id)
		}
		for len(nw.queue) > 0 {
			q := nw.queue
			nw.queue = nil
			for _, m := range q {
				if m.Type == MsgAppResp && m.Reject && m.From == 1 {
					rejections++
				}
				nw.deliver(m)
			}
			for _, id := range nw.ids {
				nw.process(id)
			}
		}
	}
	nw.checkLogsAgree()
	if got := nw.appliedData(1); len(got) != 5 {
		t.Fatalf("node 1 applied %q, want the 5 kept entries", got)
	}
	if rejections > 3 {
		t.Errorf("%d rejections to skip a 50-entry divergent suffix, want at most 3", rejections)
	}
}

// Reference: §5.4.2, Figure 8. A leader does not commit an entry of an
// earlier term by counting replicas; the planted bug does.
func TestCommitOnlyCurrentTerm(t *testing.T) {
	for _, bug := range []bool{false, true} {
		// Log: index 1 at term 1 (from an old leader), we lead term 3.
		st := storageWith(t, 2, 1)
		r := newTestRaft(t, 1, ids3, st, func(c *Config) { c.Bugs = &BugHooks{CommitOldTermByCount: bug} })
		makeLeader(t, r)
		drain(t, r) // persists the no-op at index 2
		step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
		want := uint64(0)
		if bug {
			want = 1
		}
		if r.log.committed != want {
			t.Errorf("bug=%v: committed %d, want %d", bug, r.log.committed, want)
		}
		step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
		if r.log.committed != 2 {
			t.Errorf("bug=%v: committed %d after the no-op replicated, want 2", bug, r.log.committed)
		}
	}
}

// Proposals on a follower are forwarded and acknowledged with the index
// the leader gave them; without a leader they fail at once.
func TestProposalOutcomes(t *testing.T) {
	nw := newNetwork(t, 3)
	r2 := nw.nodes[2].r
	r2.Propose(1, []byte("early"))
	nw.process(2)
	if acks := nw.nodes[2].acks; len(acks) != 1 || !errors.Is(acks[0].Err, ErrNoLeader) {
		t.Fatalf("acks without a leader %+v", acks)
	}
	lead := nw.electLeader()
	f := NodeID(2)
	if lead == 2 {
		f = 3
	}
	nw.nodes[f].r.Propose(2, []byte("fwd"))
	nw.stabilize()
	acks := nw.nodes[f].acks
	last := acks[len(acks)-1]
	if last.RequestID != 2 || last.Err != nil || last.Term != nw.nodes[lead].r.term {
		t.Fatalf("forwarded ack %+v", last)
	}
	e, err := nw.nodes[f].storage.Entry(last.Index)
	if err != nil || string(e.Data) != "fwd" {
		t.Fatalf("entry at ack index %d: %+v %v", last.Index, e, err)
	}
}

// Entries carry the leader's wall clock, never decreasing even when the
// clock goes back or a new leader's clock is behind.
func TestEntryTimeStamps(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1}, nil)
	r.Tick(1000)
	makeLeader(t, r)
	r.Tick(900) // clock went back
	r.Propose(1, []byte("a"))
	r.Tick(2000)
	r.Propose(2, []byte("b"))
	rd := r.Ready()
	var stamps []int64
	for _, e := range rd.Entries {
		stamps = append(stamps, e.TimeMs)
	}
	if !slices.Equal(stamps, []int64{1000, 1000, 2000}) {
		t.Fatalf("stamps %v, want [1000 1000 2000]", stamps)
	}
}

// Reference: Figure 2 (Rules for Servers, Followers). The election timer
// restarts on a granted vote, not on a higher term alone: a stale-log
// candidate cannot hold back the nodes that could win.
func TestRejectedVoteKeepsElectionTimer(t *testing.T) {
	tests := []struct {
		name        string
		logTerm     uint64
		wantElapsed int
	}{
		{"granted: timer restarts", 5, 0},
		{"rejected (stale log): timer keeps running", 0, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 2, ids3, storageWith(t, 1, 1))
			for range 7 {
				r.Tick(0)
			}
			step(t, r, Message{From: 3, Type: MsgVote, Term: 4, Index: 1, LogTerm: tt.logTerm})
			if r.term != 4 || r.electionElapsed != tt.wantElapsed {
				t.Fatalf("term %d elapsed %d, want 4 and %d", r.term, r.electionElapsed, tt.wantElapsed)
			}
		})
	}
}
