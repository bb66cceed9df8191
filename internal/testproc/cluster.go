package testproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ElectionTimeout is the election timeout StartCluster gives its nodes;
// tests compare waits against it.
const ElectionTimeout = time.Second

// heartbeatIntervalMs is the heartbeat StartCluster gives its nodes.
const heartbeatIntervalMs = 100

// pollInterval is how often the waits below look again.
const pollInterval = 50 * time.Millisecond

// logTailLines is how much of each node's log a failed test prints.
const logTailLines = 60

// DialFunc opens a connection to a node's address (go-redis's Dialer).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Options say what StartCluster starts. Only Bin is required.
type Options struct {
	Bin       string   // the raftkv binary
	Size      int      // number of nodes; 3 if 0
	Dir       string   // data directories and logs; a t.TempDir() if ""
	ClusterID string   // --cluster-id; "test" if ""
	Extra     []string // more "--directive value" flags for every node, after the defaults

	// Addrs gives node id's client and raft addresses; nil: free ports on
	// 127.0.0.1.
	Addrs func(id int) (clientAddr, raftAddr string)
	// Wrap turns a node's command line into the one to run (for example
	// "ip netns exec ns ..."); nil: as it is.
	Wrap func(id int, argv []string) []string
	// Dial reaches the nodes from the test; nil: a plain net.Dialer.
	Dial DialFunc
	// ProbeKey is the key WaitLeader writes; "__testproc_probe" if "".
	ProbeKey string
	// ReadyWithin bounds StartCluster's wait for a leader; 20 s if 0.
	ReadyWithin time.Duration
}

// Cluster is a set of raftkv processes of one test. Procs is in id order
// for the nodes StartCluster started; AddNode and Add append to it.
type Cluster struct {
	Procs []*Proc

	t    testing.TB
	opts Options

	crashMu sync.Mutex
	crashes []string // exits nobody asked for
}

// NewCluster returns a cluster without processes, whose cleanup kills
// whatever is added to it and prints the log tails if the test failed.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = 3
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.ClusterID == "" {
		opts.ClusterID = "test"
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.ProbeKey == "" {
		opts.ProbeKey = "__testproc_probe"
	}
	if opts.ReadyWithin == 0 {
		opts.ReadyWithin = 20 * time.Second
	}
	c := &Cluster{t: t, opts: opts}
	t.Cleanup(c.StopAll)
	return c
}

// StartCluster starts opts.Size nodes that form one cluster and waits until
// a leader acknowledges a write; it fails the test if none does within
// opts.ReadyWithin.
func StartCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := NewCluster(t, opts)
	for id := 1; id <= c.opts.Size; id++ {
		c.Procs = append(c.Procs, c.newNode(id))
	}
	members := c.Members()
	for _, p := range c.Procs {
		c.setArgv(p, members)
		c.watch(p)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.RequireLeader(c.opts.ReadyWithin)
	return c
}

// newNode describes node id: its addresses, data directory and log.
func (c *Cluster) newNode(id int) *Proc {
	c.t.Helper()
	p := &Proc{
		ID:      id,
		Dir:     filepath.Join(c.opts.Dir, fmt.Sprintf("node%d", id)),
		LogPath: filepath.Join(c.opts.Dir, fmt.Sprintf("node%d.log", id)),
	}
	if c.opts.Addrs != nil {
		p.ClientAddr, p.RaftAddr = c.opts.Addrs(id)
	} else {
		ports := FreePorts(c.t, 2)
		p.ClientAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		p.RaftAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	}
	return p
}

// setArgv gives p the standard command line with --cluster members.
func (c *Cluster) setArgv(p *Proc, members string, extra ...string) {
	host, port, _ := net.SplitHostPort(p.ClientAddr)
	argv := []string{c.opts.Bin,
		"--port", port,
		"--bind", host,
		"--dir", p.Dir,
		"--node-id", strconv.Itoa(p.ID),
		"--raft-addr", p.RaftAddr,
		"--cluster", members,
		"--cluster-id", c.opts.ClusterID,
		"--election-timeout", strconv.Itoa(int(ElectionTimeout / time.Millisecond)),
		"--heartbeat-interval", strconv.Itoa(heartbeatIntervalMs),
	}
	argv = append(argv, c.opts.Extra...)
	argv = append(argv, extra...)
	if c.opts.Wrap != nil {
		argv = c.opts.Wrap(p.ID, argv)
	}
	p.Argv = argv
}

