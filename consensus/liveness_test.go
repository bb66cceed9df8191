package consensus

// Liveness fixes found outside the paper: lost acknowledged entries, a
// single voter.

import (
	"fmt"
	"testing"
)

// TestFollowerThatLostAcknowledgedEntriesIsRepaired: a follower restarts
// with the tail of its log gone (a torn write the disk had claimed durable).
// With no new writes to provoke a rejected append, the leader learns of the
// loss from the heartbeat answer and sends the entries again, so the
// follower catches up to the commit index and reads on it can be served.
func TestFollowerThatLostAcknowledgedEntriesIsRepaired(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	for i := range 5 {
		nw.nodes[lead].r.Propose(uint64(i+1), []byte(fmt.Sprintf("x%d", i)))
	}
	nw.stabilize()
	var victim NodeID
	for _, id := range nw.ids {
		if id != lead {
			victim = id
			break
		}
	}
	old := nw.nodes[victim]
	last := old.storage.LastIndex()
	// Restart the victim with its last two entries lost.
	if err := old.storage.TruncateSuffix(last - 1); err != nil {
		t.Fatal(err)
	}
	hs, _ := old.storage.HardState()
	hs.Commit = min(hs.Commit, old.storage.LastIndex())
	r, err := NewRaft(Config{ID: victim, Voters: nw.ids, ElectionTicks: 10, HeartbeatTicks: 1,
		PreVote: true, CheckQuorum: true, Seed: 2, Log: old.storage, HardState: hs, Snapshots: old.snaps})
	if err != nil {
		t.Fatal(err)
	}
	nw.nodes[victim] = &testNode{r: r, storage: old.storage, snaps: old.snaps}
	for range 5 {
		nw.tick()
		nw.stabilize()
	}
	if got := old.storage.LastIndex(); got != last {
		t.Fatalf("victim's last index %d after heartbeats, want %d: the lost entries were never resent", got, last)
	}
	if got, want := nw.nodes[victim].r.log.committed, nw.nodes[lead].r.log.committed; got != want {
		t.Fatalf("victim's commit %d, leader's %d", got, want)
	}
}

// TestSingleVoterLeadsOnFirstTick: a one-node cluster has no rival to wait
// out, so it campaigns (and wins) at its first tick.
func TestSingleVoterLeadsOnFirstTick(t *testing.T) {
	nw := newNetwork(t, 1)
	nw.tick()
	nw.stabilize()
	if nw.leader() != 1 {
		t.Fatalf("a single voter did not lead after one tick (role %v)", nw.nodes[1].r.role)
	}
}
