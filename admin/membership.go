package admin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Result is what a membership subcommand reports.
type Result struct {
	Command string `json:"command"`
	// Leader is the client address of the node that carried the change
	// out (the leader, after following redirects).
	Leader string `json:"leader"`
	NodeID uint64 `json:"node_id,omitempty"`
	// NewLeader is the node that leads after `transfer`, or after the
	// hand-over that precedes the removal of the leader.
	NewLeader uint64 `json:"new_leader,omitempty"`
	// Retries counts TRYAGAIN answers waited out (a pending change, a
	// learner still catching up).
	Retries int    `json:"retries"`
	Elapsed string `json:"elapsed"`
}

// redirectsMax bounds how many "not the leader" answers are followed.
const redirectsMax = 5

// retryInterval is the pause after a TRYAGAIN answer.
const retryInterval = 100 * time.Millisecond

// leaderRedirect reads "ERR not the leader; leader is N at HOST:PORT".
func leaderRedirect(err error) (string, bool) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "ERR not the leader") {
		return "", false
	}
	_, addr, ok := strings.Cut(msg, " at ")
	return strings.TrimSpace(addr), ok && addr != ""
}

// retryable says whether the node asks to try again later (a pending
// change, a learner behind, no leader yet).
func retryable(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "TRYAGAIN") || strings.HasPrefix(msg, "CLUSTERDOWN")
}

// leaderCall runs args on the leader: it starts at addr, follows "not the
// leader" answers, and retries TRYAGAIN/CLUSTERDOWN until ctx ends. It
// returns the reply, the address that answered and the retries made.
func leaderCall(ctx context.Context, addr string, timeout time.Duration, args ...any) (any, string, int, error) {
	retries, redirects := 0, 0
	for {
		rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: -1, MaxRetries: -1, Protocol: 2})
		v, err := rc.Do(ctx, args...).Result()
		rc.Close()
		if err == nil {
			return v, addr, retries, nil
		}
		if next, ok := leaderRedirect(err); ok && redirects < redirectsMax {
			redirects++
			addr = next
			continue
		}
		if !retryable(err) {
			return nil, addr, retries, fmt.Errorf("admin: %s at %s: %w", args[0], addr, err)
		}
		retries++
		select {
		case <-ctx.Done():
			return nil, addr, retries, fmt.Errorf("admin: %s at %s: gave up after %d retries: %w (last answer: %v)", args[0], addr, retries, ctx.Err(), err)
		case <-time.After(retryInterval):
		}
	}
}

// Join adds node id (raft and client addresses) as a learner through the
// leader, then promotes it to voter once it has caught up; ctx bounds the
// wait for it to catch up.
func Join(ctx context.Context, addr string, id uint64, raftAddr, clientAddr string, timeout time.Duration) (Result, error) {
	start := time.Now()
	res := Result{Command: "join", NodeID: id}
	_, leader, retries, err := leaderCall(ctx, addr, timeout, "RAFT.ADDNODE", id, raftAddr, clientAddr)
	res.Leader, res.Retries = leader, retries
	if err != nil {
		return res, err
	}
	_, leader, retries, err = leaderCall(ctx, leader, timeout, "RAFT.PROMOTE", id)
	res.Leader, res.Retries = leader, res.Retries+retries
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	if err != nil {
		return res, fmt.Errorf("%w (node %d stays a learner; run `raftkv join` again or `raftkv remove`)", err, id)
	}
	return res, nil
}

// Remove removes node id through the leader. When id leads, leadership is
// first handed to the most up-to-date voter, and the new leader removes
// it: clients then wait for a transfer (a round trip) instead of an
// election timeout, which a leader that removes itself costs (it steps
// down once the removal commits and nobody is told to campaign).
func Remove(ctx context.Context, addr string, id uint64, timeout time.Duration) (Result, error) {
	start := time.Now()
	res := Result{Command: "remove", NodeID: id}
	if ri, err := fetchRaftInfo(ctx, addr, timeout); err == nil && ri.uint("raft_leader_id") == id {
		leaderAddr := ri.fields["raft_leader_addr"]
		if ri.uint("raft_node_id") == id || leaderAddr == "" {
			leaderAddr = addr
		}
		tr, err := Transfer(ctx, leaderAddr, 0, timeout)
		if err != nil {
			return res, fmt.Errorf("admin: hand leadership over before removing leader %d: %w", id, err)
		}
		res.NewLeader, addr = tr.NewLeader, tr.Leader
	}
	_, leader, retries, err := leaderCall(ctx, addr, timeout, "RAFT.REMOVENODE", id)
	res.Leader, res.Retries, res.Elapsed = leader, retries, time.Since(start).Round(time.Millisecond).String()
	return res, err
}

// Transfer hands leadership to id (0: the most up-to-date voter).
func Transfer(ctx context.Context, addr string, id uint64, timeout time.Duration) (Result, error) {
	start := time.Now()
	args := []any{"RAFT.TRANSFER"}
	if id != 0 {
		args = append(args, id)
	}
	v, leader, retries, err := leaderCall(ctx, addr, timeout, args...)
	res := Result{Command: "transfer", Leader: leader, NodeID: id, Retries: retries, Elapsed: time.Since(start).Round(time.Millisecond).String()}
	if err != nil {
		return res, err
	}
	n, ok := v.(int64)
	if !ok {
		return res, fmt.Errorf("admin: RAFT.TRANSFER answered %v, want the new leader's id", v)
	}
	res.NewLeader = uint64(n)
	return res, nil
}

// Snapshot makes the node at addr (not necessarily the leader: every node
// snapshots its own state) take a snapshot now (SAVE).
func Snapshot(ctx context.Context, addr string, timeout time.Duration) (Result, error) {
	start := time.Now()
	rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: -1, MaxRetries: -1, Protocol: 2})
	defer rc.Close()
	err := rc.Save(ctx).Err()
	res := Result{Command: "snapshot", Leader: addr, Elapsed: time.Since(start).Round(time.Millisecond).String()}
	if err != nil {
		return res, fmt.Errorf("admin: SAVE at %s: %w", addr, err)
	}
	return res, nil
}

// ParseNodeID reads a positive node id argument.
func ParseNodeID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, errors.New("admin: node id must be a positive integer, got " + strconv.Quote(s))
	}
	return id, nil
}

// WriteResult prints r as one readable line.
func WriteResult(r Result) string {
	switch r.Command {
	case "join":
		return fmt.Sprintf("node %d joined as a voter (through leader %s, %s, %d retries while it caught up)", r.NodeID, r.Leader, r.Elapsed, r.Retries)
	case "remove":
		// A removed node serves nobody (it answers CLUSTERDOWN once it
		// knows, and never campaigns), but it still holds its ports and
		// data: it should be stopped.
		const stopIt = "; stop its process (it answers its clients CLUSTERDOWN from now on)"
		if r.NewLeader != 0 {
			return fmt.Sprintf("node %d removed (it led: node %d leads now; %s)%s", r.NodeID, r.NewLeader, r.Elapsed, stopIt)
		}
		return fmt.Sprintf("node %d removed (through leader %s, %s)%s", r.NodeID, r.Leader, r.Elapsed, stopIt)
	case "transfer":
		return fmt.Sprintf("node %d leads now (was %s, %s)", r.NewLeader, r.Leader, r.Elapsed)
	case "snapshot":
		return fmt.Sprintf("snapshot taken on %s (%s)", r.Leader, r.Elapsed)
	}
	return fmt.Sprintf("%+v", r)
}
