package resp

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
	"github.com/tidwall/redcon"
)

// The RAFT.* admin commands change and show the cluster's membership. They
// are answered by the leader only: a follower answers "-ERR not the leader;
// leader is ID at HOST:PORT" (the admin CLI follows it), because a change
// whose outcome a follower relayed could not be told apart from one that
// never reached the leader when the relay fails. Every change goes through
// the log and is answered once applied on this node (+OK: committed).
//
//	RAFT.ADDNODE id raft-host:port client-host:port   add a learner
//	RAFT.PROMOTE id                                   make a caught-up learner a voter
//	RAFT.REMOVENODE id                                remove a voter or a learner
//	RAFT.TRANSFER [id]                                hand leadership to id, or to the most up-to-date voter
//	RAFT.STATUS                                       this node's view, INFO-style

// Membership is what the RAFT.* commands need from the backend; a Backend
// that does not implement it answers them with an error.
type Membership interface {
	// AddNode adds id as a learner that receives the log (and snapshots)
	// at raftAddr; clientAddr is where clients reach it. It returns the
	// change's log index once applied here.
	AddNode(ctx context.Context, id uint64, raftAddr, clientAddr string) (uint64, error)
	// PromoteNode makes the learner id a voter; consensus.ErrLearnerBehind
	// while it is not caught up.
	PromoteNode(ctx context.Context, id uint64) (uint64, error)
	// RemoveNode removes a voter or a learner (the leader itself included:
	// it steps down once the change commits).
	RemoveNode(ctx context.Context, id uint64) (uint64, error)
	// TransferLeader hands leadership to id (0: the most up-to-date voter)
	// and returns the new leader once it leads.
	TransferLeader(ctx context.Context, id uint64) (uint64, error)
	// RaftStatus is this node's view of the membership.
	RaftStatus(ctx context.Context) (RaftStatus, error)
}

// RaftStatus is RAFT.STATUS's content.
type RaftStatus struct {
	NodeID, LeaderID, Term    uint64
	Role                      string
	CommitIndex, AppliedIndex uint64
	FirstIndex, LastIndex     uint64         // of this node's log
	LeadTransferee            uint64         // a leadership transfer in progress (0: none)
	Members                   []MemberStatus // every member, this node included, by id
}

// MemberStatus is one member in RaftStatus.
type MemberStatus struct {
	ID                   uint64
	RaftAddr, ClientAddr string // "" when this node does not know them
	Learner              bool
	// Match is the leader's match index for the member and Lag how far it
	// is behind the leader's last index (known on the leader only).
	Match, Lag uint64
	// Active: the leader heard from it within an election timeout.
	Active bool
}

// ErrRemoved is a Backend's answer on a node that was removed from the
// cluster: clients get CLUSTERDOWN at once (nothing was proposed; another
// node may serve them) rather than waiting for a leader that will never
// talk to this node again.
var ErrRemoved = errors.New("This node was removed from the cluster; use another node")

// NotLeaderError is a Membership method's answer on a node that is not the
// leader; it names the leader when one is known.
type NotLeaderError struct {
	LeaderID         uint64
	LeaderClientAddr string
}

func (e *NotLeaderError) Error() string {
	var b strings.Builder
	b.WriteString("not the leader")
	if e.LeaderID != 0 {
		b.WriteString("; leader is ")
		b.WriteString(strconv.FormatUint(e.LeaderID, 10))
		if e.LeaderClientAddr != "" {
			b.WriteString(" at ")
			b.WriteString(e.LeaderClientAddr)
		}
	}
	return b.String()
}

// Unwrap lets errors.Is(err, consensus.ErrNotLeader) match.
func (e *NotLeaderError) Unwrap() error { return consensus.ErrNotLeader }

// raftCommandDocs are the COMMAND DOCS entries of the RAFT.* commands,
// which redis-server (the source of command_docs.resp3) does not have.
var raftCommandDocs = []struct{ name, summary string }{
	{"raft.addnode", "Adds a node to the Raft cluster as a learner (non-voting member)."},
	{"raft.promote", "Makes a caught-up learner a voting member."},
	{"raft.removenode", "Removes a node from the Raft cluster."},
	{"raft.transfer", "Transfers Raft leadership to a node, or to the most up-to-date voter."},
	{"raft.status", "Shows the Raft membership as this node sees it."},
}

// commandDocs parses the embedded Redis documents and adds ours.
func commandDocs() (map[string]kvsm.Reply, error) {
	docs, err := parseCommandDocs(commandDocsRESP3)
	if err != nil {
		return nil, err
	}
	for _, d := range raftCommandDocs {
		docs[d.name] = kvsm.Reply{Kind: kvsm.ReplyMap, Elems: []kvsm.Reply{
			kvsm.BulkReply([]byte("summary")), kvsm.BulkReply([]byte(d.summary)),
			kvsm.BulkReply([]byte("since")), kvsm.BulkReply([]byte("0.1.0")),
			kvsm.BulkReply([]byte("group")), kvsm.BulkReply([]byte("raft")),
		}}
	}
	return docs, nil
}

