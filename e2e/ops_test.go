package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/internal/testproc"
)

// loadStats is what a steady write load saw: every acknowledged write, the
// longest single request, and when each write was acknowledged.
type loadStats struct {
	mu          sync.Mutex
	acked       map[string]string
	failed      map[string]int // by kind: the node was down, or an error reply
	longest     time.Duration  // the longest wait of any one request, acknowledged or not
	longestWhat string
	ackTimes    []time.Time // when each acknowledgement came, for the gaps
}

// record notes one request that started at start and ended now.
func (s *loadStats) record(n *node, key, val string, start time.Time, err error) {
	now := time.Now()
	took := now.Sub(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	if took > s.longest {
		s.longest = took
		s.longestWhat = fmt.Sprintf("SET %s on node %d at %s: %v", key, n.ID, start.Format("15:04:05.000"), err)
	}
	if err != nil {
		kind := "error reply"
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			kind = "node down"
		} else {
			kind = "error reply " + strings.Fields(err.Error())[0]
		}
		s.failed[kind]++
		return
	}
	s.acked[key] = val
	s.ackTimes = append(s.ackTimes, now)
}

// longestGap returns the longest time within [from, to] without an
// acknowledged write.
func (s *loadStats) longestGap(from, to time.Time) time.Duration {
	s.mu.Lock()
	times := slices.Clone(s.ackTimes)
	s.mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	last := from
	for _, at := range times {
		if at.Before(from) || at.After(to) {
			continue
		}
		gap = max(gap, at.Sub(last))
		last = at
	}
	return max(gap, to.Sub(last))
}

// steadyLoad runs clients writers until ctx is done. Each writer sends one
// SET of a unique key at a time to the nodes in turn and moves on to the
// next node after a failure, as a client library with a node list does.
// The clients' own timeouts are far above the bar, so that a long wait is
// measured rather than cut short.
func steadyLoad(ctx context.Context, c *cluster, clients int, stats *loadStats) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rcs := make([]*redis.Client, len(c.Procs))
			for i, n := range c.Procs {
				rcs[i] = redis.NewClient(&redis.Options{
					Addr: n.ClientAddr, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 5 * time.Second,
					// One attempt per call, and one dial: go-redis's own
					// dial retries (5, 100 ms apart) would measure the
					// library's back-off against a stopped node, not the
					// cluster.
					MaxRetries: -1, DialerRetries: 1, PoolSize: 1,
				})
				defer rcs[i].Close()
			}
			target := w % len(rcs)
			for seq := 0; ctx.Err() == nil; seq++ {
				key := fmt.Sprintf("roll:%d:%d", w, seq)
				val := fmt.Sprintf("v%d", seq)
				start := time.Now()
				err := rcs[target].Set(context.Background(), key, val, 0).Err()
				stats.record(c.Procs[target], key, val, start, err)
				if err != nil {
					target = (target + 1) % len(rcs)
				}
			}
		}()
	}
	return &wg
}

