package consensus

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// testNode is one member of the in-package test network: a core over a
// MemoryStorage, driven through the Ready/Advance loop.
type testNode struct {
	r       *Raft
	storage *MemoryStorage
	snaps   *MemorySnapshots
	spool   memorySpool
	applied []Entry
	acks    []ProposalAck
	reads   []ReadState
	readErr []ReadAck
	soft    []SoftState
}

// network delivers messages between cores. It is deterministic: messages
// are delivered in the order they were sent; drop filters cut links.
type network struct {
	t       testing.TB
	nodes   map[NodeID]*testNode
	ids     []NodeID
	queue   []Message
	spare   []Message          // the other half of queue's double buffer
	cut     map[[2]NodeID]bool // directed links that drop
	nowMs   int64
	stepErr []error
	// discardApplied: benchmarks count applied entries instead of keeping
	// them.
	discardApplied bool
	appliedCount   int
	// trace, when set, receives one line per delivered message and, unless
	// quietOutcomes, one per client outcome.
	trace         io.Writer
	quietOutcomes bool
}

type netOption func(*Config)

func newNetwork(t testing.TB, n int, opts ...netOption) *network {
	t.Helper()
	nw := &network{t: t, nodes: map[NodeID]*testNode{}, cut: map[[2]NodeID]bool{}}
	var voters []NodeID
	for i := 1; i <= n; i++ {
		voters = append(voters, NodeID(i))
	}
	for _, id := range voters {
		st := NewMemoryStorage()
		snaps := &MemorySnapshots{}
		cfg := Config{ID: id, Voters: voters, ElectionTicks: 10, HeartbeatTicks: 1,
			PreVote: true, CheckQuorum: true, Seed: 1, Log: st, Snapshots: snaps}
		for _, o := range opts {
			o(&cfg)
		}
		r, err := NewRaft(cfg)
		if err != nil {
			t.Fatalf("NewRaft(%d): %v", id, err)
		}
		nw.nodes[id] = &testNode{r: r, storage: st, snaps: snaps}
		nw.ids = append(nw.ids, id)
	}
	return nw
}

