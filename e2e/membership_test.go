package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// memberSpec is n's entry of a cluster line.
func memberSpec(n *node) string { return fmt.Sprintf("%d=%s/%s", n.ID, n.RaftAddr, n.ClientAddr) }

// newJoiner starts node id with an empty data directory and `join yes`,
// naming members and itself in its cluster line (its other flags are
// members[0]'s). It is not a member until the leader adds it.
func (c *cluster) newJoiner(id int, members []*node, extra ...string) *node {
	c.t.Helper()
	ports := testproc.FreePorts(c.t, 2)
	dir := filepath.Dir(members[0].Dir)
	n := &node{
		ID:         id,
		ClientAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		RaftAddr:   fmt.Sprintf("127.0.0.1:%d", ports[1]),
		Dir:        filepath.Join(dir, fmt.Sprintf("node%d", id)),
		LogPath:    filepath.Join(dir, fmt.Sprintf("node%d.log", id)),
		Argv:       slices.Clone(members[0].Argv),
	}
	var line []string
	for _, m := range append(slices.Clone(members), n) {
		line = append(line, memberSpec(m))
	}
	setFlag(n, "--port", strconv.Itoa(ports[0]))
	setFlag(n, "--dir", n.Dir)
	setFlag(n, "--node-id", strconv.Itoa(id))
	setFlag(n, "--raft-addr", n.RaftAddr)
	setFlag(n, "--cluster", strings.Join(line, ","))
	n.Argv = append(append(n.Argv, "--join", "yes"), extra...)
	if err := c.Add(n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// setFlag changes the value of flag in n's command line.
func setFlag(n *node, flag, value string) {
	for i := 0; i+1 < len(n.Argv); i++ {
		if n.Argv[i] == flag {
			n.Argv[i+1] = value
		}
	}
}

// raftkvCLI runs a raftkv subcommand and returns its output.
func raftkvCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("raftkv %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("raftkv %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	return string(out)
}

// raftPeers returns n's INFO raft peer lines by id: "raft_addr=...,..."
func (c *cluster) raftPeers(n *node) (map[int]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kv, err := c.Info(ctx, n, "raft")
	if err != nil {
		return nil, err
	}
	peers := map[int]string{}
	for k, v := range kv {
		if !strings.HasPrefix(k, "raft_peer") || k == "raft_peers" {
			continue
		}
		idText, rest, _ := strings.Cut(strings.TrimPrefix(v, "id="), ",")
		id, err := strconv.Atoi(idText)
		if err != nil {
			return nil, fmt.Errorf("peer line %q: %w", v, err)
		}
		peers[id] = rest
	}
	return peers, nil
}

// waitPeers waits until n's INFO raft names exactly want's members, each
// with its addresses and suffrage.
func (c *cluster) waitPeers(n *node, want []*node, voter map[int]bool, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last map[int]string
	var err error
	for time.Now().Before(deadline) {
		last, err = c.raftPeers(n)
		if err == nil && len(last) == len(want) {
			ok := true
			for _, m := range want {
				p := last[m.ID]
				prefix := fmt.Sprintf("raft_addr=%s,client_addr=%s,", m.RaftAddr, m.ClientAddr)
				if !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, fmt.Sprintf("voter=%t", voter[m.ID])) {
					ok = false
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("node %d's INFO raft peers: %v (%v), want %d members with their addresses", n.ID, last, err, len(want))
}

// waitAcked waits until w has more than n acknowledged writes.
func (w *writer) waitAcked(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		got := len(w.acked)
		w.mu.Unlock()
		if got > n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fewer than %d writes acknowledged within %v (%d failures)", n, within, w.failures.Load())
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// startWriter runs w over a fixed set of nodes until the returned stop is
// called.
func startWriter(t *testing.T, nodes []*node, prefix string) (w *writer, stop func()) {
	t.Helper()
	w = &writer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	fixed := &cluster{t: t, Cluster: &testproc.Cluster{Procs: slices.Clone(nodes)}}
	go func() {
		defer close(done)
		w.run(ctx, fixed, prefix)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return w, stop
}

// TestJoinThroughSnapshotUnderLoad: a 4th node joins a 3-node cluster under
// a write load, as a learner that catches up through a snapshot (the log
// was compacted), is promoted and serves every acknowledged write; after
// its own log was compacted and a restart with a stale cluster line, it
// still knows every member's addresses from its disk.
func TestJoinThroughSnapshotUnderLoad(t *testing.T) {
	c := newCluster(t, clusterOptions{extra: []string{"--snapshot-threshold", "200"}})
	members := slices.Clone(c.Procs)
	l := c.RequireLeader(10 * time.Second)
	w, stop := startWriter(t, members, "join")
	w.waitAcked(t, 600, 30*time.Second)
	if snaps, _ := filepath.Glob(filepath.Join(l.Dir, "snapshots", "*.snap")); len(snaps) == 0 {
		t.Fatalf("the leader took no snapshot after 600 writes with snapshot-threshold 200")
	}

	j := c.newJoiner(4, members, "--snapshot-threshold", "200")
	// Until it is added, the joiner neither campaigns nor serves.
	if kv, err := c.Info(context.Background(), j, "raft"); err != nil || kv["raft_role"] != "learner" || kv["raft_term"] != "0" {
		t.Fatalf("joiner before being added: %v, %v", kv, err)
	}
	// Through a follower: the CLI follows its "not the leader" answer.
	raftkvCLI(t, "join", c.Followers(l)[0].ClientAddr, "4", j.RaftAddr, j.ClientAddr, "--timeout", "60s")
	if !waitLog(t, j, "snapshot received", 5*time.Second) {
		t.Errorf("node 4 caught up without a snapshot: the test did not test it")
	}
	voters := map[int]bool{1: true, 2: true, 3: true, 4: true}
	c.waitPeers(j, members, voters, 10*time.Second)
	c.waitPeers(l, without(append(slices.Clone(members), j), l), voters, 10*time.Second)

	// Writes go on with the new voter; then every acknowledged write is
	// on every node, the new one included.
	w.waitAcked(t, w.count()+600, 30*time.Second)
	stop()
	for _, n := range append(slices.Clone(members), j) {
		w.checkAcked(t, c, n)
	}
	if !waitLog(t, j, "snapshot taken", 5*time.Second) {
		t.Fatalf("node 4 never compacted its own log: the restart below would not test it")
	}

	// Restart with a cluster line that lists only a member that does not
	// exist: the log and snapshot know better.
	j.Kill()
	setFlag(j, "--cluster", memberSpec(j)+",9=127.0.0.1:1/127.0.0.1:2")
	c.start(j)
	c.waitPeers(j, members, voters, 10*time.Second)
	w.checkAcked(t, c, j)
}

// without returns nodes minus n.
func without(nodes []*node, n *node) []*node {
	return slices.DeleteFunc(slices.Clone(nodes), func(m *node) bool { return m == n })
}

// raftStatus returns n's RAFT.STATUS as key/value pairs.
func (c *cluster) raftStatus(n *node) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	text, err := c.client(n).Do(ctx, "RAFT.STATUS").Text()
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			kv[k] = v
		}
	}
	return kv, nil
}

// waitVoters waits until the leader's RAFT.STATUS lists exactly the voters
// want (by id, sorted), every one active, and returns the leader.
func (c *cluster) waitVoters(want []int, within time.Duration) *node {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last map[string]string
	for time.Now().Before(deadline) {
		if l := c.Leader(context.Background()); l != nil {
			kv, err := c.raftStatus(l)
			if err == nil {
				last = kv
				var voters []int
				active := true
				for k, v := range kv {
					if !strings.HasPrefix(k, "member") || k == "members" || !strings.Contains(v, "suffrage=voter") {
						continue
					}
					idText, _, _ := strings.Cut(strings.TrimPrefix(v, "id="), ",")
					id, _ := strconv.Atoi(idText)
					voters = append(voters, id)
					active = active && strings.Contains(v, "active=1")
				}
				slices.Sort(voters)
				if slices.Equal(voters, want) && active {
					return l
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("voters %v not reached within %v; leader's RAFT.STATUS: %v", want, within, last)
	return nil
}

// TestRemoveLeaderAndFollower: a leader asked to remove itself steps down
// once the change commits, and the others elect a new leader and go on;
// `raftkv remove` of the (new) leader, asked through a follower, hands
// leadership over first; then a follower is removed, and answers its
// clients CLUSTERDOWN removed at once (the leader tells it so) without
// campaigning or disturbing the others. No acknowledged write is lost.
func TestRemoveLeaderAndFollower(t *testing.T) {
	c := newCluster(t, clusterOptions{size: 4})
	members := slices.Clone(c.Procs)
	// One writer per phase, over the members of that phase: a removed
	// node answers CLUSTERDOWN, which would only slow a writer that still
	// visits it.
	w1, stop1 := startWriter(t, members, "remove1")
	w1.waitAcked(t, 100, 20*time.Second)
	old := c.RequireLeader(10 * time.Second)
	if err := c.client(old).Do(context.Background(), "RAFT.REMOVENODE", old.ID).Err(); err != nil {
		t.Fatalf("RAFT.REMOVENODE %d on the leader itself: %v", old.ID, err)
	}
	rest := without(members, old)
	l := c.waitVoters(ids(rest), 10*time.Second)
	stop1()
	if l == old {
		t.Fatalf("the removed node %d still leads", old.ID)
	}
	if !waitLog(t, old, "stepping down: removed from the cluster", time.Second) {
		t.Fatalf("removed leader %d did not log its step-down", old.ID)
	}
	// It steps down when its removal commits and counts itself removed when
	// it applies it, a moment later.
	var kv map[string]string
	var err error
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		kv, err = c.Info(context.Background(), old, "raft")
		if err == nil && kv["raft_role"] == "removed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removed leader %d: INFO raft %v, %v; want raft_role:removed within 1 s", old.ID, kv, err)
		}
	}
	// The removed node tells clients so at once.
	start := time.Now()
	err = c.client(old).Set(context.Background(), "after-removal", "x", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN This node was removed from the cluster") || time.Since(start) > time.Second {
		t.Fatalf("SET on the removed node: %v after %v", err, time.Since(start))
	}

	w2, stop2 := startWriter(t, rest, "remove2")
	w2.waitAcked(t, 100, 20*time.Second)
	out := raftkvCLI(t, "remove", without(rest, l)[0].ClientAddr, strconv.Itoa(l.ID))
	if !strings.Contains(out, "leads now") {
		t.Fatalf("raftkv remove of the leader did not hand leadership over first: %s", out)
	}
	rest = without(rest, l)
	l = c.waitVoters(ids(rest), 10*time.Second)
	stop2()

	// A removed follower never receives its removal (the leader stops
	// sending to it when the entry is appended): the leader tells it when
	// it next hears from it, here a forwarded SET, which is refused (not
	// appended). The writer leaves it out, to measure the cluster alone.
	gone := without(rest, l)[0]
	w3, stop3 := startWriter(t, without(rest, gone), "remove3")
	w3.waitAcked(t, 100, 20*time.Second)
	raftkvCLI(t, "remove", l.ClientAddr, strconv.Itoa(gone.ID), "--json")
	rest = without(rest, gone)
	l = c.waitVoters(ids(rest), 10*time.Second)
	term := func() string {
		kv, err := c.Info(context.Background(), l, "raft")
		if err != nil {
			t.Fatalf("INFO raft on the leader %d: %v", l.ID, err)
		}
		return kv["raft_term"]
	}
	termBefore := term()
	goneClient := c.client(gone)
	for i, cmd := range [][]any{{"SET", "after-removal-3", "x"}, {"GET", "after-removal-3"}, {"SET", "after-removal-3", "y"}} {
		start := time.Now()
		err := goneClient.Do(context.Background(), cmd...).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN This node was removed from the cluster") || time.Since(start) > time.Second {
			t.Fatalf("%v on the removed follower: %v after %v, want CLUSTERDOWN removed within 1 s", cmd, err, time.Since(start))
		}
		t.Logf("%v on the removed follower: %q after %v", cmd, err, time.Since(start).Round(time.Millisecond))
		if i == 1 {
			// Past an election timeout: the removed node does not campaign.
			time.Sleep(2 * time.Second)
		}
	}
	if !waitLog(t, gone, "removed from the cluster: not campaigning", time.Second) {
		t.Fatalf("the removed follower %d does not log that it was told", gone.ID)
	}
	// Told, not applied: INFO and ROLE say so all the same.
	if kv, err := c.Info(context.Background(), gone, "raft"); err != nil || kv["raft_role"] != "removed" {
		t.Fatalf("INFO raft on the removed follower %d: %v, %v; want raft_role:removed", gone.ID, kv, err)
	}
	if role, err := c.client(gone).Do(context.Background(), "ROLE").Slice(); err != nil || len(role) != 5 || role[3] != "connect" || role[4] != int64(-1) {
		t.Fatalf("ROLE on the removed follower %d: %v, %v; want a replica in state connect, offset -1", gone.ID, role, err)
	}
	w3.waitAcked(t, w3.count()+100, 20*time.Second)
	stop3()
	if got := term(); got != termBefore {
		t.Fatalf("the leader's term went from %s to %s while the removed follower was up", termBefore, got)
	}
	if n, err := c.client(l).Exists(context.Background(), "after-removal-3").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after-removal-3 on the leader: %d, %v; the refused SET must not be applied", n, err)
	}
	for _, n := range rest {
		for _, w := range []*writer{w1, w2, w3} {
			w.checkAcked(t, c, n)
		}
	}
}

// ids returns the nodes' ids, sorted.
func ids(nodes []*node) []int {
	var out []int
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	slices.Sort(out)
	return out
}

// TestReplaceDeadNode: one node of three is killed; it is removed, and a
// fresh node with a new id and an empty data directory joins in its place
// (the leader's log was never compacted: RAFT.ADDNODE snapshots first);
// the cluster is back to three voters and no acknowledged write is lost.
// The dead node, restarted later, learns it was removed from the
// followers it asks for votes (the new leader is no peer of its own).
func TestReplaceDeadNode(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	members := slices.Clone(c.Procs)
	w, stop := startWriter(t, members, "replace")
	w.waitAcked(t, 200, 20*time.Second)
	l := c.RequireLeader(10 * time.Second)
	dead := c.Followers(l)[0]
	dead.Kill()
	live := without(members, dead)
	raftkvCLI(t, "remove", live[0].ClientAddr, strconv.Itoa(dead.ID))
	c.waitVoters([]int{live[0].ID, live[1].ID}, 10*time.Second)

	fresh := c.newJoiner(4, live)
	raftkvCLI(t, "join", live[1].ClientAddr, "4", fresh.RaftAddr, fresh.ClientAddr, "--timeout", "60s")
	l = c.waitVoters([]int{live[0].ID, live[1].ID, 4}, 10*time.Second)
	if !waitLog(t, fresh, "snapshot received", 5*time.Second) {
		t.Errorf("node 4 replayed the log from index 1 instead of starting from a snapshot")
	}
	err := c.client(l).Do(context.Background(), "RAFT.ADDNODE", 5, fresh.RaftAddr, "127.0.0.1:1").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR invalid membership change: node 4 already uses") {
		t.Fatalf("adding a node at node 4's raft address: %v", err)
	}
	w.waitAcked(t, w.count()+200, 20*time.Second)
	stop()
	for _, n := range append(live, fresh) {
		w.checkAcked(t, c, n)
	}
	st, err := c.raftStatus(fresh)
	if err != nil || st["members"] != "3" {
		t.Fatalf("new node's RAFT.STATUS: %v, %v", st, err)
	}

	// The new node can lead; a snapshot can be asked of any node.
	out := raftkvCLI(t, "transfer", live[0].ClientAddr, "4", "--json")
	if !strings.Contains(out, `"new_leader": 4`) {
		t.Fatalf("raftkv transfer --json: %s", out)
	}
	if l := c.RequireLeader(10 * time.Second); l != fresh {
		t.Fatalf("node %d leads after the transfer to 4", l.ID)
	}
	raftkvCLI(t, "snapshot", live[1].ClientAddr)
	if snaps, _ := filepath.Glob(filepath.Join(live[1].Dir, "snapshots", "*.snap")); len(snaps) == 0 {
		t.Fatalf("raftkv snapshot left no snapshot in %s", live[1].Dir)
	}

	// The dead node comes back on its old data directory: its log still
	// names it a voter, and the leader (node 4) is a member it never knew.
	// The followers it asks for votes tell it it was removed, and it then
	// answers clients CLUSTERDOWN removed at once, without disturbing the
	// cluster.
	kv, err := c.Info(context.Background(), fresh, "raft")
	if err != nil {
		t.Fatal(err)
	}
	termBefore := kv["raft_term"]
	c.start(dead)
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for {
		start := time.Now()
		last = c.client(dead).Set(context.Background(), "dead-is-back", "x", 0).Err()
		took := time.Since(start)
		if last != nil && strings.HasPrefix(last.Error(), "CLUSTERDOWN This node was removed from the cluster") {
			// The first answer may wait for the node's first pre-vote
			// (it parks requests while it knows no leader, up to an
			// election timeout); once told, it answers at once.
			t.Logf("SET on the returned removed node: %q after %v", last, took.Round(time.Millisecond))
			start = time.Now()
			again := c.client(dead).Set(context.Background(), "dead-is-back", "x", 0).Err()
			if took := time.Since(start); again == nil || again.Error() != last.Error() || took > 200*time.Millisecond {
				t.Fatalf("next SET on the removed node: %v after %v; want %q at once", again, took, last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the returned removed node still answers %v after 10 s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := c.RequireLeader(10 * time.Second); l != fresh {
		t.Fatalf("node %d leads after the removed node returned, want 4", l.ID)
	}
	if kv, err := c.Info(context.Background(), fresh, "raft"); err != nil || kv["raft_term"] != termBefore {
		t.Fatalf("the leader's term went from %s to %s (%v) when the removed node returned", termBefore, kv["raft_term"], err)
	}
}
