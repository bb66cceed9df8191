package consensus

import (
	"testing"
)

// newTestRaft builds a core for id among voters over st (a fresh storage
// when nil), pre-vote and check-quorum off unless opts turn them on.
func newTestRaft(t testing.TB, id NodeID, voters []NodeID, st *MemoryStorage, opts ...netOption) *Raft {
	t.Helper()
	if st == nil {
		st = NewMemoryStorage()
	}
	hs, _ := st.HardState()
	cfg := Config{ID: id, Voters: voters, ElectionTicks: 10, HeartbeatTicks: 1, Seed: 7, Log: st, HardState: hs}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := NewRaft(cfg)
	if err != nil {
		t.Fatalf("NewRaft: %v", err)
	}
	return r
}

// storageWith returns a storage holding entries of the given terms at
// indexes 1, 2, ... and the hard state term.
func storageWith(t testing.TB, term uint64, terms ...uint64) *MemoryStorage {
	t.Helper()
	st := NewMemoryStorage()
	ents := make([]Entry, len(terms))
	for i, tm := range terms {
		ents[i] = Entry{Index: uint64(i + 1), Term: tm}
	}
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveHardState(HardState{Term: term}); err != nil {
		t.Fatal(err)
	}
	return st
}

func withPreVote(c *Config)     { c.PreVote = true }
func withCheckQuorum(c *Config) { c.CheckQuorum = true }

// drain takes a Ready, persists it into st, advances, and returns all the
// messages (both kinds) in order.
func drain(t testing.TB, r *Raft) []Message {
	t.Helper()
	if !r.HasReady() {
		return nil
	}
	rd := r.Ready()
	st := r.cfg.Log.(*MemoryStorage)
	if rd.Snapshot != nil {
		st.ApplySnapshot(rd.Snapshot.Meta)
	}
	if err := st.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if rd.HardStateChanged {
		_ = st.SaveHardState(rd.HardState)
	}
	r.Advance(rd)
	return append(rd.Messages, rd.MessagesAfterPersist...)
}

func msgsOfType(ms []Message, typ MessageType) []Message {
	var out []Message
	for _, m := range ms {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func step(t testing.TB, r *Raft, m Message) {
	t.Helper()
	if m.To == None {
		m.To = r.id
	}
	if err := r.Step(m); err != nil {
		t.Fatalf("Step(%v from %d): %v", m.Type, m.From, err)
	}
}

// tickUntil ticks r until cond holds, at most n times.
func tickUntil(t testing.TB, r *Raft, n int, cond func() bool) {
	t.Helper()
	for range n {
		if cond() {
			return
		}
		r.Tick(0)
	}
	if !cond() {
		t.Fatalf("condition not reached after %d ticks", n)
	}
}

// makeLeader turns r into the leader of its cluster by granting it votes.
func makeLeader(t testing.TB, r *Raft) {
	t.Helper()
	tickUntil(t, r, 100, func() bool { return r.role != RoleFollower })
	if r.role == RolePreCandidate {
		for _, id := range r.voters {
			if id != r.id {
				step(t, r, Message{From: id, Type: MsgPreVoteResp, Term: r.term + 1})
			}
		}
	}
	for _, id := range r.voters {
		if id != r.id && r.role == RoleCandidate {
			step(t, r, Message{From: id, Type: MsgVoteResp, Term: r.term})
		}
	}
	if r.role != RoleLeader {
		t.Fatalf("role %v, want leader", r.role)
	}
}
