package kvsm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// replicaSet applies the same log to several stores, as Raft would, and lets
// one of them play the leader that chooses evictions.
type replicaSet struct {
	t      *testing.T
	stores []*Store
	index  uint64
	nowMs  int64
}

func newReplicaSet(t *testing.T, n int, cfg EvictionConfig) *replicaSet {
	t.Helper()
	rs := &replicaSet{t: t, nowMs: testNowMs}
	for i := 0; i < n; i++ {
		s, err := NewStore(Options{Seed: uint64(100 + i)})
		if err != nil {
			t.Fatal(err)
		}
		s.SetEvictionConfig(cfg)
		rs.stores = append(rs.stores, s)
	}
	return rs
}

// apply appends one entry holding cmds to every store's log and returns the
// first store's replies (all must agree, which Digest checks later).
func (rs *replicaSet) apply(cmds ...Command) []Reply {
	rs.t.Helper()
	rs.index++
	data := AppendBatch(nil, cmds)
	var first []Reply
	for i, s := range rs.stores {
		res := s.Apply([]consensus.Entry{{Term: 1, Index: rs.index, TimeMs: rs.nowMs, Data: data}})
		if i == 0 {
			first = res[0].([]Reply)
		}
	}
	return first
}

func (rs *replicaSet) do(db int, words ...string) Reply {
	rs.t.Helper()
	return rs.apply(Command{DB: db, Args: toArgs(words)})[0]
}

// read serves a read on one node only, as a client connected to it would.
func (rs *replicaSet) read(node int, words ...string) Reply {
	replies := make([]Reply, 1)
	rs.stores[node].ExecShared([]Command{{Args: toArgs(words)}}, rs.nowMs, replies)
	return replies[0]
}

// evict lets node leader choose victims and replicates them; it returns
// the number of keys evicted.
func (rs *replicaSet) evict(leader int) int64 {
	rs.t.Helper()
	var n int64
	for round := 0; round < 100; round++ {
		cmds := rs.stores[leader].EvictionCommands(rs.nowMs, 64)
		if len(cmds) == 0 {
			return n
		}
		for _, r := range rs.apply(cmds...) {
			n += r.Int
		}
	}
	rs.t.Fatal("eviction did not converge in 100 rounds")
	return n
}

func (rs *replicaSet) exists(node, db int, key string) bool {
	return rs.stores[node].Exec(Command{DB: db, Args: toArgs([]string{"EXISTS", key})}, rs.nowMs).Int == 1
}

func (rs *replicaSet) checkIdentical() {
	rs.t.Helper()
	d0, m0 := rs.stores[0].Digest(), rs.stores[0].UsedMemory()
	for i, s := range rs.stores[1:] {
		if d, m := s.Digest(), s.UsedMemory(); d != d0 || m != m0 {
			rs.t.Fatalf("replica %d: digest %x memory %d, replica 0: %x %d", i+1, d, m, d0, m0)
		}
	}
}

