package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const evictTestMaxMemory = 200 << 10

// evictPolicyCase describes one policy's expectations in TestEvictionPolicies.
type evictPolicyCase struct {
	policy   string
	volatile bool // the load's keys get a TTL (increasing deadlines)
	hotKept  bool // keys read often on the leader must survive
}

// TestEvictionPolicies runs, for each policy, a write load through every
// node of a 3-node cluster whose maxmemory is 200 KiB, while a client
// reads a set of hot keys on the leader. Afterwards the accounted memory
// of every node is within the limit, what was evicted is what the policy
// says (LRU/LFU keep the hot keys, volatile-* touch only keys with a TTL,
// volatile-ttl the nearest deadlines first), every node counts the same
// evictions, and the replicas' DEBUG DIGESTs are equal.
func TestEvictionPolicies(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	cases := []evictPolicyCase{
		{policy: "allkeys-lru", hotKept: true},
		{policy: "allkeys-lfu", hotKept: true},
		{policy: "allkeys-random"},
		{policy: "volatile-lru", volatile: true, hotKept: true},
		{policy: "volatile-lfu", volatile: true, hotKept: true},
		{policy: "volatile-random", volatile: true},
		{policy: "volatile-ttl", volatile: true},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			l := c.RequireLeader(10 * time.Second)
			leader := c.client(l)
			c.configSetAll(t, "maxmemory", "0")
			if err := leader.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			c.configSetAll(t, "maxmemory-policy", tc.policy)
			c.configSetAll(t, "maxmemory-samples", "10")
			// Persistent keys (never evicted by volatile policies) and hot
			// keys (with a TTL far away when the policy is volatile).
			pipe := leader.Pipeline()
			for i := 0; i < 100; i++ {
				pipe.Set(ctx, fmt.Sprintf("persist:%d", i), strings.Repeat("p", 100), 0)
				ttl := time.Duration(0)
				if tc.volatile {
					ttl = 10 * time.Hour
				}
				pipe.Set(ctx, fmt.Sprintf("hot:%d", i), strings.Repeat("h", 100), ttl)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			c.configSetAll(t, "maxmemory", strconv.Itoa(evictTestMaxMemory))

			written := c.evictionLoad(t, leader, tc.volatile)

			c.waitWithinLimit(t)
			var survived, evicted []int
			for i := 0; i < written; i++ {
				if n, err := leader.Exists(ctx, fmt.Sprintf("load:%d", i)).Result(); err != nil {
					t.Fatal(err)
				} else if n == 1 {
					survived = append(survived, i)
				} else {
					evicted = append(evicted, i)
				}
			}
			if len(evicted) == 0 {
				t.Fatalf("nothing evicted of %d keys written", written)
			}
			t.Logf("%d load keys written, %d evicted", written, len(evicted))
			missing := func(prefix string) []string {
				var out []string
				for i := 0; i < 100; i++ {
					k := fmt.Sprintf("%s:%d", prefix, i)
					if n, _ := leader.Exists(ctx, k).Result(); n == 0 {
						out = append(out, k)
					}
				}
				return out
			}
			if tc.volatile {
				if m := missing("persist"); len(m) > 0 {
					t.Errorf("%s evicted keys without a TTL: %v", tc.policy, m)
				}
			}
			if tc.hotKept {
				if m := missing("hot"); len(m) > 0 {
					t.Errorf("%s evicted hot keys: %v", tc.policy, m)
				}
			}
			if tc.policy == "volatile-ttl" {
				// Deadlines increase with the load's index: the evicted
				// keys come before every survivor.
				if len(survived) > 0 && evicted[len(evicted)-1] > survived[0] {
					t.Errorf("volatile-ttl evicted load:%d but kept load:%d, whose deadline is nearer", evicted[len(evicted)-1], survived[0])
				}
			}
			c.checkReplicasIdentical(t)
		})
	}
}

