package sim

import (
	"fmt"
	"slices"

	"github.com/raftkv/raftkv/consensus"
)

// inboxCapacity bounds the inputs a node holds while it waits for its disk,
// as the real node's bus is bounded; beyond it inputs are dropped.
const inboxCapacity = 1024

// inputKind says what a deferred input is.
type inputKind uint8

const (
	inputMessage inputKind = iota
	inputPropose
	inputRead
	inputTransfer
	inputConfChange
)

// input is something that reached a node while it was busy (waiting for a
// blocking sync, or paused); the node takes it once free, in arrival order.
type input struct {
	kind inputKind
	msg  consensus.Message
	op   *clientOp
	to   consensus.NodeID // inputTransfer: the transferee
	// inputConfChange: the change and its request id.
	cc     consensus.ConfChange
	confID uint64
}

// simNode is one simulated machine: a Raft core over an in-memory log, a
// model of its disk, and its state machine.
//
// The disk is modelled in two layers. written is the MemoryStorage the core
// reads: entries land there as soon as the node takes a Ready, as they would
// land in the page cache. durable* is what has been fsynced: a Ready's
// entries and hard state reach it only when the sync scheduled for that Ready
// completes, and only then do MessagesAfterPersist go out, committed entries
// get applied and Advance is called. A crash throws away written, the sync
// in progress, the inbox and the state machine; a restart rebuilds all of it
// from durable*.
type simNode struct {
	id      consensus.NodeID
	up      bool
	raft    *consensus.Raft
	written *consensus.MemoryStorage

	// The durable disk: the latest snapshot (durableSnap.Index == 0: none),
	// the log after it (durableEntries[i] has index durableSnap.Index+1+i)
	// and the hard state. snapshots serves the snapshot to the core.
	durableSnap     consensus.SnapshotMeta
	durableSnapData []byte
	durableEntries  []consensus.Entry
	durableHard     consensus.HardState
	snapshots       *consensus.MemorySnapshots

	// The spool of a snapshot arriving from the leader (Ready.
	// SnapshotChunks): in the page cache, lost in a crash, as the server's
	// temporary file is removed when it restarts.
	spoolMeta consensus.SnapshotMeta
	spoolBody []byte

	// syncs are the Readys whose writes are in flight, completing in
	// order (syncs[0] first, each at its step). A blocking one (every one
	// without Options.AsyncStorageWrites, and a snapshot's) is always the
	// last: the node takes no input until it completes.
	syncs []pendingSync

	inbox        []input
	pendingTicks int

	// Tick times are in thousandths of a step (millisteps), so that a
	// period can drift by a few percent of a 5-step tick.
	tickPeriodMillisteps int64
	nextTickMillistep    int64
	clockMs              int64
	// pausedUntilStep: while the step is below it the node is paused
	// (SIGSTOP): like a sync in progress, inputs wait and ticks are
	// counted.
	pausedUntilStep int64

	sm          *registers
	role        consensus.Role
	term        uint64
	commit      uint64 // highest commit index seen in its hard state
	leader      consensus.NodeID
	restartStep int64 // when down: the step it comes back
	crashStep   int64 // when up and > 0: the step a scheduled crash hits
	incarnation int64

	// removing: a RemoveNode for this node was appended and may commit;
	// decommissioned: it did, and the node is down for good.
	removing, decommissioned bool

	// ops are the client operations waiting on this node.
	ops []*clientOp
}

// pendingSync is one Ready whose write is in flight.
type pendingSync struct {
	rd       consensus.Ready
	step     int64 // when it completes
	blocking bool
}

// persist makes the synced Ready's hard state and entries durable.
func (n *simNode) persist(rd *consensus.Ready) error {
	if rd.HardStateChanged {
		n.durableHard = rd.HardState
	}
	if len(rd.Entries) == 0 {
		return nil
	}
	first, base := rd.Entries[0].Index, n.durableSnap.Index
	if first <= base || first > base+uint64(len(n.durableEntries))+1 {
		return fmt.Errorf("n%d: Ready entries start at %d but the durable log holds %d..%d", n.id, first, base+1, base+uint64(len(n.durableEntries)))
	}
	n.durableEntries = append(n.durableEntries[:first-base-1], rd.Entries...)
	return nil
}

// durableLastIndex is the last index of the durable log (or snapshot).
func (n *simNode) durableLastIndex() uint64 {
	return n.durableSnap.Index + uint64(len(n.durableEntries))
}

