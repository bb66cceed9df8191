package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ConfChangeType names one single-server membership change (thesis §4.1).
type ConfChangeType uint8

const (
	confChangeInvalid ConfChangeType = iota
	// ConfChangeAddLearner adds a node that receives the log and snapshots
	// but neither votes nor counts towards any quorum.
	ConfChangeAddLearner
	// ConfChangePromoteVoter makes a caught-up learner a voter.
	ConfChangePromoteVoter
	// ConfChangeRemoveNode removes a voter or a learner.
	ConfChangeRemoveNode
	confChangeTypeCount
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfChangeAddLearner:
		return "AddLearner"
	case ConfChangePromoteVoter:
		return "PromoteVoter"
	case ConfChangeRemoveNode:
		return "RemoveNode"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one membership change, carried encoded (Encode) in the Data
// of an EntryConfChange entry. Addr and Context are not interpreted by the
// core: they let every member learn, when it applies the entry, how to reach
// a new node (its Raft address, and whatever else the node needs, such as
// the client address).
type ConfChange struct {
	Type    ConfChangeType
	NodeID  NodeID
	Addr    string
	Context []byte
}

// Bounds of an encoded ConfChange, so that a decoder of outside bytes
// never allocates more than this.
const (
	confChangeAddrBytesMax    = 1 << 10
	confChangeContextBytesMax = 64 << 10
	confChangeVersion         = 1
)

// Errors of membership changes.
var (
	// ErrConfChangeInvalid: the change does not apply to the current
	// membership (adding a member, promoting a non-learner, removing a
	// stranger or the last voter), or its encoding is malformed.
	ErrConfChangeInvalid = errors.New("consensus: invalid membership change")
	// ErrConfChangePending: the leader has an uncommitted membership change,
	// or has not yet committed an entry of its term (thesis §4.1 errata).
	// Retry later.
	ErrConfChangePending = errors.New("consensus: membership change pending")
	// ErrLearnerBehind: the learner to promote is not caught up with the
	// leader's log (Config.PromoteLagEntriesMax); retry once it is.
	ErrLearnerBehind = errors.New("consensus: learner is behind the leader's log")
	// ErrNotLeader: membership changes are proposed on the leader only.
	ErrNotLeader = errors.New("consensus: not the leader")
)

// Encode appends the encoding of cc to dst: a version byte, the type, the
// node id (uvarint), then the address and the context, each length
// (uvarint) prefixed.
func (cc ConfChange) Encode(dst []byte) []byte {
	dst = append(dst, confChangeVersion, byte(cc.Type))
	dst = binary.AppendUvarint(dst, uint64(cc.NodeID))
	dst = binary.AppendUvarint(dst, uint64(len(cc.Addr)))
	dst = append(dst, cc.Addr...)
	dst = binary.AppendUvarint(dst, uint64(len(cc.Context)))
	return append(dst, cc.Context...)
}

// DecodeConfChange decodes what Encode wrote. It checks every field and
// length, never panics, and names what is wrong and where. Context is a copy.
func DecodeConfChange(b []byte) (ConfChange, error) {
	var cc ConfChange
	if len(b) < 2 {
		return cc, fmt.Errorf("%w: %d bytes, want at least 2", ErrConfChangeInvalid, len(b))
	}
	if b[0] != confChangeVersion {
		return cc, fmt.Errorf("%w: version %d at byte 0, want %d", ErrConfChangeInvalid, b[0], confChangeVersion)
	}
	cc.Type = ConfChangeType(b[1])
	if cc.Type == confChangeInvalid || cc.Type >= confChangeTypeCount {
		return cc, fmt.Errorf("%w: type %d at byte 1", ErrConfChangeInvalid, b[1])
	}
	off := 2
	id, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return cc, fmt.Errorf("%w: bad node id varint at byte %d", ErrConfChangeInvalid, off)
	}
	if id == 0 {
		return cc, fmt.Errorf("%w: node id 0 at byte %d", ErrConfChangeInvalid, off)
	}
	cc.NodeID = NodeID(id)
	off += n
	addr, off, err := decodeBytesField(b, off, confChangeAddrBytesMax, "address")
	if err != nil {
		return ConfChange{}, err
	}
	cc.Addr = string(addr)
	ctx, off, err := decodeBytesField(b, off, confChangeContextBytesMax, "context")
	if err != nil {
		return ConfChange{}, err
	}
	if len(ctx) > 0 {
		cc.Context = slices.Clone(ctx)
	}
	if off != len(b) {
		return ConfChange{}, fmt.Errorf("%w: %d trailing bytes at byte %d", ErrConfChangeInvalid, len(b)-off, off)
	}
	return cc, nil
}

