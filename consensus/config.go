package consensus

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
)

// SnapshotSource gives the leader read access to the snapshots the node has
// taken, so that a follower that needs compacted entries can be sent one in
// chunks. The node implements it over snapshot files; tests keep snapshots
// in memory (MemorySnapshots).
type SnapshotSource interface {
	// Latest returns the metadata of the newest complete snapshot, if any.
	Latest() (SnapshotMeta, bool)
	// ReadChunk returns up to maxBytes of the snapshot at index, starting at
	// byte offset; done reports that the chunk ends the snapshot. It fails
	// when the snapshot at index is no longer held (a newer one replaced it);
	// the leader then starts over with Latest.
	ReadChunk(index, offset uint64, maxBytes int) (data []byte, done bool, err error)
}

// Config is everything the core needs at start. Zero values of the limits
// take the defaults below; see withDefaults.
type Config struct {
	// ID is this node; it must not be None.
	ID NodeID
	// Voters and Learners are the bootstrap membership, used when no
	// snapshot with a membership exists (SnapshotSource.Latest). Learners
	// receive the log but neither vote nor count towards commit.
	Voters, Learners []NodeID

	// ElectionTicks is the election timeout: a follower that hears nothing
	// from a leader for a random number of ticks in [ElectionTicks,
	// 2*ElectionTicks) campaigns. It must be larger than HeartbeatTicks
	// (ten times is the usual choice) or followers campaign against a
	// healthy leader.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks.
	HeartbeatTicks int

	// PreVote makes a node ask "would you vote for me?" before raising its
	// term, so a partitioned node that rejoins cannot depose a healthy
	// leader (thesis §9.6). The node always sets it.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum within an election timeout, and makes followers that heard
	// from a leader within the timeout ignore vote requests (the leader
	// lease). The node always sets it.
	CheckQuorum bool

	// MaxMsgBytes bounds the entry Data per MsgApp (one entry always goes,
	// however big) and the bytes per InstallSnapshot chunk. Smaller values
	// lower latency variance; larger ones amortise per-message costs.
	// Default 1 MiB.
	MaxMsgBytes uint64
	// MaxInflightMsgs bounds the MsgApps in flight per follower in the
	// replicate state (pipelining). Together with MaxMsgBytes it bounds
	// what a slow follower can cost the leader's sending queue. Default 256.
	MaxInflightMsgs int
	// MaxInflightBytes bounds the entry bytes in flight per follower. By
	// Little's law it should be about the bandwidth-delay product of the
	// link: lower and the pipe runs dry, higher and only queues grow.
	// Default 32 MiB.
	MaxInflightBytes uint64
	// MaxUncommittedEntries bounds the leader's log suffix that is not yet
	// committed; proposals beyond it are dropped (ErrProposalDropped) so a
	// leader without a quorum cannot grow its log without bound.
	// Default 65536.
	MaxUncommittedEntries int
	// ReadLeaseTicks, when positive, lets a leader answer ReadIndex at once,
	// with no heartbeat round, for ReadLeaseTicks ticks from the start of
	// a heartbeat round that a quorum confirmed (lease reads, readindex.go).
	// It is safe only while tick rates differ by less than the margin
	// between it and ElectionTicks (the caller's clock drift bound): it must
	// be below ElectionTicks - 1 and needs CheckQuorum. Every member must
	// set it: it also makes a node ignore vote requests for an election
	// timeout after it starts (a restarted follower has forgotten the
	// leader it promised not to replace). 0: linearizable ReadIndex only.
	ReadLeaseTicks int
	// AsyncStorageWrites says the loop makes Ready.Entries durable after
	// Advance, on another goroutine, and reports each completed write with
	// StableTo: Advance then confirms everything but the entries. Without
	// it Advance confirms the entries too (the loop wrote them before it).
	// Either way a Ready hands out each entry once.
	AsyncStorageWrites bool
	// MaxPendingReads bounds the ReadIndex requests a leader holds (queued
	// or in the heartbeat round in flight). Default 16384.
	MaxPendingReads int
	// MaxApplyBytes bounds the entry bytes handed out per Ready in
	// CommittedEntries (at least one entry always goes). Default 64 MiB.
	MaxApplyBytes uint64
	// MaxSnapshotBytes bounds the size of a snapshot a follower receives
	// from InstallSnapshot chunks (the loop spools them: on disk in the
	// server). Default 4 GiB.
	MaxSnapshotBytes uint64

	// PromoteLagEntriesMax is how far behind the leader's last index a
	// learner's log may be for ConfChangePromoteVoter to be accepted: a
	// voter that joins far behind cannot help commit for a while, and in a
	// small cluster it may leave the quorum one failure away from stalling
	// (thesis §4.2.1). Default 1024.
	PromoteLagEntriesMax uint64

	// Seed seeds this node's private random source (election timeouts),
	// mixed with ID so that nodes given one seed still differ.
	Seed int64

	// Log is the durable log as of start. The core reads it and never
	// writes it: the node loop appends Ready.Entries itself.
	Log LogStorage
	// HardState is the state loaded at start.
	HardState HardState
	// Applied is the last index applied to the state machine (the snapshot
	// index right after a restore).
	Applied uint64
	// Snapshots may be nil: the leader then cannot bring up followers that
	// need compacted entries.
	Snapshots SnapshotSource
	// Bugs plants known bugs for simulator tests; nil in production.
	Bugs *BugHooks
	// Logger may be nil (no logs).
	Logger *slog.Logger
}

