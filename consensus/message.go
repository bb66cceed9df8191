package consensus

// MessageType names a Raft message.
type MessageType uint8

const (
	MsgInvalid MessageType = iota
	// MsgPreVote asks "would you vote for me at Term?" without anyone
	// changing term (thesis §9.6). MsgPreVoteResp answers it.
	MsgPreVote
	MsgPreVoteResp
	// MsgVote is RequestVote; MsgVoteResp answers it (Reject = not granted).
	MsgVote
	MsgVoteResp
	// MsgApp is AppendEntries: Index/LogTerm name the entry before Entries,
	// Commit is the leader's commit index. MsgAppResp answers with Index =
	// the last index now matching (or, when Reject, RejectHint/LogTerm for
	// fast back-off).
	MsgApp
	MsgAppResp
	// MsgHeartbeat carries Commit and a read Context; MsgHeartbeatResp
	// echoes Context so that ReadIndex rounds are confirmed.
	MsgHeartbeat
	MsgHeartbeatResp
	// MsgSnap is one chunk of InstallSnapshot: Snapshot names the snapshot,
	// SnapOffset is the chunk's offset, SnapDone marks the last chunk.
	// MsgSnapResp acknowledges up to SnapOffset (Reject: restart from 0).
	MsgSnap
	MsgSnapResp
	// MsgTimeoutNow tells the target of a leader transfer to campaign at
	// once, skipping pre-vote.
	MsgTimeoutNow
	// MsgReadIndex is a follower asking the leader for a read index for
	// request Context; MsgReadIndexResp returns it in Index (Reject: the
	// receiver is not leader).
	MsgReadIndex
	MsgReadIndexResp
	// MsgProp is a follower forwarding proposals (Entries, Data only) to the
	// leader for request Context; MsgPropResp returns the index and term the
	// leader gave the first entry (Reject: not leader, dropped).
	MsgProp
	MsgPropResp
	// MsgTransferLeader asks the leader to hand leadership to From (or to
	// the node in Index when non-zero).
	MsgTransferLeader
	// MsgRemoved tells a node that is no member of the sender's latest
	// configuration, which has committed, that it was removed (the
	// leader answers anything it sends, the others its vote requests):
	// Index is that configuration's index and LogTerm the term of the entry
	// there. With Reject, Context names the forwarded request (MsgProp or
	// MsgReadIndex) the leader refused because of it: nothing was appended.
	MsgRemoved
	msgTypeCount
)

var messageTypeNames = [...]string{
	"MsgInvalid", "MsgPreVote", "MsgPreVoteResp", "MsgVote", "MsgVoteResp",
	"MsgApp", "MsgAppResp", "MsgHeartbeat", "MsgHeartbeatResp", "MsgSnap",
	"MsgSnapResp", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp",
	"MsgProp", "MsgPropResp", "MsgTransferLeader", "MsgRemoved",
}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return "MsgUnknown"
}

// Valid reports whether t is a known message type.
func (t MessageType) Valid() bool { return t > MsgInvalid && t < msgTypeCount }

// Message is one Raft message between peers. Fields not used by a type are
// zero. The transport encodes every field; the core never shares a
// Message's slices after handing it out.
type Message struct {
	Type    MessageType
	From    NodeID
	To      NodeID
	Term    uint64
	LogTerm uint64
	Index   uint64
	Commit  uint64
	Entries []Entry
	Reject  bool
	// RejectHint is the follower's hint for the next index to try.
	RejectHint uint64
	// Context carries a request id (read index rounds, forwarded proposals).
	Context uint64
	// Snapshot metadata and one chunk of its bytes (MsgSnap, MsgSnapResp).
	Snapshot   SnapshotMeta
	SnapOffset uint64
	SnapDone   bool
	Data       []byte
}