// process runs one Ready/Advance cycle on node id, queueing its messages.
func (nw *network) process(id NodeID) bool {
	n := nw.nodes[id]
	if !n.r.HasReady() {
		return false
	}
	rd := n.r.Ready()
	nw.queue = append(nw.queue, rd.Messages...)
	for _, c := range rd.SnapshotChunks {
		if err := n.spool.WriteSnapshotChunk(c); err != nil {
			nw.t.Fatalf("node %d: %v", id, err)
		}
	}
	if rd.Snapshot != nil {
		body, err := n.spool.CommitSnapshot(rd.Snapshot.Meta)
		if err != nil {
			nw.t.Fatalf("node %d: %v", id, err)
		}
		data, _ := io.ReadAll(body)
		n.storage.ApplySnapshot(rd.Snapshot.Meta)
		n.applied = append(n.applied, Entry{Index: rd.Snapshot.Meta.Index, Term: rd.Snapshot.Meta.Term, Data: data})
	}
	if rd.HardStateChanged {
		if err := n.storage.SaveHardState(rd.HardState); err != nil {
			nw.t.Fatalf("node %d: save hard state: %v", id, err)
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		nw.t.Fatalf("node %d: append: %v", id, err)
	}
	nw.queue = append(nw.queue, rd.MessagesAfterPersist...)
	if nw.discardApplied {
		nw.appliedCount += len(rd.CommittedEntries)
	} else {
		n.applied = append(n.applied, rd.CommittedEntries...)
	}
	if nw.trace != nil && !nw.quietOutcomes {
		for _, a := range rd.ProposalAcks {
			fmt.Fprintf(nw.trace, "%d: ack %d at %d/%d %v\n", id, a.RequestID, a.Index, a.Term, a.Err)
		}
		for _, rs := range rd.ReadStates {
			fmt.Fprintf(nw.trace, "%d: read %d at %d\n", id, rs.RequestID, rs.Index)
		}
		for _, ra := range rd.ReadAcks {
			fmt.Fprintf(nw.trace, "%d: read %d failed: %v\n", id, ra.RequestID, ra.Err)
		}
	}
	n.acks = append(n.acks, rd.ProposalAcks...)
	n.reads = append(n.reads, rd.ReadStates...)
	n.readErr = append(n.readErr, rd.ReadAcks...)
	if rd.SoftState != nil {
		n.soft = append(n.soft, *rd.SoftState)
	}
	n.r.Advance(rd)
	return true
}

// stabilize runs every node's loop and delivers every message until
// nothing moves. It fails the test if that does not happen in bounded work.
func (nw *network) stabilize() {
	nw.t.Helper()
	for range 100000 {
		moved := false
		for _, id := range nw.ids {
			if nw.process(id) {
				moved = true
			}
		}
		if len(nw.queue) > 0 {
			moved = true
			q := nw.queue
			nw.queue = nw.spare[:0]
			for _, m := range q {
				nw.deliver(m)
			}
			clear(q)
			nw.spare = q
		}
		if !moved {
			return
		}
	}
	nw.t.Fatalf("network did not stabilize")
}

func (nw *network) deliver(m Message) {
	to := nw.nodes[m.To]
	dropped := to == nil || nw.cut[[2]NodeID{m.From, m.To}]
	if nw.trace != nil {
		line := formatMessage(m)
		if dropped {
			line += " (dropped)"
		}
		io.WriteString(nw.trace, line+"\n")
	}
	if dropped {
		return
	}
	if err := to.r.Step(m); err != nil {
		nw.stepErr = append(nw.stepErr, err)
	}
}

// isolate cuts every link to and from id; heal restores all links.
func (nw *network) isolate(id NodeID) {
	for _, other := range nw.ids {
		if other != id {
			nw.cut[[2]NodeID{id, other}] = true
			nw.cut[[2]NodeID{other, id}] = true
		}
	}
}

func (nw *network) heal() { clear(nw.cut) }

// tick advances every node's clock by one tick (10 ms of wall time).
func (nw *network) tick(ids ...NodeID) {
	nw.nowMs += 10
	if len(ids) == 0 {
		ids = nw.ids
	}
	for _, id := range ids {
		nw.nodes[id].r.Tick(nw.nowMs)
	}
}

// electLeader ticks until some node leads, then stabilizes.
func (nw *network) electLeader() NodeID {
	nw.t.Helper()
	for range 200 {
		nw.tick()
		nw.stabilize()
		if l := nw.leader(); l != None {
			return l
		}
	}
	nw.t.Fatalf("no leader elected")
	return None
}

// campaign makes id campaign at once (as if its election timer fired).
func (nw *network) campaign(id NodeID) {
	r := nw.nodes[id].r
	for r.role != RoleLeader && r.role != RolePreCandidate && r.role != RoleCandidate {
		r.Tick(nw.nowMs)
	}
	nw.stabilize()
}

func (nw *network) leader() NodeID {
	var lead NodeID
	for _, id := range nw.ids {
		if nw.nodes[id].r.role == RoleLeader {
			if lead != None && nw.nodes[lead].r.term == nw.nodes[id].r.term {
				nw.t.Fatalf("two leaders in term %d: %d and %d", nw.nodes[id].r.term, lead, id)
			}
			if lead == None || nw.nodes[id].r.term > nw.nodes[lead].r.term {
				lead = id
			}
		}
	}
	return lead
}

// checkLogsAgree fails unless every node applied the same entries in the
// same order (a prefix of the longest).
func (nw *network) checkLogsAgree() {
	nw.t.Helper()
	var longest []Entry
	for _, id := range nw.ids {
		if a := nw.nodes[id].applied; len(a) > len(longest) {
			longest = a
		}
	}
	for _, id := range nw.ids {
		a := nw.nodes[id].applied
		for i := range a {
			if a[i].Index != longest[i].Index || a[i].Term != longest[i].Term || !bytes.Equal(a[i].Data, longest[i].Data) {
				nw.t.Fatalf("node %d applied %s at position %d, others %s", id, entryString(a[i]), i, entryString(longest[i]))
			}
		}
	}
}

func entryString(e Entry) string { return fmt.Sprintf("%d/%d %q", e.Index, e.Term, e.Data) }

// appliedData returns the Data of the normal entries node id applied.
func (nw *network) appliedData(id NodeID) []string {
	var out []string
	for _, e := range nw.nodes[id].applied {
		if e.Type == EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func TestNetworkElectsAndReplicates(t *testing.T) {
	nw := newNetwork(t, 3)
	lead := nw.electLeader()
	nw.nodes[lead].r.Propose(7, []byte("x"))
	nw.stabilize()
	for _, id := range nw.ids {
		if got := nw.appliedData(id); !slices.Equal(got, []string{"x"}) {
			t.Errorf("node %d applied %q, want [x]", id, got)
		}
	}
	nw.checkLogsAgree()
	if len(nw.stepErr) > 0 {
		t.Errorf("step errors: %v", nw.stepErr)
	}
}

// formatMessage prints the fields of m that are set, compactly.
func formatMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %v term=%d", m.From, m.To, m.Type, m.Term)
	if m.Index != 0 || m.LogTerm != 0 {
		fmt.Fprintf(&b, " index=%d logterm=%d", m.Index, m.LogTerm)
	}
	if m.Commit != 0 {
		fmt.Fprintf(&b, " commit=%d", m.Commit)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" entries=[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%d/%d", e.Index, e.Term)
			if len(e.Data) > 0 {
				fmt.Fprintf(&b, ":%s", e.Data)
			}
		}
		b.WriteByte(']')
	}
	if m.Reject {
		fmt.Fprintf(&b, " reject hint=%d", m.RejectHint)
	}
	if m.Context != 0 {
		fmt.Fprintf(&b, " ctx=%d", m.Context)
	}
	if m.Type == MsgSnap || m.Type == MsgSnapResp {
		fmt.Fprintf(&b, " snap=%d/%d offset=%d bytes=%d done=%v", m.Snapshot.Index, m.Snapshot.Term, m.SnapOffset, len(m.Data), m.SnapDone)
	}
	return b.String()
}
