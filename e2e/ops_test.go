package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
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