// TestEvictionPolicies loads volatile keys v:* (deadlines in key order) and
// persistent keys p:*, makes the first ten of each hot (read often, on the
// leader), lowers maxmemory by 30% and lets the leader evict; then checks
// what each policy promises.
func TestEvictionPolicies(t *testing.T) {
	const keys = 200
	cases := []struct {
		policy Policy
		// check inspects the survivors and the evicted keys.
		check func(t *testing.T, survived, evicted []string)
	}{
		{PolicyAllKeysLRU, checkHotSurvive},
		{PolicyAllKeysLFU, checkHotSurvive},
		{PolicyAllKeysRandom, func(t *testing.T, survived, evicted []string) {}},
		{PolicyVolatileLRU, func(t *testing.T, survived, evicted []string) {
			checkOnlyVolatile(t, evicted)
			checkHotSurvive(t, survived, evicted)
		}},
		{PolicyVolatileLFU, func(t *testing.T, survived, evicted []string) {
			checkOnlyVolatile(t, evicted)
			checkHotSurvive(t, survived, evicted)
		}},
		{PolicyVolatileRandom, func(t *testing.T, survived, evicted []string) { checkOnlyVolatile(t, evicted) }},
		{PolicyVolatileTTL, func(t *testing.T, survived, evicted []string) {
			checkOnlyVolatile(t, evicted)
			// v:i expires at i seconds: every evicted one before every
			// surviving one.
			maxEvicted, minSurvived := -1, keys
			for _, k := range evicted {
				var i int
				fmt.Sscanf(k, "v:%d", &i)
				maxEvicted = max(maxEvicted, i)
			}
			for _, k := range survived {
				var i int
				if n, _ := fmt.Sscanf(k, "v:%d", &i); n == 1 {
					minSurvived = min(minSurvived, i)
				}
			}
			if maxEvicted > minSurvived {
				t.Errorf("volatile-ttl evicted v:%d but kept v:%d, whose deadline is nearer", maxEvicted, minSurvived)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.policy.String(), func(t *testing.T) {
			cfg := DefaultEvictionConfig()
			cfg.Policy = tc.policy
			rs := newReplicaSet(t, 2, cfg)
			for i := 0; i < keys; i++ {
				rs.do(0, "SET", fmt.Sprintf("v:%d", i), strings.Repeat("x", 40), "EX", fmt.Sprint(1000+i))
				rs.do(0, "SET", fmt.Sprintf("p:%d", i), strings.Repeat("x", 40))
			}
			rs.nowMs += 5000
			for r := 0; r < 50; r++ {
				for i := 0; i < 10; i++ {
					rs.read(0, "GET", fmt.Sprintf("v:%d", i))
					rs.read(0, "GET", fmt.Sprintf("p:%d", i))
				}
			}
			full := rs.stores[0].UsedMemory()
			cfg.MaxMemoryBytes = full * 7 / 10
			for _, s := range rs.stores {
				s.SetEvictionConfig(cfg)
			}
			// Reads count only once a limit is set (tracksReads): read
			// the hot keys again now.
			for r := 0; r < 50; r++ {
				rs.nowMs++
				for i := 0; i < 10; i++ {
					rs.read(0, "GET", fmt.Sprintf("v:%d", i))
					rs.read(0, "GET", fmt.Sprintf("p:%d", i))
				}
			}
			n := rs.evict(0)
			if n == 0 {
				t.Fatal("nothing evicted")
			}
			if used := rs.stores[0].UsedMemory(); used > cfg.MaxMemoryBytes {
				t.Fatalf("used %d after eviction, limit %d", used, cfg.MaxMemoryBytes)
			}
			if got := rs.stores[1].Stats().EvictedKeys; got != uint64(n) {
				t.Errorf("follower counts %d evicted keys, want %d", got, n)
			}
			rs.checkIdentical()
			var survived, evicted []string
			for i := 0; i < keys; i++ {
				for _, k := range []string{fmt.Sprintf("v:%d", i), fmt.Sprintf("p:%d", i)} {
					if rs.exists(0, 0, k) {
						survived = append(survived, k)
					} else {
						evicted = append(evicted, k)
					}
				}
			}
			tc.check(t, survived, evicted)
		})
	}
}

func checkHotSurvive(t *testing.T, survived, evicted []string) {
	t.Helper()
	for _, k := range evicted {
		var i int
		fmt.Sscanf(k[2:], "%d", &i)
		if i < 10 {
			t.Errorf("hot key %s was evicted (%d evicted)", k, len(evicted))
		}
	}
}

func checkOnlyVolatile(t *testing.T, evicted []string) {
	t.Helper()
	for _, k := range evicted {
		if !strings.HasPrefix(k, "v:") {
			t.Errorf("a volatile policy evicted %s, which has no TTL", k)
		}
	}
}

// TestEvictionSamplingIsDeterministic: two stores with the same seed, log
// and reads choose the same victims; another seed chooses others.
func TestEvictionSamplingIsDeterministic(t *testing.T) {
	choose := func(seed uint64, policy Policy) []byte {
		s, err := NewStore(Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultEvictionConfig()
		cfg.Policy = policy
		s.SetEvictionConfig(cfg)
		ts := &testStore{t: t, s: s, nowMs: testNowMs}
		for i := 0; i < 300; i++ {
			ts.nowMs += 10
			ts.do(fmt.Sprintf("SET key:%d %s PX %d", i, strings.Repeat("y", i%50+1), 100000+i*7%13))
		}
		cfg.MaxMemoryBytes = s.UsedMemory() / 2
		s.SetEvictionConfig(cfg)
		return AppendBatch(nil, s.EvictionCommands(ts.nowMs, 1000))
	}
	for _, p := range []Policy{PolicyAllKeysLRU, PolicyAllKeysLFU, PolicyAllKeysRandom, PolicyVolatileLRU, PolicyVolatileRandom, PolicyVolatileTTL} {
		a, b := choose(7, p), choose(7, p)
		if len(a) < 10 || !bytes.Equal(a, b) {
			t.Errorf("%v: same seed, different victims (%d and %d bytes)", p, len(a), len(b))
		}
		if p == PolicyAllKeysRandom || p == PolicyVolatileRandom {
			if bytes.Equal(a, choose(8, p)) {
				t.Errorf("%v: another seed chose the same victims", p)
			}
		}
	}
}

// TestEvictedKeyRewrittenSurvives: an eviction decided before a write of
// the same key (both in flight) leaves the new value alone.
func TestEvictedKeyRewrittenSurvives(t *testing.T) {
	cfg := DefaultEvictionConfig()
	cfg.Policy = PolicyAllKeysRandom
	rs := newReplicaSet(t, 2, cfg)
	rs.do(0, "SET", "a", strings.Repeat("x", 100))
	cfg.MaxMemoryBytes = 1
	rs.stores[0].SetEvictionConfig(cfg)
	cmds := rs.stores[0].EvictionCommands(rs.nowMs, 10)
	if len(cmds) != 1 {
		t.Fatalf("EvictionCommands = %v, want one command", cmds)
	}
	rs.do(0, "SET", "a", "new")
	if r := rs.apply(cmds...); r[0].Int != 0 {
		t.Fatalf("evicted %d keys, want 0: the key was rewritten after the decision", r[0].Int)
	}
	if r := rs.read(1, "GET", "a"); string(r.Str) != "new" {
		t.Fatalf("GET a = %q, want \"new\"", r.Str)
	}
	rs.checkIdentical()
}

// TestReplicasIdenticalThroughEvictionsAndLeaderChange: three replicas
// apply a write load under allkeys-lru with evictions chosen by node 0,
// then by node 1 after a leader change (node 1 knows only the reads it
// served and the writes it applied); a fourth replica joins from a
// snapshot midway. All end identical, within the limit, and each leader
// keeps the key it serves reads of.
func TestReplicasIdenticalThroughEvictionsAndLeaderChange(t *testing.T) {
	cfg := DefaultEvictionConfig()
	cfg.Policy = PolicyAllKeysLRU
	cfg.MaxMemoryBytes = 40_000
	rs := newReplicaSet(t, 3, cfg)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			rs.nowMs += 7
			rs.do(i%3, "SET", fmt.Sprintf("key:%d", i), strings.Repeat("z", i%64))
			if i%5 == 0 {
				rs.do(0, "HSET", fmt.Sprintf("h:%d", i%40), "f", fmt.Sprint(i))
			}
			for node := range rs.stores {
				rs.read(node, "GET", fmt.Sprintf("hot:%d", node)) // each node's own hot key
			}
			if i%10 == 0 {
				rs.evict(0)
			}
		}
	}
	for node := range rs.stores {
		rs.do(0, "SET", fmt.Sprintf("hot:%d", node), "v")
	}
	write(0, 600)
	if !rs.exists(0, 0, "hot:0") {
		t.Fatal("leader 0 evicted the key it served reads of")
	}
	// Reads served by followers are invisible to the leader: hot:1 may
	// have gone in the first phase. Write it again.
	rs.do(0, "SET", "hot:1", "v")
	// A replica joins from a snapshot of node 2.
	var buf bytes.Buffer
	view, err := rs.stores[2].Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := view.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	view.Close()
	joined := mustStore(t)
	joined.SetEvictionConfig(cfg)
	if err := joined.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	rs.stores = append(rs.stores, joined)
	// Leader change: node 1 chooses from now on.
	for i := 600; i < 1200; i++ {
		rs.nowMs += 7
		rs.do(0, "SET", fmt.Sprintf("key:%d", i), strings.Repeat("z", i%64))
		rs.read(1, "GET", "hot:1")
		if i%10 == 0 {
			rs.evict(1)
		}
	}
	rs.evict(1)
	rs.checkIdentical()
	if used := rs.stores[0].UsedMemory(); used > cfg.MaxMemoryBytes {
		t.Fatalf("used %d, limit %d", used, cfg.MaxMemoryBytes)
	}
	if ev := rs.stores[0].Stats().EvictedKeys; ev < 500 {
		t.Fatalf("%d keys evicted, want most of the 1200 written", ev)
	}
	if !rs.exists(1, 0, "hot:1") {
		t.Fatal("the new leader evicted the key it served reads of")
	}
}

// TestAdmission: noeviction over the limit refuses; volatile policies
// refuse when no key has a TTL; evicting policies ask to wait.
func TestAdmission(t *testing.T) {
	cases := []struct {
		policy   Policy
		volatile bool
		want     Admission
	}{
		{PolicyNoEviction, true, RefuseOOM},
		{PolicyAllKeysLRU, false, AdmitAfterEviction},
		{PolicyVolatileLRU, false, RefuseOOM},
		{PolicyVolatileTTL, true, AdmitAfterEviction},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v volatile=%v", tc.policy, tc.volatile), func(t *testing.T) {
			ts := newTestStore(t)
			cfg := DefaultEvictionConfig()
			cfg.Policy = tc.policy
			cfg.MaxMemoryBytes = 1000
			ts.s.SetEvictionConfig(cfg)
			if got := ts.s.Admission(); got != Admit {
				t.Fatalf("empty store: Admission = %v, want Admit", got)
			}
			for i := 0; i < 20; i++ {
				if tc.volatile {
					ts.do(fmt.Sprintf("SET k%d 0123456789 EX 100", i))
				} else {
					ts.do(fmt.Sprintf("SET k%d 0123456789", i))
				}
			}
			if got := ts.s.Admission(); got != tc.want {
				t.Fatalf("Admission = %v, want %v (used %d)", got, tc.want, ts.s.UsedMemory())
			}
			select {
			case <-ts.s.OverLimit():
			default:
				t.Fatal("no over-limit signal after an Apply above maxmemory")
			}
		})
	}
}