// installSnapshot makes meta/data the node's durable snapshot, dropping the
// durable log it covers; keepLog keeps the entries after meta.Index (a
// snapshot the node took itself) rather than dropping the whole log (one
// received from the leader, which replaces the log).
func (n *simNode) installSnapshot(meta consensus.SnapshotMeta, data []byte, keepLog bool) {
	var rest []consensus.Entry
	if keepLog && meta.Index >= n.durableSnap.Index {
		if drop := meta.Index - n.durableSnap.Index; drop < uint64(len(n.durableEntries)) {
			rest = slices.Clone(n.durableEntries[drop:])
		}
	}
	n.durableSnap, n.durableSnapData, n.durableEntries = meta, data, rest
	n.snapshots.Save(meta, data)
}

// restore builds a fresh core over the durable state, as a process restart
// would.
func (n *simNode) restore(s *Simulator) error {
	n.written = consensus.NewMemoryStorage()
	n.snapshots = &consensus.MemorySnapshots{}
	n.sm = newRegisters(s.opts.Workload.Keys)
	if n.durableSnap.Index > 0 {
		n.written.ApplySnapshot(n.durableSnap)
		n.snapshots.Save(n.durableSnap, n.durableSnapData)
		if err := n.sm.restore(n.durableSnapData, n.durableSnap.Index); err != nil {
			return fmt.Errorf("n%d restart: %w", n.id, err)
		}
	}
	if len(n.durableEntries) > 0 {
		if err := n.written.Append(slices.Clone(n.durableEntries)); err != nil {
			return fmt.Errorf("n%d restart: append %d durable entries: %w", n.id, len(n.durableEntries), err)
		}
	}
	if err := n.written.SaveHardState(n.durableHard); err != nil {
		return fmt.Errorf("n%d restart: save hard state: %w", n.id, err)
	}
	voters := make([]consensus.NodeID, s.opts.Nodes)
	for i := range voters {
		voters[i] = consensus.NodeID(i + 1)
	}
	o := &s.opts
	r, err := consensus.NewRaft(consensus.Config{
		ID:              n.id,
		Voters:          voters,
		ElectionTicks:   o.ElectionTicks,
		HeartbeatTicks:  o.HeartbeatTicks,
		PreVote:         o.PreVote,
		CheckQuorum:     o.CheckQuorum,
		MaxMsgBytes:     o.MaxMsgBytes,
		MaxInflightMsgs: o.MaxInflight,
		Seed:            int64(o.Seed*1_000_003) + int64(n.id)*7919 + n.incarnation*104_729,
		Log:             n.written,
		HardState:       n.durableHard,
		Applied:         n.durableSnap.Index,
		Snapshots:       n.snapshots,
		ReadLeaseTicks:  o.ReadLeaseTicks,
		Bugs:            o.Bugs,

		AsyncStorageWrites: o.AsyncStorageWrites,
	})
	if err != nil {
		return fmt.Errorf("n%d restart: %w", n.id, err)
	}
	n.raft = r
	n.up = true
	n.syncs = nil
	n.inbox = n.inbox[:0]
	n.pendingTicks = 0
	n.pausedUntilStep = 0
	n.role = consensus.RoleFollower
	n.term = n.durableHard.Term
	n.commit = n.durableHard.Commit
	n.leader = consensus.None
	n.incarnation++
	return nil
}

// busy reports whether the node takes no input at step: a blocking sync is
// in progress or the node is paused. Inputs then wait in the inbox and
// ticks are counted.
func (n *simNode) busy(step int64) bool {
	return n.blockingSync() || step < n.pausedUntilStep
}

// blockingSync reports whether the node waits for a blocking sync.
func (n *simNode) blockingSync() bool {
	return len(n.syncs) > 0 && n.syncs[len(n.syncs)-1].blocking
}

// tickPeriodSteps is the tick period rounded up to whole steps.
func (n *simNode) tickPeriodSteps() int64 {
	return (n.tickPeriodMillisteps + 999) / 1000
}

// crash stops the node: everything not durable is gone.
func (n *simNode) crash() {
	n.up = false
	n.crashStep = 0
	n.raft = nil
	n.written = nil
	n.spoolMeta, n.spoolBody = consensus.SnapshotMeta{}, nil
	n.syncs = nil
	n.inbox = n.inbox[:0]
	n.pendingTicks = 0
	n.pausedUntilStep = 0
	n.sm = nil
	n.role = consensus.RoleFollower
	n.leader = consensus.None
}

// defer queues an input for after the current sync; it reports false when
// the inbox is full and the input was dropped.
func (n *simNode) deferInput(in input) bool {
	if len(n.inbox) >= inboxCapacity {
		return false
	}
	n.inbox = append(n.inbox, in)
	return true
}
