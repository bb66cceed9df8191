package consensus

import (
	"errors"
	"fmt"
	"io"
)

// NodeID names a member of the cluster. Zero means "nobody" (no vote, no
// known leader).
type NodeID uint64

// None is the zero NodeID: no vote cast, no leader known.
const None NodeID = 0

// EntryType says how an entry's Data is to be read.
type EntryType uint8

const (
	// EntryNormal carries a client command batch for the state machine.
	EntryNormal EntryType = iota
	// EntryNoop is the empty entry a new leader appends at the start of its
	// term (thesis §6.4) so that it can commit entries of earlier terms.
	EntryNoop
	// EntryConfChange carries an encoded ConfChange (membership).
	EntryConfChange
)

// Entry is one record of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	// TimeMs is the leader's wall clock (Unix milliseconds) when it appended
	// the entry, never smaller than the previous entry's stamp. The state
	// machine uses it as "now" so that every replica makes the same expiry
	// decision. The core learns wall time only through Tick.
	TimeMs int64
	Data   []byte
}

// HardState is what must survive a restart: the current term, the vote cast
// in it, and the highest index known to be committed.
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// IsEmpty reports whether hs is the zero HardState.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// ConfState is the membership of the cluster: voters and learners.
type ConfState struct {
	Voters   []NodeID
	Learners []NodeID
}

// SnapshotMeta describes a snapshot: the last log index and term it covers and
// the membership at that index.
type SnapshotMeta struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
	// TimeMs is the stamp (Entry.TimeMs) of the entry at Index, so that a
	// leader whose log was compacted up to the snapshot never stamps a new
	// entry earlier than the last one (expiry must not run backwards).
	TimeMs int64
}

// Result is what the state machine returns for one applied entry. The
// consensus layer never looks inside it; it hands it to the waiting client.
type Result any

// LogStorage is the durable log. Append is durable when it returns (one
// batch, one fsync). Indexes are contiguous from FirstIndex to LastIndex;
// FirstIndex is one past the last snapshot's index (1 when no snapshot was
// taken), and LastIndex is FirstIndex-1 when the log is empty.
//
// Append must accept a batch whose first index is at most LastIndex+1: the
// entries from that index on are replaced (a conflicting suffix from a new
// leader). Implementations do this with TruncateSuffix then append.
type LogStorage interface {
	Append(entries []Entry) error
	Entry(index uint64) (Entry, error)
	// Entries returns entries [lo, hi), at least one if lo < hi, and then no
	// more than maxBytes of Data in total (maxBytes <= 0: no limit).
	Entries(lo, hi uint64, maxBytes int) ([]Entry, error)
	FirstIndex() uint64
	LastIndex() uint64
	LastTerm() uint64
	// Term returns the term of the entry at index; for FirstIndex-1 it
	// returns the snapshot's term.
	Term(index uint64) (uint64, error)
	// TruncateSuffix removes entries from index `from` on.
	TruncateSuffix(from uint64) error
	// TruncatePrefix removes entries up to and including upTo, remembering
	// upTo's term for Term(FirstIndex-1). If the log does not hold upTo with
	// upToTerm (a snapshot from the leader that our log disagrees with, or
	// one past our last index), the whole log is discarded and the log
	// starts empty after upTo. The change is durable when it returns.
	TruncatePrefix(upTo uint64, upToTerm uint64) error
}

// StateStorage keeps the HardState. SaveHardState is atomic and durable.
type StateStorage interface {
	SaveHardState(HardState) error
	HardState() (HardState, error)
}

// Transport carries messages to peers. Send never blocks; it may drop
// messages (Raft retries). Inbound messages reach the node as NetworkEvents.
type Transport interface {
	Send(to NodeID, msgs []Message)
}

// SnapshotReader is a point-in-time view of the state machine, written out
// while writes go on.
type SnapshotReader interface {
	WriteTo(w io.Writer) (int64, error)
	Close() error
}

// StateMachine is the replicated application. Apply is deterministic: the
// same entries give the same results on every node. It is called from one
// goroutine (the applier); Snapshot may be called from that goroutine too
// and must return quickly (a copy-on-write view).
type StateMachine interface {
	Apply(entries []Entry) []Result
	Snapshot() (SnapshotReader, error)
	Restore(r io.Reader) error
}

// Errors a client of the node can branch on.
var (
	// ErrProposalDropped is a definite failure: the proposal was not
	// appended, or another entry committed at its index.
	ErrProposalDropped = errors.New("consensus: proposal dropped")
	// ErrLeaderChanging is an ErrProposalDropped (nothing was appended or
	// read) for a reason that passes within an election timeout: the
	// leader is handing leadership over, or lost it while the read was
	// pending. A node retries such requests once it knows the next leader,
	// instead of failing them to the client.
	ErrLeaderChanging = fmt.Errorf("%w: leadership changing", ErrProposalDropped)
	// ErrNoLeader: no leader is known, so the request cannot be served now.
	ErrNoLeader = errors.New("consensus: no leader")
	// ErrTimeout: the outcome is unknown (the write may still commit).
	ErrTimeout = errors.New("consensus: outcome unknown (timeout)")
	// ErrRemoved is a definite failure (nothing was appended or read):
	// this node was told by the leader that it is no member of the
	// committed configuration. It fails every request at once and never
	// campaigns until a later conf entry adds it again.
	ErrRemoved = errors.New("consensus: this node was removed from the cluster")
	// ErrStopped: the node is shutting down.
	ErrStopped = errors.New("consensus: node stopped")
	// ErrCompacted: the requested index is before the log's first index.
	ErrCompacted = errors.New("consensus: index compacted")
	// ErrUnavailable: the requested index is past the log's last index.
	ErrUnavailable = errors.New("consensus: index unavailable")
)

// MembershipEvent tells the node's owner that the membership in force on
// this node changed: a conf change entry was appended to its log (by the
// leader, or received from it), a suffix holding one was truncated (the
// membership reverts), or a snapshot from the leader replaced the history.
// The owner learns from it whom to connect to: a new member must receive
// entries as soon as its AddLearner is in the leader's log, before it
// commits.
type MembershipEvent struct {
	// ConfState is the membership now in force (the latest in the log,
	// committed or not). The slices are the receiver's.
	ConfState ConfState
	// Appended holds the conf changes among the entries this node has just
	// appended, in log order: they carry the new members' addresses.
	Appended []ConfChange
	// SnapshotIndex is the index of the snapshot from the leader that set
	// the membership (0: none). The addresses of the members it names come
	// with the snapshot's data, which the state machine restores.
	SnapshotIndex uint64
}