func (c *client) membership(name string) (Membership, bool) {
	m, ok := c.srv.backend.(Membership)
	if !ok {
		c.replyError("ERR " + name + " is not supported by this server")
	}
	return m, ok
}

// parseNodeID reads a positive node id.
func parseNodeID(b []byte) (uint64, bool) {
	id, err := strconv.ParseUint(string(b), 10, 64)
	return id, err == nil && id > 0
}

const errTextBadNodeID = "ERR invalid node id: a positive integer is required"

func (c *client) cmdRaftAddNode(args [][]byte) {
	c.raftChange(args, "RAFT.ADDNODE", func(m Membership, ctx context.Context, id uint64) (uint64, error) {
		return m.AddNode(ctx, id, string(args[2]), string(args[3]))
	})
}

func (c *client) cmdRaftPromote(args [][]byte) {
	c.raftChange(args, "RAFT.PROMOTE", Membership.PromoteNode)
}

func (c *client) cmdRaftRemoveNode(args [][]byte) {
	c.raftChange(args, "RAFT.REMOVENODE", Membership.RemoveNode)
}

func (c *client) raftChange(args [][]byte, name string, change func(Membership, context.Context, uint64) (uint64, error)) {
	m, ok := c.membership(name)
	if !ok {
		return
	}
	id, ok := parseNodeID(args[1])
	if !ok {
		c.replyError(errTextBadNodeID)
		return
	}
	_, err := change(m, c.srv.ctx, id)
	c.appendChangeResult(err)
}

func (c *client) cmdRaftTransfer(args [][]byte) {
	if len(args) > 2 {
		c.replyError("ERR wrong number of arguments for 'raft.transfer' command")
		return
	}
	m, ok := c.membership("RAFT.TRANSFER")
	if !ok {
		return
	}
	var to uint64
	if len(args) == 2 {
		if to, ok = parseNodeID(args[1]); !ok {
			c.replyError(errTextBadNodeID)
			return
		}
	}
	leader, err := m.TransferLeader(c.srv.ctx, to)
	if err != nil {
		c.replyError(membershipErrorText(err))
		return
	}
	c.out = redcon.AppendInt(c.out, int64(leader))
}

func (c *client) cmdRaftStatus(args [][]byte) {
	m, ok := c.membership("RAFT.STATUS")
	if !ok {
		return
	}
	st, err := m.RaftStatus(c.srv.ctx)
	if err != nil {
		c.replyError(membershipErrorText(err))
		return
	}
	c.out = appendVerbatim(c.out, appendRaftStatus(nil, st), c.proto)
}

// appendRaftStatus renders st in INFO's key:value form, one member a line.
func appendRaftStatus(b []byte, st RaftStatus) []byte {
	b = appendUintField(b, "node_id", st.NodeID)
	b = appendField(b, "role", st.Role)
	b = appendUintField(b, "term", st.Term)
	b = appendUintField(b, "leader_id", st.LeaderID)
	b = appendUintField(b, "commit_index", st.CommitIndex)
	b = appendUintField(b, "applied_index", st.AppliedIndex)
	b = appendUintField(b, "first_index", st.FirstIndex)
	b = appendUintField(b, "last_index", st.LastIndex)
	b = appendUintField(b, "lead_transferee", st.LeadTransferee)
	b = appendField(b, "members", strconv.Itoa(len(st.Members)))
	for i, m := range st.Members {
		b = append(b, "member"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ":id="...)
		b = strconv.AppendUint(b, m.ID, 10)
		b = append(b, ",raft_addr="...)
		b = append(b, m.RaftAddr...)
		b = append(b, ",client_addr="...)
		b = append(b, m.ClientAddr...)
		b = append(b, ",suffrage="...)
		if m.Learner {
			b = append(b, "learner"...)
		} else {
			b = append(b, "voter"...)
		}
		b = append(b, ",match_index="...)
		b = strconv.AppendUint(b, m.Match, 10)
		b = append(b, ",lag="...)
		b = strconv.AppendUint(b, m.Lag, 10)
		b = append(b, ",active="...)
		b = append(b, boolDigit(m.Active)...)
		b = append(b, '\r', '\n')
	}
	return b
}

func (c *client) appendChangeResult(err error) {
	if err != nil {
		c.replyError(membershipErrorText(err))
		return
	}
	c.out = append(c.out, "+OK\r\n"...)
}

// membershipErrorText maps a Membership error to its reply: changes that
// may succeed later get TRYAGAIN, a refused change ERR, and everything
// else the texts of writes (a timed-out change may still commit).
func membershipErrorText(err error) string {
	var nl *NotLeaderError
	switch {
	case errors.As(err, &nl) && nl.LeaderID == 0:
		return errTextNoLeader
	case errors.As(err, &nl):
		return "ERR " + nl.Error()
	case errors.Is(err, consensus.ErrConfChangePending), errors.Is(err, consensus.ErrLearnerBehind):
		return "TRYAGAIN " + strings.TrimPrefix(err.Error(), "consensus: ")
	case errors.Is(err, consensus.ErrConfChangeInvalid):
		return "ERR " + strings.TrimPrefix(err.Error(), "consensus: ")
	}
	return backendErrorText(err, true)
}