// watch makes c record p's unexpected exits.
func (c *Cluster) watch(p *Proc) {
	p.onUnexpectedExit = func(p *Proc, err error) {
		c.crashMu.Lock()
		defer c.crashMu.Unlock()
		c.crashes = append(c.crashes, fmt.Sprintf("node %d exited on its own at %s: %v (log %s)",
			p.ID, time.Now().Format("15:04:05.000"), err, p.LogPath))
	}
}

// Members returns the --cluster value naming every node of c:
// id=raft/client,...
func (c *Cluster) Members() string {
	var members []string
	for _, p := range c.Procs {
		if p.RaftAddr != "" {
			members = append(members, fmt.Sprintf("%d=%s/%s", p.ID, p.RaftAddr, p.ClientAddr))
		}
	}
	return strings.Join(members, ",")
}

// AddNode starts one more node, id, with the standard flags, --cluster
// members ("" means the nodes of c, this one included) and extra flags,
// and returns it without waiting for it to serve.
func (c *Cluster) AddNode(id int, members string, extra ...string) (*Proc, error) {
	c.t.Helper()
	p := c.newNode(id)
	c.Procs = append(c.Procs, p)
	if members == "" {
		members = c.Members()
	}
	c.setArgv(p, members, extra...)
	c.watch(p)
	return p, p.Start()
}

// Add starts a process the test described itself (its own command line)
// and makes it c's: killed at cleanup, its log printed on failure.
func (c *Cluster) Add(p *Proc) error {
	c.Procs = append(c.Procs, p)
	c.watch(p)
	return p.Start()
}

// StopAll kills every process (resuming paused ones first) and prints the
// log tails if the test failed. It is c's cleanup.
func (c *Cluster) StopAll() {
	for _, p := range c.Procs {
		if p.Running() {
			p.Kill()
		}
	}
	if c.t.Failed() {
		c.DumpLogs()
		for _, crash := range c.UnexpectedExits() {
			c.t.Log(crash)
		}
	}
}

// UnexpectedExits returns the exits the harness did not ask for.
func (c *Cluster) UnexpectedExits() []string {
	c.crashMu.Lock()
	defer c.crashMu.Unlock()
	return slices.Clone(c.crashes)
}

// Mark writes a line into every process's log.
func (c *Cluster) Mark(line string) {
	for _, p := range c.Procs {
		p.Mark(line)
	}
}

// DumpLogs prints the tail of every process's log to the test output.
func (c *Cluster) DumpLogs() {
	for _, p := range c.Procs {
		c.DumpLog(p)
	}
}

// DumpLog prints the tail of p's log to the test output.
func (c *Cluster) DumpLog(p *Proc) {
	c.t.Logf("---- node %d log tail (%s)", p.ID, p.LogPath)
	for _, l := range p.Tail(logTailLines) {
		c.t.Log(l)
	}
}

// Others returns c's processes other than p, running or not.
func (c *Cluster) Others(p *Proc) []*Proc {
	var out []*Proc
	for _, q := range c.Procs {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// Followers returns the running processes other than leader.
func (c *Cluster) Followers(leader *Proc) []*Proc {
	var out []*Proc
	for _, q := range c.Procs {
		if q != leader && q.Running() {
			out = append(out, q)
		}
	}
	return out
}

// Client returns a go-redis client of p with one connection and no
// retries, so that one call is one attempt, every step bounded by
// timeout. The caller closes it.
func (c *Cluster) Client(p *Proc, timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:            p.ClientAddr,
		Dialer:          c.opts.Dial,
		DialTimeout:     timeout,
		ReadTimeout:     timeout,
		WriteTimeout:    timeout,
		MaxRetries:      -1,
		PoolSize:        1,
		PoolTimeout:     timeout,
		DisableIdentity: true,
	})
}

