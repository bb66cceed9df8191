package resp

import (
	"context"
	"errors"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
)

// Backend is what the RESP server needs from the replicated state machine.
// The server never touches Raft state: it hands over whole pipelines and
// waits. Implementations must be safe for concurrent use by every
// connection, must not keep cmds or their argument slices after returning
// (they alias the connection's read buffer), and must return exactly one
// reply per command. Returned replies may alias the backend's memory until
// the next call from the same connection.
type Backend interface {
	// Write proposes cmds (all writes, or a mix in pipeline order) as ONE
	// log entry and returns one reply per command once it is applied.
	Write(ctx context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error)
	// Read runs read-only cmds at a linearizable point (ReadIndex) and
	// returns one reply per command.
	Read(ctx context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error)
	// Status returns what INFO's "# Raft", "# Replication" and
	// "# Keyspace" sections show. It must not block on the consensus loop
	// for long: INFO calls it on the connection's goroutine.
	Status() ClusterStatus
}

// ReaderInto is an optional Backend extension: Read with a reply slice that
// the connection owns and reuses (len(replies) >= len(cmds)), so that a
// read run allocates no reply slice. The server uses it for every read run
// when the Backend has it; its contract is otherwise Read's.
type ReaderInto interface {
	ReadInto(ctx context.Context, cmds []kvsm.Command, replies []kvsm.Reply) error
}

// ClusterStatus is a node's view of the cluster for INFO and HELLO.
type ClusterStatus struct {
	NodeID uint64
	// Role is "leader", "follower", "candidate", "pre-candidate",
	// "learner" or RoleRemoved; INFO shows it as-is in # Raft and as
	// master/slave in # Replication.
	Role     string
	Term     uint64
	LeaderID uint64 // 0 = no leader known
	// LeaderClientAddr is the leader's RESP address (host:port), "" when
	// unknown; followers show it as master_host/master_port.
	LeaderClientAddr string
	CommitIndex      uint64
	AppliedIndex     uint64
	Peers            []PeerStatus // every other member
	Keyspace         []DBStatus   // non-empty databases only
	// Keyspace statistics of the local state machine (kvsm.Stats), for
	// INFO stats: keys removed by expiry, and read hits and misses.
	ExpiredKeys    uint64
	EvictedKeys    uint64
	KeyspaceHits   uint64
	KeyspaceMisses uint64
	// UsedMemoryBytes is the keyspace's accounted memory, the same on
	// every replica at the same applied index (kvsm.Store.UsedMemory):
	// INFO's used_memory, which maxmemory bounds. DatasetBytes is its
	// payload part (keys, values, fields).
	UsedMemoryBytes int64
	DatasetBytes    int64
	// LastSaveUnix is when this node last made a snapshot durable (Unix
	// seconds; 0: none since start), for LASTSAVE and INFO persistence.
	LastSaveUnix int64
	// SaveInProgress: a snapshot is being written now.
	SaveInProgress bool
}

// MemoryGuard is implemented by a Backend that enforces maxmemory. The
// server asks it before every command flagged denyoom in Redis's command
// table (and every command queued in MULTI, as Redis), and refuses the
// command with OOMErrorText when it says so.
type MemoryGuard interface {
	// Admission is the fast check, called on every denyoom command: it
	// must be cheap (an atomic compare when under the limit).
	Admission() kvsm.Admission
	// WaitForRoom is called when Admission said AdmitAfterEviction: it
	// waits (bounded) for eviction to bring memory under the limit and
	// reports whether the command may run.
	WaitForRoom(ctx context.Context) bool
}

// ConfigObserver is implemented by a Backend that wants the live
// directives: ConfigChanged is called once by NewServer and after every
// successful CONFIG SET, with the config lock held (it must not block).
type ConfigObserver interface {
	ConfigChanged(c *conf.Config)
}

// OOMErrorText is Redis's refusal of a write over maxmemory.
const OOMErrorText = "OOM command not allowed when used memory > 'maxmemory'."

// Saver is what SAVE and BGSAVE need; a Backend that does not implement it
// answers both with an error.
type Saver interface {
	// Save makes a snapshot of the applied state durable and compacts the
	// log behind it, and returns when it is done.
	Save(ctx context.Context) error
	// BackgroundSave starts the same in the background; it fails with
	// ErrSaveInProgress when one is already running.
	BackgroundSave() error
}

// ErrSaveInProgress is BackgroundSave's (and Save's) answer while another
// snapshot is being written.
var ErrSaveInProgress = errors.New("Background save already in progress")

// PeerStatus is one other member as the local node sees it.
type PeerStatus struct {
	ID         uint64
	RaftAddr   string
	ClientAddr string
	// MatchIndex is the highest index known replicated on the peer; only a
	// leader knows it (0 elsewhere).
	MatchIndex uint64
	Voter      bool
}

// DBStatus is the size of one database.
type DBStatus struct {
	DB      int
	Keys    int64
	Expires int64
}

// IsLeader reports whether the node is the leader.
func (s ClusterStatus) IsLeader() bool { return s.Role == "leader" }

// RoleRemoved is the Role of a node removed from the cluster: its removal
// was applied, or a member told it so. It serves no keyspace command
// (CLUSTERDOWN) and never votes or leads again.
const RoleRemoved = "removed"

// Error texts for Backend failures. The prefixes are chosen for what
// clients do with them: go-redis, redis-py and Jedis retry "CLUSTERDOWN" and
// "TRYAGAIN" errors (and "MASTERDOWN" for go-redis); an unknown prefix is
// never retried, which is right when a write may already have been applied.
const (
	// No leader: an election is in progress; safe to retry for any command
	// because nothing was proposed.
	errTextNoLeader = "CLUSTERDOWN No leader elected yet (Raft election in progress), try again later"
	// Dropped: the proposal never entered the log (leadership changed, or
	// the proposal queue was full); safe to retry.
	errTextDropped = "TRYAGAIN Proposal dropped (leadership change or overload), try again"
	// A read that timed out changed nothing; safe to retry.
	errTextReadTimeout = "TRYAGAIN Read timed out waiting for a linearizable point, try again"
	// A write that timed out may or may not have committed: do NOT invite
	// a blind retry (INCR would apply twice).
	errTextWriteTimeout = "TIMEOUT Outcome unknown: the write may have been applied; check before retrying"
	// The node is shutting down; another node may serve the request.
	errTextStopped = "MASTERDOWN Node is shutting down"
)

// backendErrorText maps a Backend error to the Redis error text sent to the
// client.
func backendErrorText(err error, write bool) string {
	switch {
	case errors.Is(err, consensus.ErrNoLeader):
		return errTextNoLeader
	case errors.Is(err, ErrRemoved):
		return "CLUSTERDOWN " + ErrRemoved.Error()
	case errors.Is(err, consensus.ErrProposalDropped):
		return errTextDropped
	case errors.Is(err, consensus.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		if write {
			return errTextWriteTimeout
		}
		return errTextReadTimeout
	case errors.Is(err, consensus.ErrStopped), errors.Is(err, context.Canceled):
		return errTextStopped
	}
	return "ERR " + err.Error()
}
