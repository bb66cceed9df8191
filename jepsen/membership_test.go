//go:build linux

package jepsen

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// faultReplaceNode removes a random member (the leader included) through
// RAFT.REMOVENODE, kills it and wipes its data directory; the heal starts
// it again empty with `join yes` and has the leader add it as a learner
// and promote it (RAFT.ADDNODE, RAFT.PROMOTE): the membership changes
// twice per fault while the workload runs, and the rejoined node must
// catch up from a snapshot.
const faultReplaceNode faultKind = "replace-node"

// adminWithin bounds each membership step of the nemesis.
const adminWithin = 30 * time.Second

// leaderDo sends a RAFT.* command to whoever leads, retrying (every 100
// ms, until adminWithin) while there is no leader, the node asked is not
// the leader, or the change must wait (TRYAGAIN). done says whether an
// error text means the change is already in force (after a retry of a
// change whose first outcome was unknown).
func (m *nemesis) leaderDo(ctx context.Context, done func(errText string) bool, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, adminWithin)
	defer cancel()
	var last error
	for {
		if l := m.c.Leader(ctx); l != nil {
			rc := m.c.Client(l, 5*time.Second)
			err := rc.Do(ctx, args...).Err()
			rc.Close()
			if err == nil || (done != nil && done(err.Error())) {
				return nil
			}
			last = err
			text := err.Error()
			retry := strings.HasPrefix(text, "TRYAGAIN") || strings.HasPrefix(text, "CLUSTERDOWN") ||
				strings.HasPrefix(text, "ERR not the leader") || strings.HasPrefix(text, "TIMEOUT") ||
				!strings.HasPrefix(text, "ERR")
			if !retry {
				return fmt.Errorf("%v: %w", args, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v: not done within %v (last error: %v)", args, adminWithin, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func contains(substr string) func(string) bool {
	return func(text string) bool { return strings.Contains(text, substr) }
}

// replaceNode injects faultReplaceNode.
func (m *nemesis) replaceNode(ctx context.Context) (string, error) {
	c := m.c
	n := c.Procs[m.rng.IntN(len(c.Procs))]
	role := "follower"
	if l := c.Leader(ctx); l == n {
		role = "leader"
	}
	m.heal = func(context.Context) error { return nil }
	if err := m.leaderDo(ctx, contains("not a member"), "RAFT.REMOVENODE", n.ID); err != nil {
		return "", err
	}
	n.Kill()
	if err := os.RemoveAll(n.Dir); err != nil {
		return "", fmt.Errorf("wipe node %d: %w", n.ID, err)
	}
	if !slices.Contains(n.Argv, "--join") {
		n.Argv = append(n.Argv, "--join", "yes")
	}
	m.heal = func(ctx context.Context) error {
		c.start(n)
		if err := m.leaderDo(ctx, contains("already a member"), "RAFT.ADDNODE", n.ID, n.RaftAddr, n.ClientAddr); err != nil {
			return err
		}
		return m.leaderDo(ctx, contains("not a learner"), "RAFT.PROMOTE", n.ID)
	}
	return fmt.Sprintf("node %d (%s) removed, killed and wiped; it rejoins empty at heal", n.ID, role), nil
}
