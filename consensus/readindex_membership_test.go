package consensus

import "testing"

// TestReadRoundCompletesWhenTheQuorumShrinks: a read round in flight when
// a member is removed must be checked against the new membership. The
// removed member's answer never comes (the leader drops its progress and
// stops sending to it), and when the leader is the last voter no answer
// comes at all: the round would wait forever, and every later read queue
// behind it (found by e2e TestRemoveLeaderAndFollower: "TRYAGAIN Read timed
// out waiting for a linearizable point" on the last voter).
func TestReadRoundCompletesWhenTheQuorumShrinks(t *testing.T) {
	nw := newNetwork(t, 2)
	l := nw.electLeader()
	var f NodeID
	for _, id := range nw.ids {
		if id != l {
			f = id
		}
	}
	leader := nw.nodes[l].r
	nw.isolate(f) // the round's heartbeat to f goes unanswered
	const readID = 4242
	leader.ReadIndex(readID)
	nw.stabilize()
	if got := len(nw.nodes[l].reads); got != 0 {
		t.Fatalf("read answered (%d) with one of two voters", got)
	}
	ack := nw.confChange(l, ConfChange{Type: ConfChangeRemoveNode, NodeID: f})
	if ack.Err != nil {
		t.Fatal(ack.Err)
	}
	nw.stabilize()
	mustConf(t, leader, []NodeID{l}, nil)
	reads := nw.nodes[l].reads
	if len(reads) != 1 || reads[0].RequestID != readID {
		t.Fatalf("reads answered after the removal: %+v, want request %d", reads, readID)
	}
	// Later reads are not stuck behind it.
	leader.ReadIndex(readID + 1)
	nw.stabilize()
	if reads := nw.nodes[l].reads; len(reads) != 2 || reads[1].RequestID != readID+1 {
		t.Fatalf("reads answered: %+v, want requests %d and %d", reads, readID, readID+1)
	}
}
