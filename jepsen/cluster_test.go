//go:build linux

package jepsen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
	"github.com/redis/go-redis/v9"
)

// Ports inside a node's own namespace: every node has its own address, so
// they can all use the same ports.
const (
	nsClientPort = 7000
	nsRaftPort   = 17000
)

// node is one raftkv process.
type node struct {
	id         int
	clientAddr string
	dir        string
	logPath    string
	argv       []string // full command line, namespace wrapper included

	mu      sync.Mutex
	cmd     *exec.Cmd
	exit    chan struct{} // closed when the process has been reaped
	paused  bool
	killing bool // the harness sent SIGKILL: the exit is expected
}

// cluster is a set of raftkv processes, in a netLab when one could be built.
type cluster struct {
	t     *testing.T
	lab   *netLab // nil: all nodes on 127.0.0.1, process faults only
	nodes []*node
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)

	crashMu sync.Mutex
	crashes []string // processes that exited without being killed
}

// clusterSpec says what to start.
type clusterSpec struct {
	bin   string   // raftkv binary
	size  int      // 3 or 5
	dir   string   // run directory: data dirs and logs
	extra []string // more flags for every node
}

// newCluster starts spec.size nodes and waits for a leader that serves
// writes. Processes and namespaces are removed by t.Cleanup, failed or not.
func newCluster(t *testing.T, lab *netLab, spec clusterSpec) *cluster {
	t.Helper()
	c := &cluster{t: t, lab: lab}
	if lab != nil {
		c.dial = lab.dial
	} else {
		var d net.Dialer
		c.dial = d.DialContext
	}
	var ports []int
	if lab == nil {
		ports = testproc.FreePorts(t, 2*spec.size)
	}
	var members []string
	raftAddrs := make([]string, spec.size)
	for i := 0; i < spec.size; i++ {
		id := i + 1
		n := &node{id: id, dir: filepath.Join(spec.dir, fmt.Sprintf("node%d", id)), logPath: filepath.Join(spec.dir, fmt.Sprintf("node%d.log", id))}
		if lab != nil {
			n.clientAddr = net.JoinHostPort(lab.nodeIP(id), strconv.Itoa(nsClientPort))
			raftAddrs[i] = net.JoinHostPort(lab.nodeIP(id), strconv.Itoa(nsRaftPort))
		} else {
			n.clientAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*i]))
			raftAddrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*i+1]))
		}
		c.nodes = append(c.nodes, n)
		members = append(members, fmt.Sprintf("%d=%s/%s", id, raftAddrs[i], n.clientAddr))
	}
	for i, n := range c.nodes {
		host, port, _ := net.SplitHostPort(n.clientAddr)
		argv := append([]string{spec.bin,
			"--port", port,
			"--bind", host,
			"--dir", n.dir,
			"--node-id", strconv.Itoa(n.id),
			"--raft-addr", raftAddrs[i],
			"--cluster", strings.Join(members, ","),
			"--cluster-id", "jepsen",
			"--election-timeout", "1000",
			"--heartbeat-interval", "100",
			"--request-timeout", "1000",
		}, spec.extra...)
		if lab != nil {
			argv = lab.wrap(n.id, argv)
		}
		n.argv = argv
		c.start(n)
	}
	t.Cleanup(c.stopAll)
	if _, err := c.waitLeader(context.Background(), 20*time.Second); err != nil {
		c.dumpLogs()
		t.Fatal(err)
	}
	return c
}

// start launches n's process (again).
func (c *cluster) start(n *node) {
	c.t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatalf("node %d log: %v", n.id, err)
	}
	fmt.Fprintf(logf, "==== jepsen: start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.argv[0], n.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("start node %d: %v", n.id, err)
	}
	exit := make(chan struct{})
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		expected := n.killing
		n.killing = false
		n.mu.Unlock()
		fmt.Fprintf(logf, "==== jepsen: exit %s: %v (expected %v)\n", time.Now().Format(time.RFC3339Nano), err, expected)
		logf.Close()
		if !expected {
			c.crashMu.Lock()
			c.crashes = append(c.crashes, fmt.Sprintf("node %d exited on its own at %s: %v (log %s)", n.id, time.Now().Format("15:04:05.000"), err, n.logPath))
			c.crashMu.Unlock()
		}
		close(exit)
	}()
	n.mu.Lock()
	n.cmd, n.exit, n.paused, n.killing = cmd, exit, false, false
	n.mu.Unlock()
}

// unexpectedExits returns the processes that died without the nemesis
// killing them: crashes, to be reported as violations.
func (c *cluster) unexpectedExits() []string {
	c.crashMu.Lock()
	defer c.crashMu.Unlock()
	return slices.Clone(c.crashes)
}

