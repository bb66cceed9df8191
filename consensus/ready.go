package consensus

// This file fixes the contract between the core (Raft), the node loop, and
// the simulator. The core's implementation lives in raft.go and friends.

// Role is a node's part in the current term.
type Role uint8

const (
	RoleFollower Role = iota
	RolePreCandidate
	RoleCandidate
	RoleLeader
)

func (r Role) String() string {
	switch r {
	case RoleFollower:
		return "follower"
	case RolePreCandidate:
		return "pre-candidate"
	case RoleCandidate:
		return "candidate"
	case RoleLeader:
		return "leader"
	}
	return "unknown"
}

// SoftState is volatile state worth announcing: who leads, in which term, and
// this node's role. It is not persisted.
type SoftState struct {
	Role   Role
	Term   uint64
	Leader NodeID
}

// ReadState says that a read request may be served once the local state
// machine has applied Index.
type ReadState struct {
	RequestID uint64
	Index     uint64
}

// ProposalAck says where a proposal went. When Err is nil the proposal sits at
// Index with Term: it succeeded when the entry committed at Index has Term,
// and failed definitely when an entry of another term commits there. When Err
// is non-nil (ErrProposalDropped, ErrNoLeader) it was never appended.
type ProposalAck struct {
	RequestID uint64
	Index     uint64
	Term      uint64
	Err       error
}

// ReadAck reports a read request that cannot be served (Err: ErrNoLeader,
// ErrProposalDropped when leadership was lost before confirmation).
type ReadAck struct {
	RequestID uint64
	Err       error
}

// Ready is the core's batch of effects. The node loop must, in order:
//  1. send Messages at once (they do not depend on local durability: the
//     leader's AppendEntries may go out while it writes its own log,
//     thesis §10.2.1);
//  2. if Snapshot is non-nil, restore the state machine and the log from it
//     (with no write of earlier Entries still in flight);
//  3. durably write HardState (if HardStateChanged) and Entries (one batch,
//     one fsync; the first entry may overwrite a suffix). Each entry is
//     handed out once: Entries holds only what no earlier Ready did;
//  4. only once that write (and every earlier one) is durable, send
//     MessagesAfterPersist (votes, append acks);
//  5. hand CommittedEntries to the applier in order, and settle ReadStates,
//     ProposalAcks and ReadAcks with the waiting clients (this may come
//     before 3: committed entries are held by a quorum already, so applying
//     them need not wait for this node's fsync);
//  6. call Advance(rd). The loop must not keep rd.ReadStates nor
//     rd.ProposalAcks beyond it: the core reuses those arrays.
//
// Synchronously (the default) 3 and 4 come before 6, and Advance confirms
// the entries durable. With Config.AsyncStorageWrites the loop calls
// Advance at once and does 3 and 4 on another goroutine, write after write
// in the order of the Readys (a later Ready's Entries may replace a suffix
// of an earlier one's still in flight), and reports each completed write
// with StableTo(last index, its term); the core goes on taking events
// meanwhile, and reads the entries in flight from memory.
type Ready struct {
	SoftState        *SoftState // nil when unchanged since the last Ready
	HardState        HardState
	HardStateChanged bool
	Entries          []Entry
	Snapshot         *IncomingSnapshot
	// SnapshotChunks are pieces of a snapshot arriving from the leader, in
	// order, for the loop to spool (see SnapshotChunk); handed out once.
	SnapshotChunks       []SnapshotChunk
	Messages             []Message
	MessagesAfterPersist []Message
	CommittedEntries     []Entry
	ReadStates           []ReadState
	ProposalAcks         []ProposalAck
	ReadAcks             []ReadAck
}

// IncomingSnapshot is a complete snapshot received from the leader, to be
// installed: the state machine restored from its body and the log reset to
// start after Meta.Index. The body is what the loop spooled from the
// SnapshotChunks for Meta; the core does not hold it.
type IncomingSnapshot struct {
	Meta SnapshotMeta
}

// SnapshotChunk is a piece of the body of the snapshot Meta, received from
// the leader. Offset 0 starts a new spool, discarding any partial one;
// otherwise Offset is exactly what the spool holds (the core checked it).
// Done marks the last piece: the spool is complete, and it is installed if
// the same Ready carries Snapshot for Meta, or else discarded (the log
// already had what it covers).
type SnapshotChunk struct {
	Meta   SnapshotMeta
	Offset uint64
	Data   []byte
	Done   bool
}

// IsEmpty reports whether rd carries no effect at all.
func (rd *Ready) IsEmpty() bool {
	return rd.SoftState == nil && !rd.HardStateChanged && len(rd.Entries) == 0 &&
		rd.Snapshot == nil && len(rd.SnapshotChunks) == 0 && len(rd.Messages) == 0 && len(rd.MessagesAfterPersist) == 0 &&
		len(rd.CommittedEntries) == 0 && len(rd.ReadStates) == 0 &&
		len(rd.ProposalAcks) == 0 && len(rd.ReadAcks) == 0
}

// BugHooks plant known bugs in the core, for tests that prove the simulator
// catches them. Production code leaves Config.Bugs nil; each field turns one
// rule of Raft off.
type BugHooks struct {
	// CommitOldTermByCount commits entries of earlier terms by counting
	// replicas (the Figure 8 bug, Raft §5.4.2).
	CommitOldTermByCount bool
	// ForgetVotePersist grants votes without putting the vote in HardState.
	ForgetVotePersist bool
	// SkipLogMatching accepts AppendEntries without checking prevLogIndex/
	// prevLogTerm.
	SkipLogMatching bool
	// ReadWithoutQuorum serves ReadIndex at once on the leader, without a
	// heartbeat round confirming leadership.
	ReadWithoutQuorum bool
	// LearnerCountsForCommit counts learners' acknowledgements towards the
	// voters' commit majority (learners must count for nothing, §4.2.1).
	LearnerCountsForCommit bool
	// LeaseOutlivesElection makes a read lease last ElectionTicks longer
	// than Config.ReadLeaseTicks: past the time the followers that
	// confirmed it stop ignoring vote requests, so a deposed leader keeps
	// answering reads after another was elected.
	LeaseOutlivesElection bool
	// LeaderCountsUnsynced makes a leader count itself towards the commit
	// quorum for entries as soon as it appends them, before its own write
	// of them is durable (StableTo): with three nodes one follower's ack
	// then commits an entry that a crash of the leader leaves on one disk.
	LeaderCountsUnsynced bool
}