// TestRollingRestartUnderLoad: every node of a 3-node cluster, the leader
// included, is stopped with SIGTERM and started again, one after the other,
// while clients write. No acknowledged write is lost, and no client request
// waits as long as an election timeout (issue 7).
func TestRollingRestartUnderLoad(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	stats := &loadStats{acked: map[string]string{}, failed: map[string]int{}}
	ctx, stopLoad := context.WithTimeout(context.Background(), 90*time.Second)
	defer stopLoad()
	loadStart := time.Now()
	load := steadyLoad(ctx, c, 4, stats)

	const downTime = 2 * testproc.ElectionTimeout
	settle := func() {
		// A stretch of steady load between restarts, so that each
		// restart's gap is measured from a healthy cluster.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	settle()
	restarted := map[*node]bool{}
	leaderRestarted := false
	for round := 0; round < len(c.Procs); round++ {
		l := c.RequireLeader(10 * time.Second)
		// Restart a follower first, then the leader, then the last one.
		var n *node
		for _, cand := range c.Procs {
			if !restarted[cand] && (cand == l) == (round == 1) {
				n = cand
				break
			}
		}
		if n == nil { // the leader was restarted already: any node left
			for _, cand := range c.Procs {
				if !restarted[cand] {
					n = cand
					break
				}
			}
		}
		restarted[n] = true
		wasLeader := n == l
		leaderRestarted = leaderRestarted || wasLeader
		from := time.Now()
		if err := n.Term(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		exited := time.Since(from)
		// Down for longer than an election timeout, as a node being
		// upgraded is: the others must not wait for it.
		time.Sleep(downTime)
		startedAt := time.Now()
		c.start(n)
		if err := c.WaitCaughtUp(context.Background(), n, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		caughtUp := time.Since(startedAt)
		settle()
		t.Logf("restart %d at %s: node %d (leader %v): exited %v after SIGTERM, down %v, serving and caught up %v after its start; longest gap between acknowledged writes %v",
			round+1, from.Format("15:04:05.000"), n.ID, wasLeader, exited.Round(time.Millisecond), downTime, caughtUp.Round(time.Millisecond), stats.longestGap(from, time.Now()).Round(time.Millisecond))
	}
	stopLoad()
	load.Wait()
	loadTook := time.Since(loadStart)
	if !leaderRestarted {
		t.Errorf("no restarted node was the leader when it got SIGTERM: the test did not test the hand-off")
	}

	stats.mu.Lock()
	acked, failed, longest, longestWhat := len(stats.acked), maps.Clone(stats.failed), stats.longest, stats.longestWhat
	stats.mu.Unlock()
	t.Logf("each node down %v; load: %d writes acknowledged, failed %v, in %v; longest wait of one request %v (%s); election timeout %v",
		downTime, acked, failed, loadTook.Round(time.Millisecond), longest.Round(time.Millisecond), longestWhat, testproc.ElectionTimeout)
	if acked == 0 {
		t.Fatalf("no write was acknowledged")
	}
	if longest >= testproc.ElectionTimeout {
		t.Errorf("a client request waited %v (%s): the bar is under one election timeout (%v)", longest, longestWhat, testproc.ElectionTimeout)
	}
	for _, n := range c.Procs {
		checkAcked(t, c, n, stats.acked)
	}
}

// checkAcked reads every acknowledged key from n, in pipelines.
func checkAcked(t *testing.T, c *cluster, n *node, acked map[string]string) {
	t.Helper()
	const batchMax = 1000
	rc := c.client(n)
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	missing := 0
	for batch := range slices.Chunk(keys, batchMax) {
		pipe := rc.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.Get(context.Background(), k)
		}
		if _, err := pipe.Exec(context.Background()); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("node %d: reading acknowledged writes back: %v", n.ID, err)
		}
		for i, cmd := range cmds {
			if got, err := cmd.Result(); err != nil || got != acked[batch[i]] {
				missing++
				if missing <= 5 {
					t.Errorf("node %d: acknowledged %s=%s, read %q, %v", n.ID, batch[i], acked[batch[i]], got, err)
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("node %d: %d of %d acknowledged writes missing", n.ID, missing, len(acked))
	}
}

// Bounds of TestBoundedDiskAndRestart.
const (
	diskSnapshotThreshold = 1000     // entries: --snapshot-threshold of the test
	snapshotLogBytes      = 64 << 20 // server: snapshotLogBytesDefault, the other trigger
	walSegmentBytes       = 4 << 20  // wal: segmentBytesDefault
	snapshotsKept         = 2        // wal: SnapshotOptions.Keep default
	restartServeMax       = 10 * time.Second
	restartServeGoal      = 2 * time.Second // issue 6
)

// TestBoundedDiskAndRestart: 1 M pipelined writes (100 k with -short) over
// 100 k keys to a 3-node cluster with a small snapshot threshold (issue 7:
// the defaults, 100 k entries or 64 MiB of entry data, would take no
// snapshot in 1 M pipelined writes, a pipeline being one entry: the bound
// would be the whole history). Each node's data directory stays under
//
//	(snapshotsKept+1) × S           the kept snapshots and one being written
//	+ 2 × 1.1 × threshold × E       the log: a snapshot's worth of entries
//	                                plus the kept tail (≤ a quarter of it),
//	                                twice over, because writes go on while a
//	                                snapshot is written and the log is cut
//	                                only after it
//	+ 3 × 4 MiB                     WAL segments: the log is cut by whole
//	                                segments, the tail is preallocated, and
//	                                one zero-filled segment is kept ready
//	+ 1 MiB                         hard state, log meta, slack
//
// where S is the largest snapshot file seen and E the bytes of one entry.
// And a node restarted on that data (SIGTERM, then kill -9) serves again
// within restartServeMax.
func TestBoundedDiskAndRestart(t *testing.T) {
	writes, loadMax := 1_000_000, 4*time.Minute
	if testing.Short() {
		writes, loadMax = 100_000, time.Minute
	}
	const (
		clients       = 8
		pipelineDepth = 50
		valueBytes    = 100
		keys          = 100_000 // each written writes/keys times: the history outgrows the data
	)
	c := newCluster(t, clusterOptions{extra: []string{"--snapshot-threshold", strconv.Itoa(diskSnapshotThreshold)}})
	value := strings.Repeat("v", valueBytes)

	// Sample every node's data directory while the load runs.
	var sampleMu sync.Mutex
	peak := make([]int64, len(c.Procs))
	peakLargestSnap := int64(0)
	sample := func() {
		for i, n := range c.Procs {
			total, largestSnap := dirBytes(n.Dir)
			sampleMu.Lock()
			peak[i] = max(peak[i], total)
			peakLargestSnap = max(peakLargestSnap, largestSnap)
			sampleMu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadMax)
	defer cancel()
	samplerDone := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	var next atomic.Int64 // the next key to write
	var acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	l := c.RequireLeader(10 * time.Second)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Clients spread over the leader and the followers (a
			// follower forwards), as an application's would.
			rc := redis.NewClient(&redis.Options{Addr: c.Procs[w%len(c.Procs)].ClientAddr, ReadTimeout: 10 * time.Second, MaxRetries: -1, PoolSize: 1})
			defer rc.Close()
			for ctx.Err() == nil {
				first := next.Add(pipelineDepth) - pipelineDepth
				if first >= int64(writes) {
					return
				}
				pipe := rc.Pipeline()
				for k := first; k < min(first+pipelineDepth, int64(writes)); k++ {
					pipe.Set(ctx, diskKey(k%keys), value, 0)
				}
				cmds, err := pipe.Exec(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("pipeline from key %d: %w", first, err)
					}
					return
				}
				acked.Add(int64(len(cmds)))
			}
		}()
	}
	wg.Wait()
	loadTook := time.Since(start)
	close(stopSampling)
	<-samplerDone
	sample()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	done := acked.Load()
	t.Logf("load: %d of %d writes acknowledged in %v (%.0f writes/s), %d clients, pipelines of %d", done, writes, loadTook.Round(time.Millisecond), float64(done)/loadTook.Seconds(), clients, pipelineDepth)
	if done < int64(writes) {
		t.Errorf("only %d of %d writes within %v", done, writes, loadMax)
	}

	// The bound, and what the history would take.
	setBytes := int64(len(fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(diskKey(0)), diskKey(0), valueBytes, value)))
	entryBytes := pipelineDepth*setBytes + 64 // + the entry's own framing and the WAL record's
	logBound := 2 * min(snapshotLogBytes, (diskSnapshotThreshold+diskSnapshotThreshold/10)*entryBytes)
	bound := (snapshotsKept+1)*peakLargestSnap + logBound + 3*walSegmentBytes + 1<<20
	historyBytes := done / pipelineDepth * entryBytes
	for i, n := range c.Procs {
		snaps, _ := filepath.Glob(filepath.Join(n.Dir, "snapshots", "*.snap"))
		t.Logf("node %d: peak data dir %.1f MiB (bound %.1f MiB = %d × largest snapshot %.1f MiB + log %.1f MiB + segments %.1f MiB + 1 MiB; the whole history's log would be %.1f MiB); %d snapshot files now",
			n.ID, mib(peak[i]), mib(bound), snapshotsKept+1, mib(peakLargestSnap), mib(logBound), mib(3*walSegmentBytes), mib(historyBytes), len(snaps))
		if peak[i] > historyBytes/2 && !testing.Short() {
			t.Errorf("node %d: data dir peaked at %.1f MiB, more than half the history's %.1f MiB: it is not bounded by the data", n.ID, mib(peak[i]), mib(historyBytes))
		}
		if peak[i] > bound {
			t.Errorf("node %d: data dir peaked at %.1f MiB, above the bound %.1f MiB", n.ID, mib(peak[i]), mib(bound))
		}
		if !testing.Short() && len(snaps) == 0 {
			t.Errorf("node %d took no snapshot in %d writes: the bound was not tested", n.ID, done)
		}
	}

	// Restart a follower on that data: cleanly, then after kill -9.
	f := c.Followers(l)[0]
	for _, how := range []string{"SIGTERM", "kill -9"} {
		if how == "SIGTERM" {
			if err := f.Term(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		} else {
			f.Kill()
		}
		started := time.Now()
		c.start(f)
		if err := c.WaitAnswering(context.Background(), f, 2*restartServeMax); err != nil {
			t.Fatal(err)
		}
		answering := time.Since(started)
		if err := c.WaitCaughtUp(context.Background(), f, 2*restartServeMax); err != nil {
			t.Fatal(err)
		}
		serving := time.Since(started)
		t.Logf("restart after %s of node %d with %d keys (%d writes): answers PING %v after its start, has applied the leader's commit index %v after (issue 6's goal: %v)",
			how, f.ID, min(done, keys), done, answering.Round(time.Millisecond), serving.Round(time.Millisecond), restartServeGoal)
		if serving > restartServeMax {
			t.Errorf("node %d served again %v after its start (%s), above %v", f.ID, serving, how, restartServeMax)
		}
	}
	// What it serves is the data: a sample of keys, and the key count.
	rc := c.client(f)
	if n, err := rc.DBSize(context.Background()).Result(); err != nil || n < min(done, keys) {
		t.Errorf("node %d after restart: DBSIZE %d, %v; want at least %d", f.ID, n, err, min(done, keys))
	}
	for k := int64(0); k < min(done, keys); k += keys / 100 {
		if got, err := rc.Get(context.Background(), diskKey(k)).Result(); err != nil || got != value {
			t.Errorf("node %d after restart: GET %s = %q, %v", f.ID, diskKey(k), got, err)
		}
	}
}

func diskKey(k int64) string { return fmt.Sprintf("disk:%07d", k) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// dirBytes returns the bytes of the files under dir, and of the largest
// snapshot file among them. Files may vanish while it walks (compaction,
// snapshot rotation): they no longer count.
func dirBytes(dir string) (total, largestSnap int64) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		total += info.Size()
		if strings.HasSuffix(path, ".snap") {
			largestSnap = max(largestSnap, info.Size())
		}
		return nil
	})
	return total, largestSnap
}