// Info returns p's INFO section as fields.
func (c *Cluster) Info(ctx context.Context, p *Proc, section string) (map[string]string, error) {
	rc := c.Client(p, 500*time.Millisecond)
	defer rc.Close()
	s, err := rc.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s on node %d: %w", section, p.ID, err)
	}
	return ParseInfo(s), nil
}

// ParseInfo splits an INFO reply into fields; comment, blank and malformed
// lines are skipped.
func ParseInfo(s string) map[string]string {
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

// Leader returns the responsive process that says it leads, or nil.
func (c *Cluster) Leader(ctx context.Context) *Proc {
	for _, p := range c.Procs {
		if !p.Responsive() {
			continue
		}
		kv, err := c.Info(ctx, p, "raft")
		if err == nil && kv["raft_role"] == "leader" {
			return p
		}
	}
	return nil
}

// WaitLeader waits until a leader acknowledges a write of the probe key
// and returns it. The probe also gives a new leader the entry of its own
// term it needs before it can serve.
func (c *Cluster) WaitLeader(ctx context.Context, within time.Duration) (*Proc, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	lastErr := errors.New("no node says it leads")
	for {
		if l := c.Leader(ctx); l != nil {
			rc := c.Client(l, 2*time.Second)
			lastErr = rc.Set(ctx, c.opts.ProbeKey, "1", 0).Err()
			rc.Close()
			if lastErr == nil {
				return l, nil
			}
			lastErr = fmt.Errorf("probe write on leader %d: %w", l.ID, lastErr)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return nil, fmt.Errorf("no leader serving writes within %v: %w", within, lastErr)
		}
	}
}

// RequireLeader is WaitLeader that fails the test (printing the logs) when
// no leader serves in time.
func (c *Cluster) RequireLeader(within time.Duration) *Proc {
	c.t.Helper()
	l, err := c.WaitLeader(context.Background(), within)
	if err != nil {
		c.DumpLogs()
		c.t.Fatal(err)
	}
	return l
}

// WaitAnswering waits until p answers PING; it gives up early if p exits.
func (c *Cluster) WaitAnswering(ctx context.Context, p *Proc, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	rc := c.Client(p, 500*time.Millisecond)
	defer rc.Close()
	var lastErr error
	for {
		if lastErr = rc.Ping(ctx).Err(); lastErr == nil {
			return nil
		}
		if !p.Running() {
			return fmt.Errorf("node %d exited (code %d) before answering PING: %w", p.ID, p.ExitCode(), lastErr)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("node %d did not answer PING within %v: %w", p.ID, within, lastErr)
		}
	}
}

// WaitCaughtUp waits until p answers and has applied every entry the
// leader had committed when WaitCaughtUp was called (after its probe
// write, so that index is of the current term).
func (c *Cluster) WaitCaughtUp(ctx context.Context, p *Proc, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	l, err := c.WaitLeader(ctx, within)
	if err != nil {
		return fmt.Errorf("node %d catching up: %w", p.ID, err)
	}
	kv, err := c.Info(ctx, l, "raft")
	if err != nil {
		return fmt.Errorf("node %d catching up: %w", p.ID, err)
	}
	target, err := strconv.ParseUint(kv["raft_commit_index"], 10, 64)
	if err != nil {
		return fmt.Errorf("node %d catching up: leader %d commit index %q: %w", p.ID, l.ID, kv["raft_commit_index"], err)
	}
	lastErr := errors.New("not asked yet")
	for {
		kv, err := c.Info(ctx, p, "raft")
		if err != nil {
			lastErr = err
		} else if applied, err := strconv.ParseUint(kv["raft_applied_index"], 10, 64); err != nil {
			lastErr = fmt.Errorf("applied index %q: %w", kv["raft_applied_index"], err)
		} else if applied >= target {
			return nil
		} else {
			lastErr = fmt.Errorf("applied %d of %d", applied, target)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("node %d not caught up within %v: %w", p.ID, within, lastErr)
		}
	}
}

// sleep waits d or until ctx is done, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
