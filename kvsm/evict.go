package kvsm

import (
	"fmt"
	"strconv"
)

// Policy is a maxmemory-policy.
type Policy uint8

// The policies, as Redis names them.
const (
	PolicyNoEviction Policy = iota
	PolicyAllKeysLRU
	PolicyAllKeysLFU
	PolicyAllKeysRandom
	PolicyVolatileLRU
	PolicyVolatileLFU
	PolicyVolatileRandom
	PolicyVolatileTTL
)

var policyNames = [...]string{"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy returns the policy named name (as maxmemory-policy spells it).
func ParsePolicy(name string) (Policy, error) {
	for i, n := range policyNames {
		if n == name {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("kvsm: unknown maxmemory-policy %q", name)
}

func (p Policy) lfu() bool { return p == PolicyAllKeysLFU || p == PolicyVolatileLFU }
func (p Policy) lru() bool { return p == PolicyAllKeysLRU || p == PolicyVolatileLRU }
func (p Policy) volatile() bool {
	return p >= PolicyVolatileLRU && p <= PolicyVolatileTTL
}

// EvictionConfig is what the store needs of maxmemory and its companions.
// It is node-local (CONFIG SET changes one node, as in Redis): the limit and
// policy that count are the leader's, which decides evictions; the other
// nodes use theirs only to refuse writes (Admission) and to track reads.
type EvictionConfig struct {
	MaxMemoryBytes  int64 // 0: no limit
	Policy          Policy
	Samples         int // maxmemory-samples, keys sampled per database per pick
	LFULogFactor    int // lfu-log-factor
	LFUDecayTimeMin int // lfu-decay-time, minutes per counter decrement (0: never)
}

// DefaultEvictionConfig is Redis's defaults: no limit, noeviction.
func DefaultEvictionConfig() EvictionConfig {
	return EvictionConfig{Policy: PolicyNoEviction, Samples: 5, LFULogFactor: 10, LFUDecayTimeMin: 1}
}

// tracksReads: reads update access data only when victims are chosen by it
// (a limit and an LRU or LFU policy): otherwise a read would rewrite items
// for nothing. Writes always stamp it.
func (c *EvictionConfig) tracksReads() bool {
	return c.MaxMemoryBytes > 0 && (c.Policy.lru() || c.Policy.lfu())
}

// SetEvictionConfig installs cfg (out-of-range values are clamped to
// Redis's bounds). Safe on any goroutine; Apply and Exec see it from their
// next call.
func (s *Store) SetEvictionConfig(cfg EvictionConfig) {
	cfg.MaxMemoryBytes = max(cfg.MaxMemoryBytes, 0)
	cfg.Samples = min(max(cfg.Samples, 1), evictSamplesMax)
	cfg.LFULogFactor = max(cfg.LFULogFactor, 0)
	cfg.LFUDecayTimeMin = max(cfg.LFUDecayTimeMin, 0)
	s.evictCfg.Store(&cfg)
}

// EvictionConfig returns the configuration in force. Safe on any goroutine.
func (s *Store) EvictionConfig() EvictionConfig { return *s.evictCfg.Load() }

// evictSamplesMax bounds maxmemory-samples' use here: a pick never walks
// more than this many keys per database.
const evictSamplesMax = 64

// evictPoolSize is the number of best candidates kept between picks
// (Redis's EVPOOL_SIZE).
const evictPoolSize = 16

// poolEntry is a sampled eviction candidate: the higher score, the better a
// victim.
type poolEntry struct {
	score    uint64
	db       int
	key      string // a copy: the pool outlives the items
	modIndex uint64
}

// Admission tells a node's front end what to do with a write that may grow
// memory (a denyoom command). Safe on any goroutine: it reads the
// replicated accounted memory (as of this node's last Apply) and the local
// configuration.
type Admission uint8

const (
	// Admit: under the limit, or no limit.
	Admit Admission = iota
	// AdmitAfterEviction: over the limit, and the policy can evict: the
	// leader's evictor is making room; the caller may wait for it.
	AdmitAfterEviction
	// RefuseOOM: over the limit and nothing can be evicted (noeviction,
	// a volatile policy without volatile keys, or no keys at all).
	RefuseOOM
)

// Admission reports whether a denyoom write may proceed now. Under the
// limit it costs two atomic loads and a compare.
func (s *Store) Admission() Admission {
	cfg := s.evictCfg.Load()
	if cfg.MaxMemoryBytes == 0 || s.usedBytes.Load() <= cfg.MaxMemoryBytes {
		return Admit
	}
	if cfg.Policy == PolicyNoEviction {
		return RefuseOOM
	}
	for _, d := range s.dbs {
		n := d.keyCount.Load()
		if cfg.Policy.volatile() {
			n = d.expireCount.Load()
		}
		if n > 0 {
			return AdmitAfterEviction
		}
	}
	return RefuseOOM
}

// EvictionCommands picks victims under the configuration in force until
// the accounted memory, less what they hold, would be at or below the limit
// (minus a hysteresis of 1/64 of it, so that a write load does not trigger
// one proposal per write), or victimsMax keys were picked. It returns the
// evict commands to propose (one per database that has victims), nil when
// under the limit or when nothing can be evicted. Only the leader calls it,
// on the applier goroutine (after a ReadIndex), with its wall clock.
//
// Sampling follows Redis: LRU and LFU sample cfg.Samples keys per database
// (all keys, or the volatile ones) into a pool of the 16 best candidates
// that persists between calls and hand out the best; random picks uniformly
// among the databases' keys; volatile-ttl takes the nearest deadlines
// exactly, from the deadline index.
func (s *Store) EvictionCommands(nowMs int64, victimsMax int) []Command {
	cfg := s.evictCfg.Load()
	var used int64
	for _, d := range s.dbs {
		used += d.mem
	}
	if cfg.MaxMemoryBytes == 0 || used <= cfg.MaxMemoryBytes || cfg.Policy == PolicyNoEviction {
		return nil
	}
	target := cfg.MaxMemoryBytes - cfg.MaxMemoryBytes/64
	picked := map[pickedKey]bool{}
	ttlAfter := make([]*deadline, len(s.dbs)) // volatile-ttl: each database's last pick
	perDB := map[int][][]byte{}
	var order []int // databases in the order they got their first victim
	for len(picked) < victimsMax && used > target {
		db, it, ok := s.pickVictim(cfg, nowMs, picked, ttlAfter)
		if !ok {
			break
		}
		picked[pickedKey{db, it.key()}] = true
		if _, seen := perDB[db]; !seen {
			order = append(order, db)
		}
		perDB[db] = append(perDB[db], []byte(it.key()), strconv.AppendUint(nil, it.modIndex, 10))
		used -= itemBytes(&it)
	}
	cmds := make([]Command, 0, len(order))
	for _, db := range order {
		cmds = append(cmds, evictCommand(db, perDB[db]))
	}
	return cmds
}

type pickedKey struct {
	db  int
	key string
}

// pickVictim returns one key to evict that is not in picked.
func (s *Store) pickVictim(cfg *EvictionConfig, nowMs int64, picked map[pickedKey]bool, ttlAfter []*deadline) (int, item, bool) {
	switch cfg.Policy {
	case PolicyVolatileTTL:
		return s.pickNearestDeadline(ttlAfter)
	case PolicyAllKeysRandom, PolicyVolatileRandom:
		return s.pickRandom(cfg.Policy.volatile(), picked)
	}
	// LRU and LFU: refill the pool from samples, then take its best entry
	// that still names a live, unchanged key whose score has not dropped
	// since it was sampled: a key read meanwhile (reads run concurrently
	// with this) goes back into the pool with its new score. A bounded
	// number of rounds: a pool of stale entries is refilled.
	for round := 0; round < 4; round++ {
		for db, d := range s.dbs {
			s.sampleInto(cfg, nowMs, db, d, picked)
		}
		for rescored := 0; len(s.evictPool) > 0; {
			e := s.evictPool[len(s.evictPool)-1]
			s.evictPool = s.evictPool[:len(s.evictPool)-1]
			if picked[pickedKey{e.db, e.key}] {
				continue
			}
			it, ok := s.dbs[e.db].keys.Get(probe([]byte(e.key)))
			if !ok || it.modIndex != e.modIndex || (cfg.Policy.volatile() && it.expireAtMs == 0) {
				continue
			}
			if now := evictScore(cfg, &it, nowMs); now < e.score && rescored < evictPoolSize {
				rescored++
				e.score = now
				s.poolInsert(e)
				continue
			}
			return e.db, it, true
		}
	}
	return 0, item{}, false
}

// evictScore is how good a victim it is under an LRU or LFU policy: its
// idle time in ms, or 255 less its LFU counter.
func evictScore(cfg *EvictionConfig, it *item, nowMs int64) uint64 {
	lru, lfu := it.access().load()
	if cfg.Policy.lfu() {
		return 255 - uint64(lfuCounter(lfu, nowMs, cfg.LFUDecayTimeMin))
	}
	return uint64(max(lruIdleMs(lru, nowMs), 0))
}

// sampleInto samples cfg.Samples keys of d into the pool.
func (s *Store) sampleInto(cfg *EvictionConfig, nowMs int64, db int, d *database, picked map[pickedKey]bool) {
	n := d.keys.Len()
	if cfg.Policy.volatile() {
		n = d.expires.Len()
	}
	if n == 0 {
		return
	}
	for i := 0; i < min(cfg.Samples, n); i++ {
		it, ok := s.sampleKey(d, cfg.Policy.volatile(), n)
		if !ok {
			continue
		}
		if picked[pickedKey{db, it.key()}] {
			continue
		}
		s.poolInsert(poolEntry{score: evictScore(cfg, &it, nowMs), db: db, key: it.key(), modIndex: it.modIndex})
	}
}

// poolInsert keeps the pool sorted by ascending score, at most
// evictPoolSize entries, the best last; a key already pooled is updated.
func (s *Store) poolInsert(e poolEntry) {
	for i := range s.evictPool {
		if s.evictPool[i].db == e.db && s.evictPool[i].key == e.key {
			s.evictPool = append(s.evictPool[:i], s.evictPool[i+1:]...)
			break
		}
	}
	if len(s.evictPool) == evictPoolSize && e.score <= s.evictPool[0].score {
		return
	}
	e.key = string([]byte(e.key)) // do not pin the item's buffer
	i := 0
	for i < len(s.evictPool) && s.evictPool[i].score <= e.score {
		i++
	}
	s.evictPool = append(s.evictPool, poolEntry{})
	copy(s.evictPool[i+1:], s.evictPool[i:])
	s.evictPool[i] = e
	if len(s.evictPool) > evictPoolSize {
		s.evictPool = append(s.evictPool[:0], s.evictPool[1:]...)
	}
}

// pickNearestDeadline returns the key with the nearest deadline that this
// call has not picked yet. What a call picks in a database is a prefix of
// its deadline index, so each database's walk resumes after its last pick
// (ttlAfter): a call costs a tree descent per pick, not a rescan.
func (s *Store) pickNearestDeadline(ttlAfter []*deadline) (int, item, bool) {
	bestDB := -1
	var best deadline
	for db, d := range s.dbs {
		visit := func(dl deadline) bool {
			if ttlAfter[db] != nil && !deadlineLess(*ttlAfter[db], dl) {
				return true // the last pick itself
			}
			if bestDB < 0 || dl.atMs < best.atMs {
				bestDB, best = db, dl
			}
			return false
		}
		if ttlAfter[db] != nil {
			d.expires.Ascend(*ttlAfter[db], visit)
		} else {
			d.expires.Scan(visit)
		}
	}
	if bestDB < 0 {
		return 0, item{}, false
	}
	ttlAfter[bestDB] = &best
	it, ok := s.dbs[bestDB].keys.Get(keyItem(best.order, best.key))
	return bestDB, it, ok
}

func (s *Store) pickRandom(volatile bool, picked map[pickedKey]bool) (int, item, bool) {
	// Try databases round-robin from a random start (as Redis walks them),
	// a few random keys in each.
	start := int(s.nextEvictRand() % uint64(len(s.dbs)))
	for i := range s.dbs {
		db := (start + i) % len(s.dbs)
		d := s.dbs[db]
		n := d.keys.Len()
		if volatile {
			n = d.expires.Len()
		}
		for try := 0; try < min(n, 8); try++ {
			it, ok := s.sampleKey(d, volatile, n)
			if !ok {
				continue
			}
			if !picked[pickedKey{db, it.key()}] {
				return db, it, true
			}
		}
	}
	return 0, item{}, false
}

// sampleKey picks one of d's n keys at random: among the keys with a TTL
// when volatile (n is then d.expires.Len()), else among all.
func (s *Store) sampleKey(d *database, volatile bool, n int) (item, bool) {
	idx := int(s.nextEvictRand() % uint64(n))
	if !volatile {
		return d.keys.GetAt(idx)
	}
	dl, _ := d.expires.GetAt(idx)
	return d.keys.Get(keyItem(dl.order, dl.key))
}

func (s *Store) nextEvictRand() uint64 {
	s.evictRand = splitmix(s.evictRand)
	return s.evictRand
}

// evictName is the internal command of eviction.
const evictName = "evict"

// evictCommand builds the command that evicts keys from db; pairs holds
// key, modIndex (decimal), key, modIndex...
func evictCommand(db int, pairs [][]byte) Command {
	args := make([][]byte, 0, len(pairs)+1)
	args = append(args, []byte(evictName))
	args = append(args, pairs...)
	return Command{DB: db, Args: args}
}

// cmdEvict removes each named key whose version (modIndex) is still the one
// the leader saw when it chose it: a key written again since is no longer
// the cold key that was chosen and stays. It replies with the number of keys
// evicted and counts them in Stats.EvictedKeys.
func cmdEvict(c *execCtx, args [][]byte) Reply {
	if len(args)%2 == 0 {
		return wrongArgs(evictName)
	}
	var n int64
	for i := 1; i+1 < len(args); i += 2 {
		version, ok := parseDigits(args[i+1])
		if !ok || len(args[i+1]) == 0 {
			continue
		}
		if it, found := c.db.keys.Get(probe(args[i])); found && it.modIndex == version {
			c.removeItem(c.db, it)
			n++
		}
	}
	c.s.evicted.Add(uint64(n))
	return IntReply(n)
}