// TestEvictionNoEvictionRefusesWrites: with noeviction, writes past the
// limit get Redis's OOM error on every node while reads and deletes still
// work, and every acknowledged write is kept.
func TestEvictionNoEvictionRefusesWrites(t *testing.T) {
	c := newCluster(t, clusterOptions{extra: []string{"--maxmemory", "64kb", "--maxmemory-policy", "noeviction"}})
	ctx := context.Background()
	var acked []string
	oom := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 2000 && oom < 20 && time.Now().Before(deadline); i++ {
		n := c.Procs[i%len(c.Procs)]
		key := fmt.Sprintf("k:%d", i)
		err := c.client(n).Set(ctx, key, strings.Repeat("v", 100), 0).Err()
		switch {
		case err == nil:
			acked = append(acked, key)
		case err.Error() == "OOM command not allowed when used memory > 'maxmemory'.":
			oom++
		default:
			t.Fatalf("SET %s on node %d: %v", key, n.ID, err)
		}
	}
	if oom == 0 {
		t.Fatalf("no OOM after %d writes", len(acked))
	}
	for _, n := range c.Procs {
		rc := c.client(n)
		// Other denyoom writes are refused too; reads are served.
		if err := rc.Incr(ctx, "counter").Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM ") {
			t.Errorf("INCR on node %d over the limit: %v, want OOM", n.ID, err)
		}
		if err := rc.HSet(ctx, "h", "f", "v").Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM ") {
			t.Errorf("HSET on node %d over the limit: %v, want OOM", n.ID, err)
		}
		for _, k := range acked {
			if v, err := rc.Get(ctx, k).Result(); err != nil || len(v) != 100 {
				t.Fatalf("GET %s on node %d = %d bytes, %v: an acknowledged write was lost", k, n.ID, len(v), err)
			}
		}
		info, err := c.Info(ctx, n, "memory")
		if err != nil {
			t.Fatal(err)
		}
		if info["maxmemory_policy"] != "noeviction" || info["maxmemory"] != "65536" {
			t.Errorf("node %d INFO memory: %v", n.ID, info)
		}
	}
	// A MULTI over the limit is refused when queued, and EXEC aborts.
	pipe := c.client(c.Procs[0]).TxPipeline()
	pipe.Set(ctx, "tx", "v", 0)
	if _, err := pipe.Exec(ctx); err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Errorf("MULTI SET EXEC over the limit: %v, want EXECABORT", err)
	}
	// Deleting makes room; the next write is admitted.
	f := c.Procs[1]
	if err := c.client(f).Del(ctx, acked[:len(acked)/2]...).Err(); err != nil {
		t.Fatalf("DEL over the limit: %v", err)
	}
	if err := c.client(f).Set(ctx, "after", "v", 0).Err(); err != nil {
		t.Fatalf("SET after DEL made room: %v", err)
	}
	for _, n := range c.Procs {
		info, err := c.Info(ctx, n, "stats")
		if err != nil {
			t.Fatal(err)
		}
		if info["evicted_keys"] != "0" {
			t.Errorf("node %d evicted %s keys under noeviction", n.ID, info["evicted_keys"])
		}
	}
	c.checkReplicasIdentical(t)
}

// evictionLoad writes load:0, load:1... (100-byte values, with increasing
// deadlines when volatile) in pipelines through every node in turn, while
// reading the hot keys on leader, for at most 15 s or 4000 keys. It returns
// the number of keys written.
func (c *cluster) evictionLoad(t *testing.T, leader *redis.Client, volatile bool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	const keys, perPipe = 4000, 50
	base := time.Now().Add(10 * time.Minute)
	written := 0
	for written < keys && ctx.Err() == nil {
		n := c.Procs[(written/perPipe)%len(c.Procs)]
		pipe := c.client(n).Pipeline()
		for j := 0; j < perPipe; j++ {
			k := fmt.Sprintf("load:%d", written+j)
			if volatile {
				pipe.Do(ctx, "SET", k, strings.Repeat("x", 100), "PXAT", base.Add(time.Duration(written+j)*time.Millisecond).UnixMilli())
			} else {
				pipe.Set(ctx, k, strings.Repeat("x", 100), 0)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("load pipeline through node %d: %v", n.ID, err)
		}
		written += perPipe
		hot := leader.Pipeline()
		for i := 0; i < 100; i++ {
			hot.Get(ctx, fmt.Sprintf("hot:%d", i))
		}
		if _, err := hot.Exec(ctx); err != nil && err != redis.Nil {
			t.Fatalf("hot reads: %v", err)
		}
	}
	return written
}

// configSetAll runs CONFIG SET name value on every node (it is local).
func (c *cluster) configSetAll(t *testing.T, name, value string) {
	t.Helper()
	for _, n := range c.Procs {
		if err := c.client(n).ConfigSet(context.Background(), name, value).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s on node %d: %v", name, value, n.ID, err)
		}
	}
}

