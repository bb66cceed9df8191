package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
)

// Member is one row of `raftkv status`.
type Member struct {
	ID         uint64 `json:"id"`
	ClientAddr string `json:"client_addr"`
	RaftAddr   string `json:"raft_addr,omitempty"`
	// Voter is false for a learner (it receives the log but does not vote).
	Voter     bool   `json:"voter"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	Role      string `json:"role,omitempty"`
	Term      uint64 `json:"term,omitempty"`
	LeaderID  uint64 `json:"leader_id,omitempty"`
	Commit    uint64 `json:"commit_index,omitempty"`
	Applied   uint64 `json:"applied_index,omitempty"`
	// Match is the leader's match index for this member (0 when the
	// leader did not answer).
	Match uint64 `json:"match_index,omitempty"`
	// Lag is how many entries this member has applied fewer than the
	// leader has committed.
	Lag uint64 `json:"lag"`
}

// raftInfo is one node's INFO raft section.
type raftInfo struct {
	fields map[string]string
	peers  []peerInfo
}

type peerInfo struct {
	id                   uint64
	raftAddr, clientAddr string
	match                uint64
	voter                bool
}

// parseRaftInfo reads INFO's "# Raft" section.
func parseRaftInfo(text string) (raftInfo, error) {
	ri := raftInfo{fields: map[string]string{}}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(k, "raft_peer") && k != "raft_peers" {
			var p peerInfo
			for _, kv := range strings.Split(v, ",") {
				pk, pv, _ := strings.Cut(kv, "=")
				switch pk {
				case "id":
					p.id, _ = strconv.ParseUint(pv, 10, 64)
				case "raft_addr":
					p.raftAddr = pv
				case "client_addr":
					p.clientAddr = pv
				case "match_index":
					p.match, _ = strconv.ParseUint(pv, 10, 64)
				case "voter":
					p.voter = pv == "true"
				}
			}
			if p.id == 0 {
				return ri, fmt.Errorf("admin: INFO raft: bad peer line %q", line)
			}
			ri.peers = append(ri.peers, p)
			continue
		}
		ri.fields[k] = v
	}
	if _, ok := ri.fields["raft_node_id"]; !ok {
		return ri, fmt.Errorf("admin: INFO raft has no raft_node_id: not a raftkv node?")
	}
	return ri, nil
}

func (ri raftInfo) uint(k string) uint64 {
	n, _ := strconv.ParseUint(ri.fields[k], 10, 64)
	return n
}

// fetchRaftInfo asks one node for INFO raft.
func fetchRaftInfo(ctx context.Context, addr string, timeout time.Duration) (raftInfo, error) {
	rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, MaxRetries: -1, Protocol: 2})
	defer rc.Close()
	text, err := rc.Info(ctx, "raft").Result()
	if err != nil {
		return raftInfo{}, fmt.Errorf("admin: INFO raft from %s: %w", addr, err)
	}
	return parseRaftInfo(text)
}

// Status collects every member's view, starting from the node at addr.
func Status(ctx context.Context, addr string, timeout time.Duration) ([]Member, error) {
	first, err := fetchRaftInfo(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	members := map[uint64]*Member{}
	self := first.uint("raft_node_id")
	members[self] = &Member{ID: self, ClientAddr: addr, Voter: first.fields["raft_role"] != "learner"}
	for _, p := range first.peers {
		members[p.id] = &Member{ID: p.id, ClientAddr: p.clientAddr, RaftAddr: p.raftAddr, Voter: p.voter}
	}
	infos := map[uint64]raftInfo{self: first}
	for id, m := range members {
		if id == self {
			continue
		}
		ri, err := fetchRaftInfo(ctx, m.ClientAddr, timeout)
		if err != nil {
			m.Error = err.Error()
			continue
		}
		infos[id] = ri
	}
	// The leader knows everyone's match index and the commit index that
	// lags are measured against.
	var leaderInfo *raftInfo
	for _, ri := range infos {
		if ri.fields["raft_role"] == "leader" {
			ri := ri
			if leaderInfo == nil || ri.uint("raft_term") > leaderInfo.uint("raft_term") {
				leaderInfo = &ri
			}
		}
	}
	for id, ri := range infos {
		m := members[id]
		m.Reachable = true
		m.Role = ri.fields["raft_role"]
		m.Term = ri.uint("raft_term")
		m.LeaderID = ri.uint("raft_leader_id")
		m.Commit = ri.uint("raft_commit_index")
		m.Applied = ri.uint("raft_applied_index")
		for _, p := range ri.peers { // our raft address, as peers know it
			if other := members[p.id]; other != nil && other.RaftAddr == "" {
				other.RaftAddr = p.raftAddr
			}
		}
	}
	if leaderInfo != nil {
		commit := leaderInfo.uint("raft_commit_index")
		leaderID := leaderInfo.uint("raft_node_id")
		for _, p := range leaderInfo.peers {
			if m := members[p.id]; m != nil {
				m.Match = p.match
			}
		}
		if m := members[leaderID]; m != nil {
			m.Match = leaderInfo.uint("raft_applied_index")
		}
		for _, m := range members {
			if m.Reachable && commit > m.Applied {
				m.Lag = commit - m.Applied
			}
		}
	}
	out := make([]Member, 0, len(members))
	for _, m := range members {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// WriteTable prints members as an aligned table.
func WriteTable(w io.Writer, members []Member) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLIENT\tRAFT\tROLE\tTERM\tCOMMIT\tAPPLIED\tMATCH\tLAG")
	for _, m := range members {
		if !m.Reachable {
			fmt.Fprintf(tw, "%d\t%s\t%s\tunreachable\t-\t-\t-\t%d\t-\n", m.ID, m.ClientAddr, m.RaftAddr, m.Match)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", m.ID, m.ClientAddr, m.RaftAddr, m.Role, m.Term, m.Commit, m.Applied, m.Match, m.Lag)
	}
	return tw.Flush()
}

// WriteJSON prints members as a JSON array.
func WriteJSON(w io.Writer, members []Member) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(members)
}