// mark writes a line into every node's log, so that logs show when the
// nemesis acted. O_APPEND writes do not interleave with the node's own.
func (c *cluster) mark(line string) {
	stamp := time.Now().Format(time.RFC3339Nano)
	for _, n := range c.nodes {
		f, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			continue
		}
		fmt.Fprintf(f, "==== jepsen: %s %s\n", stamp, line)
		f.Close()
	}
}

// restart starts n unless it runs: heals of overlapping faults may both
// want to restart the same node.
func (c *cluster) restart(n *node) {
	if !c.running(n) {
		c.start(n)
	}
}

// signal sends sig to n's process if it runs. "ip netns exec" execs the
// binary, so the process is raftkv itself.
func (c *cluster) signal(n *node, sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Signal(sig)
	}
	switch sig {
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (c *cluster) kill(n *node) {
	n.mu.Lock()
	n.killing = true
	n.mu.Unlock()
	c.signal(n, syscall.SIGKILL)
	n.mu.Lock()
	exit := n.exit
	n.paused = false
	n.mu.Unlock()
	if exit != nil {
		<-exit
	}
}

// running reports whether n's process is alive (paused counts as alive).
func (c *cluster) running(n *node) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exit == nil {
		return false
	}
	select {
	case <-n.exit:
		return false
	default:
		return true
	}
}

// responsive reports whether n runs and is not paused.
func (c *cluster) responsive(n *node) bool {
	n.mu.Lock()
	paused := n.paused
	n.mu.Unlock()
	return !paused && c.running(n)
}

func (c *cluster) stopAll() {
	for _, n := range c.nodes {
		if c.running(n) {
			c.signal(n, syscall.SIGCONT)
			c.kill(n)
		}
	}
	if c.t.Failed() {
		c.dumpLogs()
	}
}

// dumpLogs prints the tail of every node's log.
func (c *cluster) dumpLogs() {
	for _, n := range c.nodes {
		c.t.Logf("---- node %d log tail (%s)", n.id, n.logPath)
		for _, l := range tailLines(n.logPath, 40) {
			c.t.Log(l)
		}
	}
}

func tailLines(path string, max int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > max {
			lines = lines[1:]
		}
	}
	return lines
}

// client returns a go-redis client of n: one connection, no retries, so
// that one call is one attempt whose outcome the history records.
func (c *cluster) client(n *node, timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:            n.clientAddr,
		Dialer:          c.dial,
		DialTimeout:     timeout,
		ReadTimeout:     timeout,
		WriteTimeout:    timeout,
		MaxRetries:      -1,
		PoolSize:        1,
		PoolTimeout:     timeout,
		DisableIdentity: true,
	})
}

// info returns n's INFO section as key/value pairs.
func (c *cluster) info(ctx context.Context, n *node, section string) (map[string]string, error) {
	rc := c.client(n, 500*time.Millisecond)
	defer rc.Close()
	s, err := rc.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s on node %d: %w", section, n.id, err)
	}
	return parseInfo(s), nil
}

// parseInfo splits an INFO reply into fields; comment and malformed lines
// are skipped.
func parseInfo(s string) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
			kv[k] = v
		}
	}
	return kv
}

// leader returns the responsive node that says it leads, or nil.
func (c *cluster) leader(ctx context.Context) *node {
	for _, n := range c.nodes {
		if !c.responsive(n) {
			continue
		}
		kv, err := c.info(ctx, n, "raft")
		if err == nil && kv["raft_role"] == "leader" {
			return n
		}
	}
	return nil
}

// waitLeader waits until a leader acknowledges a write. The probe write
// also un-stalls a follower that waits for new entries (see the torn-tail
// note in doc.go).
func (c *cluster) waitLeader(ctx context.Context, within time.Duration) (*node, error) {
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		if l := c.leader(ctx); l != nil {
			rc := c.client(l, 2*time.Second)
			lastErr = rc.Set(ctx, "jepsen:probe", "1", 0).Err()
			rc.Close()
			if lastErr == nil {
				return l, nil
			}
		} else {
			lastErr = errors.New("no node says it leads")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("no leader serving writes within %v: %w", within, lastErr)
}

// others returns the nodes other than n.
func (c *cluster) others(n *node) []*node {
	var out []*node
	for _, m := range c.nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// lastSegment returns the newest WAL log segment of n.
func lastSegment(n *node) (string, error) {
	segs, err := filepath.Glob(filepath.Join(n.dir, "wal", "log", "[0-9]*"))
	if err != nil {
		return "", fmt.Errorf("node %d segments: %w", n.id, err)
	}
	if len(segs) == 0 {
		return "", fmt.Errorf("node %d: no log segment under %s", n.id, n.dir)
	}
	sort.Strings(segs)
	return segs[len(segs)-1], nil
}
