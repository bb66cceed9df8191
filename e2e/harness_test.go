package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/internal/testproc"
)

// binPath is the raftkv binary built once for the whole package.
var binPath string

func TestMain(m *testing.M) { os.Exit(testproc.MainWithRaftkv(m, &binPath)) }

// requireProgram and freePorts are testproc's, under local names.
var (
	requireProgram = testproc.RequireProgram
	freePorts      = testproc.FreePorts
)

// node is one raftkv process of a test cluster.
type node struct {
	id         int
	clientPort int
	raftPort   int
	dir        string
	args       []string
	logPath    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
}

func (n *node) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.clientPort) }

// cluster is a set of raftkv processes on loopback.
type cluster struct {
	t     *testing.T
	nodes []*node
}

// clusterOptions tune newCluster.
type clusterOptions struct {
	size  int
	extra []string // more --directive value flags for every node
}

// newCluster starts size nodes that form one cluster, and waits until a
// leader serves writes.
func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	if opts.size == 0 {
		opts.size = 3
	}
	ports := freePorts(t, 2*opts.size)
	c := &cluster{t: t}
	var members []string
	for i := 0; i < opts.size; i++ {
		n := &node{id: i + 1, clientPort: ports[2*i], raftPort: ports[2*i+1], dir: filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i+1))}
		c.nodes = append(c.nodes, n)
		members = append(members, fmt.Sprintf("%d=127.0.0.1:%d/127.0.0.1:%d", n.id, n.raftPort, n.clientPort))
	}
	for _, n := range c.nodes {
		n.logPath = filepath.Join(filepath.Dir(n.dir), fmt.Sprintf("node%d.log", n.id))
		n.args = append([]string{
			"--port", strconv.Itoa(n.clientPort),
			"--bind", "127.0.0.1",
			"--dir", n.dir,
			"--node-id", strconv.Itoa(n.id),
			"--raft-addr", fmt.Sprintf("127.0.0.1:%d", n.raftPort),
			"--cluster", strings.Join(members, ","),
			"--cluster-id", "e2e",
			"--election-timeout", "1000",
			"--heartbeat-interval", "100",
		}, opts.extra...)
		c.start(n)
	}
	t.Cleanup(c.stopAll)
	c.waitLeader(15 * time.Second)
	return c
}

// start launches n's process.
func (c *cluster) start(n *node) {
	c.t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatalf("node %d log: %v", n.id, err)
	}
	cmd := exec.Command(binPath, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start node %d: %v", n.id, err)
	}
	exit := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exit)
	}()
	n.mu.Lock()
	n.cmd, n.exit = cmd, exit
	n.mu.Unlock()
}

// kill sends SIGKILL to n and waits for it to die.
func (c *cluster) kill(n *node) {
	c.signal(n, syscall.SIGKILL)
	n.mu.Lock()
	exit := n.exit
	n.mu.Unlock()
	<-exit
}

// stop sends SIGTERM and waits up to 10 s for a clean exit.
func (c *cluster) stop(n *node) {
	c.signal(n, syscall.SIGTERM)
	n.mu.Lock()
	exit := n.exit
	n.mu.Unlock()
	select {
	case <-exit:
	case <-time.After(10 * time.Second):
		c.t.Errorf("node %d did not exit within 10s of SIGTERM", n.id)
		c.kill(n)
	}
}

func (c *cluster) signal(n *node, sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.cmd.Process != nil {
		n.cmd.Process.Signal(sig)
	}
}

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

func (c *cluster) stopAll() {
	for _, n := range c.nodes {
		if c.running(n) {
			c.signal(n, syscall.SIGKILL)
			<-n.exit
		}
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			c.dumpLog(n)
		}
	}
}

// dumpLog prints the tail of a node's log to the test output.
func (c *cluster) dumpLog(n *node) {
	f, err := os.Open(n.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 60 {
			lines = lines[1:]
		}
	}
	c.t.Logf("---- node %d log tail (%s)", n.id, n.logPath)
	for _, l := range lines {
		c.t.Log(l)
	}
}

// client returns a go-redis client for n with short timeouts and no retries,
// so that each call is one attempt.
func (c *cluster) client(n *node) *redis.Client {
	rc := redis.NewClient(&redis.Options{
		Addr:         n.addr(),
		DialTimeout:  time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 2 * time.Second,
		MaxRetries:   -1,
	})
	c.t.Cleanup(func() { rc.Close() })
	return rc
}

// info returns n's INFO section as key/value pairs.
func (c *cluster) info(n *node, section string) (map[string]string, error) {
	rc := redis.NewClient(&redis.Options{Addr: n.addr(), DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, MaxRetries: -1})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := rc.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			kv[k] = v
		}
	}
	return kv, nil
}

// leader returns the node that says it is leader, or nil.
func (c *cluster) leader() *node {
	for _, n := range c.nodes {
		if !c.running(n) {
			continue
		}
		kv, err := c.info(n, "raft")
		if err == nil && kv["raft_role"] == "leader" {
			return n
		}
	}
	return nil
}

// waitLeader waits until some node is leader and a write through it
// succeeds, and returns that node.
func (c *cluster) waitLeader(within time.Duration) *node {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l := c.leader(); l != nil {
			rc := redis.NewClient(&redis.Options{Addr: l.addr(), MaxRetries: -1, ReadTimeout: 2 * time.Second})
			err := rc.Set(context.Background(), "__e2e_probe", "1", 0).Err()
			rc.Close()
			if err == nil {
				return l
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range c.nodes {
		c.dumpLog(n)
	}
	c.t.Fatalf("no leader serving writes within %v", within)
	return nil
}

// followers returns the running nodes other than l.
func (c *cluster) followers(l *node) []*node {
	var out []*node
	for _, n := range c.nodes {
		if n != l && c.running(n) {
			out = append(out, n)
		}
	}
	return out
}