// TestObjectFreqIdletime: OBJECT FREQ and IDLETIME answer under the
// policies where Redis answers them, with Redis's errors elsewhere, and do
// not count as accesses.
func TestObjectFreqIdletime(t *testing.T) {
	ts := newTestStore(t)
	ts.do("SET k v")
	exec := func(cmd string) string {
		return fmtReply(ts.s.Exec(Command{Args: splitArgs(cmd)}, ts.nowMs+61_000), false)
	}
	if got := exec("OBJECT IDLETIME k"); got != ":61" {
		t.Errorf("OBJECT IDLETIME k = %s, want :61", got)
	}
	if got := exec("OBJECT FREQ k"); got != "-"+errNoLFU {
		t.Errorf("OBJECT FREQ under noeviction = %s", got)
	}
	if got := exec("OBJECT IDLETIME missing"); got != "(nil)" {
		t.Errorf("OBJECT IDLETIME missing = %s", got)
	}
	if got := exec("OBJECT NOPE k"); got != "-ERR unknown subcommand 'NOPE'. Try OBJECT HELP." {
		t.Errorf("OBJECT NOPE = %s", got)
	}
	if got := exec("OBJECT FREQ"); got != "-ERR wrong number of arguments for 'object|freq' command" {
		t.Errorf("OBJECT FREQ = %s", got)
	}
	cfg := DefaultEvictionConfig()
	cfg.Policy = PolicyAllKeysLFU
	cfg.MaxMemoryBytes = 1 << 30
	cfg.LFULogFactor = 0 // every access counts
	ts.s.SetEvictionConfig(cfg)
	if got := exec("OBJECT IDLETIME k"); got != "-"+errLFU {
		t.Errorf("OBJECT IDLETIME under LFU = %s", got)
	}
	for i := 0; i < 3; i++ {
		ts.s.Exec(Command{Args: splitArgs("GET k")}, ts.nowMs)
	}
	// Written with counter 5, three reads at factor 0, one minute of
	// decay at lfu-decay-time 1 (exec reads 61 s later).
	if got := exec("OBJECT FREQ k"); got != ":7" {
		t.Errorf("OBJECT FREQ k = %s, want :7", got)
	}
	if got := exec("OBJECT FREQ k"); got != ":7" {
		t.Errorf("OBJECT FREQ counted itself as an access: %s", got)
	}
}