// decodeBytesField reads a uvarint length and that many bytes at off.
func decodeBytesField(b []byte, off, maxBytes int, what string) ([]byte, int, error) {
	size, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return nil, off, fmt.Errorf("%w: bad %s length varint at byte %d", ErrConfChangeInvalid, what, off)
	}
	off += n
	if size > uint64(maxBytes) {
		return nil, off, fmt.Errorf("%w: %s of %d bytes at byte %d, at most %d", ErrConfChangeInvalid, what, size, off, maxBytes)
	}
	if uint64(len(b)-off) < size {
		return nil, off, fmt.Errorf("%w: %s of %d bytes at byte %d runs past the end (%d bytes)", ErrConfChangeInvalid, what, size, off, len(b))
	}
	return b[off : off+int(size)], off + int(size), nil
}

// applyConfChange returns the membership cs changed by cc, or why cc does
// not apply. cs is not modified; the result's slices are fresh and sorted.
func applyConfChange(cs ConfState, cc ConfChange) (ConfState, error) {
	isVoter := slices.Contains(cs.Voters, cc.NodeID)
	isLearner := slices.Contains(cs.Learners, cc.NodeID)
	out := ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
	switch cc.Type {
	case ConfChangeAddLearner:
		if isVoter || isLearner {
			return cs, fmt.Errorf("%w: add learner %d: already a member", ErrConfChangeInvalid, cc.NodeID)
		}
		out.Learners = append(out.Learners, cc.NodeID)
	case ConfChangePromoteVoter:
		if !isLearner {
			return cs, fmt.Errorf("%w: promote %d: not a learner", ErrConfChangeInvalid, cc.NodeID)
		}
		out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.NodeID })
		out.Voters = append(out.Voters, cc.NodeID)
	case ConfChangeRemoveNode:
		switch {
		case isVoter && len(cs.Voters) == 1:
			return cs, fmt.Errorf("%w: remove %d: the last voter", ErrConfChangeInvalid, cc.NodeID)
		case isVoter:
			out.Voters = slices.DeleteFunc(out.Voters, func(id NodeID) bool { return id == cc.NodeID })
		case isLearner:
			out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.NodeID })
		default:
			return cs, fmt.Errorf("%w: remove %d: not a member", ErrConfChangeInvalid, cc.NodeID)
		}
	default:
		return cs, fmt.Errorf("%w: type %v", ErrConfChangeInvalid, cc.Type)
	}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	return out, nil
}

// confEntry is the membership in force from a conf change entry on.
type confEntry struct {
	index uint64
	conf  ConfState
}

// confHistory is the membership as a function of the log index: the
// membership at baseIndex (the snapshot's ConfState, or the bootstrap one),
// then one record per EntryConfChange in the log after it. A server uses
// the latest membership in its log, committed or not (thesis §4.1), so when
// a new leader truncates a suffix holding a conf change, the records from
// there on are dropped and the membership reverts.
type confHistory struct {
	baseIndex uint64
	base      ConfState
	changes   []confEntry // ascending index, all > baseIndex
}

// latest is the membership in force: the one of the last conf entry.
func (h *confHistory) latest() ConfState {
	if n := len(h.changes); n > 0 {
		return h.changes[n-1].conf
	}
	return h.base
}

// latestIndex is the index of the last conf change entry (baseIndex if none).
func (h *confHistory) latestIndex() uint64 {
	if n := len(h.changes); n > 0 {
		return h.changes[n-1].index
	}
	return h.baseIndex
}

// at returns the membership in force at index.
func (h *confHistory) at(index uint64) (ConfState, error) {
	if index < h.baseIndex {
		return ConfState{}, fmt.Errorf("membership at %d (history starts at %d): %w", index, h.baseIndex, ErrCompacted)
	}
	conf := h.base
	for _, c := range h.changes {
		if c.index > index {
			break
		}
		conf = c.conf
	}
	return conf, nil
}

// truncate drops the records of entries from index `from` on.
func (h *confHistory) truncate(from uint64) {
	i := len(h.changes)
	for i > 0 && h.changes[i-1].index >= from {
		i--
	}
	clear(h.changes[i:])
	h.changes = h.changes[:i]
}

// foldTo merges the records at or before index into the base, so that the
// history does not grow with the log's past (index must be durable history:
// the log was compacted through it).
func (h *confHistory) foldTo(index uint64) {
	if index <= h.baseIndex {
		return
	}
	conf, _ := h.at(index)
	i := 0
	for i < len(h.changes) && h.changes[i].index <= index {
		i++
	}
	h.base, h.baseIndex = conf, index
	h.changes = slices.Delete(h.changes, 0, i)
}

// reset starts the history over from a snapshot's membership.
func (h *confHistory) reset(index uint64, conf ConfState) {
	h.baseIndex, h.base = index, conf
	clear(h.changes)
	h.changes = h.changes[:0]
}
