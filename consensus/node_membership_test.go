package consensus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// eventLog records a node's MembershipEvents.
type eventLog struct {
	mu     sync.Mutex
	events []MembershipEvent
}

func (l *eventLog) add(ev MembershipEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// waitFor waits until an event satisfies ok.
func (l *eventLog) waitFor(t *testing.T, what string, ok func(MembershipEvent) bool) MembershipEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, ev := range l.events {
			if ok(ev) {
				l.mu.Unlock()
				return ev
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no membership event %s within 5s", what)
	return MembershipEvent{}
}

// startMember starts node id of tc with a bootstrap membership and an
// OnMembership recorder.
func (tc *testCluster) startMember(t *testing.T, id NodeID, voters, learners []NodeID) *eventLog {
	t.Helper()
	events := &eventLog{}
	tc.storage[id] = NewMemoryStorage()
	tc.sms[id] = &listSM{}
	nd, err := StartNode(NodeConfig{
		Raft: Config{
			ID: id, Voters: voters, Learners: learners, ElectionTicks: 10, HeartbeatTicks: 1,
			PreVote: true, CheckQuorum: true, Seed: int64(id),
		},
		Log: tc.storage[id], State: tc.storage[id],
		Transport:    tc.net.transport(id),
		StateMachine: tc.sms[id],
		TickInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnMembership: events.add,
	})
	if err != nil {
		t.Fatalf("start node %d: %v", id, err)
	}
	tc.net.mu.Lock()
	tc.net.nodes[id] = nd
	tc.net.mu.Unlock()
	tc.nodes[id] = nd
	t.Cleanup(nd.Stop)
	return events
}

// TestNodeProposeConfChange: a learner is added, catches up, is promoted,
// and a voter is removed, each change answered once applied; the
// membership hook reports every change with the new member's address;
// followers refuse to propose, and a change that does not apply fails.
func TestNodeProposeConfChange(t *testing.T) {
	tc := newTestCluster(0)
	voters := []NodeID{1, 2, 3}
	events := map[NodeID]*eventLog{}
	for _, id := range voters {
		events[id] = tc.startMember(t, id, voters, nil)
	}
	// Every node announces its bootstrap membership at start.
	events[1].waitFor(t, "at start", func(ev MembershipEvent) bool { return slices.Equal(ev.ConfState.Voters, voters) })
	lead := tc.waitLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 20; i++ {
		if _, err := tc.nodes[lead].Propose(ctx, []byte{byte('a' + i)}); err != nil {
			t.Fatalf("propose: %v", err)
		}
	}
	follower := NodeID(1)
	if follower == lead {
		follower = 2
	}
	if _, err := tc.nodes[follower].ProposeConfChange(ctx, ConfChange{Type: ConfChangeAddLearner, NodeID: 4}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ProposeConfChange on follower %d: %v, want ErrNotLeader", follower, err)
	}
	if _, err := tc.nodes[lead].ProposeConfChange(ctx, ConfChange{Type: ConfChangeAddLearner, NodeID: follower}); !errors.Is(err, ErrConfChangeInvalid) {
		t.Fatalf("adding member %d again: %v, want ErrConfChangeInvalid", follower, err)
	}

	events[4] = tc.startMember(t, 4, voters, []NodeID{4})
	// Retried: the leader refuses a change until an entry of its term
	// committed, which the proposals above made sure of.
	index, err := tc.nodes[lead].ProposeConfChange(ctx, ConfChange{Type: ConfChangeAddLearner, NodeID: 4, Addr: "raft-4", Context: []byte("client-4")})
	if err != nil || index == 0 {
		t.Fatalf("add learner 4: index %d, %v", index, err)
	}
	ev := events[follower].waitFor(t, "adding learner 4 on a follower", func(ev MembershipEvent) bool {
		return slices.Equal(ev.ConfState.Learners, []NodeID{4})
	})
	if len(ev.Appended) != 1 || ev.Appended[0].Addr != "raft-4" || string(ev.Appended[0].Context) != "client-4" {
		t.Fatalf("follower's event carries %+v, want the AddLearner with its addresses", ev.Appended)
	}
	// The learner gets the log.
	want := tc.sms[lead].snapshotString()
	deadline := time.Now().Add(5 * time.Second)
	for tc.sms[4].snapshotString() != want {
		if time.Now().After(deadline) {
			t.Fatalf("learner has %q, leader %q", tc.sms[4].snapshotString(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var promoted uint64
	for promoted == 0 {
		promoted, err = tc.nodes[lead].ProposeConfChange(ctx, ConfChange{Type: ConfChangePromoteVoter, NodeID: 4})
		if err != nil && !errors.Is(err, ErrLearnerBehind) {
			t.Fatalf("promote 4: %v", err)
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if promoted <= index {
		t.Fatalf("promotion at index %d, not after the addition at %d", promoted, index)
	}
	events[4].waitFor(t, "4 a voter on 4", func(ev MembershipEvent) bool {
		return slices.Equal(ev.ConfState.Voters, []NodeID{1, 2, 3, 4}) && len(ev.ConfState.Learners) == 0
	})
	if _, err := tc.nodes[lead].ProposeConfChange(ctx, ConfChange{Type: ConfChangeRemoveNode, NodeID: follower}); err != nil {
		t.Fatalf("remove %d: %v", follower, err)
	}
	st, err := tc.nodes[lead].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(st.Voters, follower) || len(st.Voters) != 3 {
		t.Fatalf("voters after removing %d: %v", follower, st.Voters)
	}
}