// Defaults for the limits of Config.
const (
	DefaultElectionTicks         = 10
	DefaultHeartbeatTicks        = 1
	DefaultMaxMsgBytes           = 1 << 20
	DefaultMaxInflightMsgs       = 256
	DefaultMaxInflightBytes      = 32 << 20
	DefaultMaxUncommittedEntries = 1 << 16
	DefaultMaxPendingReads       = 1 << 14
	DefaultMaxApplyBytes         = 64 << 20
	DefaultMaxSnapshotBytes      = 4 << 30
	DefaultPromoteLagEntriesMax  = 1024
)

// errConfig is wrapped by every configuration error.
var errConfig = errors.New("consensus: invalid config")

// withDefaults fills zero limits with defaults and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.ID == None {
		return c, fmt.Errorf("%w: ID must not be zero", errConfig)
	}
	if c.Log == nil {
		return c, fmt.Errorf("%w: Log is nil", errConfig)
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks < 0 || c.ElectionTicks <= c.HeartbeatTicks {
		return c, fmt.Errorf("%w: ElectionTicks (%d) must be larger than HeartbeatTicks (%d) > 0",
			errConfig, c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.ReadLeaseTicks < 0 || (c.ReadLeaseTicks > 0 && (!c.CheckQuorum || c.ReadLeaseTicks >= c.ElectionTicks-1)) {
		return c, fmt.Errorf("%w: ReadLeaseTicks (%d) needs CheckQuorum and must be below ElectionTicks - 1 (%d)",
			errConfig, c.ReadLeaseTicks, c.ElectionTicks-1)
	}
	if c.MaxMsgBytes == 0 {
		c.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if c.MaxMsgBytes > math.MaxInt32 {
		return c, fmt.Errorf("%w: MaxMsgBytes %d is over 2 GiB", errConfig, c.MaxMsgBytes)
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if c.MaxInflightMsgs < 0 {
		return c, fmt.Errorf("%w: MaxInflightMsgs %d is negative", errConfig, c.MaxInflightMsgs)
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.MaxUncommittedEntries == 0 {
		c.MaxUncommittedEntries = DefaultMaxUncommittedEntries
	}
	if c.MaxPendingReads == 0 {
		c.MaxPendingReads = DefaultMaxPendingReads
	}
	if c.MaxUncommittedEntries < 0 || c.MaxPendingReads < 0 {
		return c, fmt.Errorf("%w: MaxUncommittedEntries %d and MaxPendingReads %d must not be negative",
			errConfig, c.MaxUncommittedEntries, c.MaxPendingReads)
	}
	if c.MaxApplyBytes == 0 {
		c.MaxApplyBytes = DefaultMaxApplyBytes
	}
	if c.MaxSnapshotBytes == 0 {
		c.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if c.PromoteLagEntriesMax == 0 {
		c.PromoteLagEntriesMax = DefaultPromoteLagEntriesMax
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