// TestLFUCounter checks the logarithmic counter against Redis's figures:
// at lfu-log-factor 10, about a hundred hits reach 10 and a million 255.
func TestLFUCounter(t *testing.T) {
	rnd := uint64(1)
	hits := func(n, factor int) uint32 {
		c := uint32(lfuInitCounter)
		for i := 0; i < n; i++ {
			rnd = splitmix(rnd)
			c = lfuIncrement(c, factor, rnd)
		}
		return c
	}
	cases := []struct {
		hits, factor int
		lo, hi       uint32
	}{
		{100, 10, 8, 14},
		{1_000_000, 10, 240, 255},
		{100, 0, 105, 105},
		{1000, 0, 255, 255},
	}
	for _, tc := range cases {
		if got := hits(tc.hits, tc.factor); got < tc.lo || got > tc.hi {
			t.Errorf("%d hits at factor %d: counter %d, want %d..%d", tc.hits, tc.factor, got, tc.lo, tc.hi)
		}
	}
	if got := lfuCounter(lfuMinutes(0)<<8|10, 5*60_000, 2); got != 8 {
		t.Errorf("decay after 5 minutes at 2 min per step: %d, want 8", got)
	}
}

// TestAccessStampAheadIsRecent: a read stamped after the eviction took its
// clock (reads run concurrently) is recent, not 2^32 ticks (or 2^16
// minutes) old.
func TestAccessStampAheadIsRecent(t *testing.T) {
	now := testNowMs
	if idle := lruIdleMs(lruClock(now+50), now); idle != 0 {
		t.Errorf("LRU stamp 50 ms ahead: idle %d ms, want 0", idle)
	}
	if idle := lruIdleMs(lruClock(now-5000), now); idle != 5000 {
		t.Errorf("LRU stamp 5 s ago: idle %d ms, want 5000", idle)
	}
	ahead := lfuMinutes(now+60_000)<<8 | 9
	if c := lfuCounter(ahead, now, 1); c != 9 {
		t.Errorf("LFU stamp a minute ahead: counter %d, want 9", c)
	}
}