// waitWithinLimit waits until every node's accounted memory is within its
// maxmemory (evictions are proposed asynchronously by the leader).
func (c *cluster) waitWithinLimit(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.Procs {
		for {
			info, err := c.Info(ctx, n, "memory")
			if err == nil {
				used, _ := strconv.ParseInt(info["used_memory"], 10, 64)
				limit, _ := strconv.ParseInt(info["maxmemory"], 10, 64)
				if used <= limit {
					break
				}
				err = fmt.Errorf("used_memory %d > maxmemory %d", used, limit)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("node %d: %v", n.ID, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// checkReplicasIdentical compares DEBUG DIGEST and evicted_keys across the
// nodes; an eviction applied between two nodes' answers makes it try again
// (at most 5 s).
func (c *cluster) checkReplicasIdentical(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var digests, evicted []string
		for _, n := range c.Procs {
			d, err := c.client(n).Do(ctx, "DEBUG", "DIGEST").Text()
			if err != nil {
				t.Fatalf("DEBUG DIGEST on node %d: %v", n.ID, err)
			}
			info, err := c.Info(ctx, n, "stats")
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, d)
			evicted = append(evicted, info["evicted_keys"])
		}
		same := true
		for i := range digests {
			same = same && digests[i] == digests[0] && evicted[i] == evicted[0]
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas differ: digests %v, evicted_keys %v", digests, evicted)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEvictionThroughLeaderChange: a write load runs through every node of
// a cluster over its maxmemory (allkeys-lru) while the leader is killed
// (kill -9) and restarted: the new leader takes over eviction, the old one
// catches up, and at the end every node is within the limit with the same
// keyspace and the same evicted_keys.
func TestEvictionThroughLeaderChange(t *testing.T) {
	c := newCluster(t, clusterOptions{extra: []string{"--maxmemory", "128kb", "--maxmemory-policy", "allkeys-lru"}})
	old := c.RequireLeader(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	loadDone := make(chan int)
	stopLoad := make(chan struct{})
	go func() {
		acked := 0
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				loadDone <- acked
				return
			case <-ctx.Done():
				loadDone <- acked
				return
			default:
			}
			n := c.Procs[i%len(c.Procs)]
			if !n.Running() {
				continue
			}
			rc := c.Client(n, time.Second)
			pipe := rc.Pipeline()
			for j := 0; j < 20; j++ {
				pipe.Set(ctx, fmt.Sprintf("lc:%d:%d", i, j), strings.Repeat("y", 100), 0)
			}
			if _, err := pipe.Exec(ctx); err == nil {
				acked += 20
			}
			rc.Close()
		}
	}()
	// Let the load pass the limit, then kill the leader mid-load.
	c.waitEvicted(t, old, 1)
	old.Kill()
	l := c.RequireLeader(10 * time.Second)
	// The new leader evicts: the count grows past what it had applied
	// of the old leader's evictions.
	info, err := c.Info(context.Background(), l, "stats")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := strconv.Atoi(info["evicted_keys"])
	c.waitEvicted(t, l, before)
	c.start(old)
	if err := c.WaitCaughtUp(context.Background(), old, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	close(stopLoad)
	acked := <-loadDone
	t.Logf("%d writes acknowledged; leader %d killed, %d took over", acked, old.ID, l.ID)
	for _, n := range c.Procs {
		if err := c.WaitCaughtUp(context.Background(), n, 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.waitWithinLimit(t)
	c.checkReplicasIdentical(t)
}

// waitEvicted waits until n's INFO stats counts more than after evicted
// keys (at most 10 s).
func (c *cluster) waitEvicted(t *testing.T, n *node, after int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if info, err := c.Info(ctx, n, "stats"); err == nil {
			if ev, _ := strconv.Atoi(info["evicted_keys"]); ev > after {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %d evicted no more than %d keys within 10 s", n.ID, after)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
