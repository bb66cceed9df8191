package server

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
)

// Eviction (see doc.go): the leader's evictor proposes the deletions; every
// node refuses denyoom writes when the replicated accounted memory is over
// maxmemory and nothing can be evicted.
const (
	// evictVictimsMax bounds the keys of one eviction proposal.
	evictVictimsMax = 1024
	// evictPollInterval is how often the evictor looks without being
	// woken: it catches a leadership gained while over the limit.
	evictPollInterval = 100 * time.Millisecond
	// evictWaitMax bounds how long a denyoom write waits for the evictor
	// to make room before it is admitted anyway.
	evictWaitMax = time.Second
	// memLimitHeadroomBytes is added to 1.5 x maxmemory for the Go
	// runtime's soft memory limit (the log's tail, buffers, runtime).
	memLimitHeadroomBytes = 256 << 20
	// Without maxmemory, the GC percent follows the live heap (tuneGC):
	// the heap may grow by live/memTuneLiveDivisor + memTuneHeadroomBytes
	// between collections, as a GC percent of at least memTuneMinPercent,
	// recomputed every memTuneInterval.
	memTuneInterval      = 250 * time.Millisecond
	memTuneLiveDivisor   = 8
	memTuneHeadroomBytes = 32 << 20
	memTuneMinPercent    = 100 / memTuneLiveDivisor
	// memTuneCatchUpEntries: a node this far behind the commit index is
	// catching up and gets no limit.
	memTuneCatchUpEntries = 1000
	// When the node goes quiet (under memScavengeQuietAllocBytes allocated
	// in one memTuneInterval) while a collection would give back more than
	// max(memScavengeMinBytes, live/memScavengeLiveDivisor) (garbage since
	// the last cycle plus free pages not yet returned), the heap is
	// collected and every free page returned to the OS at once
	// (debug.FreeOSMemory), at most once per memScavengeIntervalMin.
	memScavengeQuietAllocBytes = 1 << 20
	memScavengeMinBytes        = 16 << 20
	memScavengeLiveDivisor     = 16
	memScavengeIntervalMin     = 30 * time.Second
	// When quiet, the key trees are compacted (at most every
	// memScavengeIntervalMin) once the key count moved by at least
	// max(compactKeysMin, keys at the last compaction/compactKeysDivisor):
	// a rebuild costs O(keys), so it waits for a change of that order.
	compactKeysMin     = 1 << 16
	compactKeysDivisor = 4
	// compactTimeout bounds one compaction (about 0.2 s per million keys).
	compactTimeout = 30 * time.Second
	// compactRetryInterval: after a compaction dropped because a write
	// came in, the next try waits this long (and for a quiet tick).
	compactRetryInterval = time.Second
)

// evictionConfig converts the directives for the store.
func evictionConfig(c *conf.Config) kvsm.EvictionConfig {
	policy, err := kvsm.ParsePolicy(c.MaxMemoryPolicy)
	if err != nil {
		policy = kvsm.PolicyNoEviction // conf accepts only valid names
	}
	return kvsm.EvictionConfig{
		MaxMemoryBytes:  c.MaxMemoryBytes,
		Policy:          policy,
		Samples:         c.MaxMemorySamples,
		LFULogFactor:    c.LFULogFactor,
		LFUDecayTimeMin: c.LFUDecayTimeMin,
	}
}

// applyMemoryConfig installs the eviction directives in the store and, when
// the operator did not set GOMEMLIMIT, lets the Go runtime's soft memory
// limit follow maxmemory. Called at start-up and on every CONFIG SET.
func (s *Server) applyMemoryConfig(c *conf.Config) {
	s.store.SetEvictionConfig(evictionConfig(c))
	if operatorTunesGC() {
		return
	}
	limit := int64(math.MaxInt64)
	if c.MaxMemoryBytes > 0 && c.MaxMemoryBytes < (math.MaxInt64-memLimitHeadroomBytes)/2 {
		limit = c.MaxMemoryBytes + c.MaxMemoryBytes/2 + memLimitHeadroomBytes
	}
	debug.SetMemoryLimit(limit)
}

// operatorTunesGC: GOGC or GOMEMLIMIT is set, and then we leave the Go
// runtime's memory policy alone.
func operatorTunesGC() bool {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	return gogc || limit
}

// gcPercentFor is the GC percent that lets the heap grow by an eighth of
// live plus 32 MiB between collections, within [memTuneMinPercent, 100].
func gcPercentFor(liveBytes int64) int {
	if liveBytes <= 0 {
		return 100
	}
	p := 100 * (liveBytes/memTuneLiveDivisor + memTuneHeadroomBytes) / liveBytes
	return int(min(max(p, memTuneMinPercent), 100))
}

// scavengeDue: the node allocated under memScavengeQuietAllocBytes in the
// last interval, a collection and scavenge would give back more than
// max(memScavengeMinBytes, live/memScavengeLiveDivisor), and the last one
// was at least memScavengeIntervalMin ago.
func scavengeDue(allocatedBytes, reclaimableBytes, liveBytes int64, sinceLast time.Duration) bool {
	return sinceLast >= memScavengeIntervalMin && allocatedBytes < memScavengeQuietAllocBytes &&
		reclaimableBytes > max(memScavengeMinBytes, liveBytes/memScavengeLiveDivisor)
}

// Runtime metrics read by tuneGC, in this order.
var memTuneMetricNames = [...]string{
	"/gc/heap/live:bytes",                // live at the end of the last cycle
	"/gc/heap/allocs:bytes",              // allocated since start (cumulative)
	"/memory/classes/heap/objects:bytes", // live plus garbage not yet swept
	"/memory/classes/heap/free:bytes",    // free pages not returned to the OS
}

// memSample is what tuneGC reads every interval.
type memSample struct{ live, allocated, objects, free int64 }

func readMemSample(samples []rtmetrics.Sample) memSample {
	rtmetrics.Read(samples)
	v := func(i int) int64 {
		if samples[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return int64(min(samples[i].Value.Uint64(), math.MaxInt64))
	}
	return memSample{live: v(0), allocated: v(1), objects: v(2), free: v(3)}
}

// tuneGC runs for the server's life. Unless the operator set GOGC or
// GOMEMLIMIT it sets the Go runtime's GC percent: GOGC=100 lets the heap
// reach twice the live keys before a collection, which for a cache is most
// of its RSS. Without maxmemory, the GC percent is set from the live heap
// (gcPercentFor): 100 while the heap is small (the 32 MiB headroom
// dominates, so the benchmarks' 100k keys see no change), down to 12.5 for
// a large keyspace. A GC percent, unlike a soft memory limit set from the
// last live figure, is paced by the collector itself at every cycle, so a
// heap that grows fast does not push it into its limiter. With maxmemory,
// GOGC stays 100 and the memory limit that applyMemoryConfig derives from
// maxmemory bounds the heap. While the node replays its log (start-up, a
// lagging follower) it also stays 100.
//
// When the node goes quiet (nothing applied and under 1 MiB allocated in a
// tick) it gives memory back (quietTick):
//   - the key trees, after many keys were added or removed, are rebuilt
//     packed (kvsm.Compaction: nodes of random inserts are ~70 % full in
//     arrays longer still, ~69 B per 40-byte item; packed ~44), off the
//     applier but for two O(databases) steps;
//   - a heap that stops growing keeps what the last collection left: the
//     garbage made since (up to the GC percent's headroom) and free pages
//     that Go's background scavenger returns only slowly, down to about
//     110 % of the heap goal. So when there is much to give back
//     (scavengeDue), it collects and returns every free page at once, as
//     jemalloc's decay does for Redis.
//
// After a bulk load of 1 M keys these two are 20-30 and 40-60 B/key of RSS
// (bench/RESULTS.md). The cost is one rebuild and one full collection per
// quiet period, at most every 30 s (0.1-0.3 s of CPU for 1 M keys; a
// rebuild dropped because a write came in is retried after 1 s), and
// page faults when the heap grows again; a node under steady load never
// qualifies and is paced by the GC percent alone.
func (s *Server) tuneGC(ctx context.Context) {
	tuneRuntime := !operatorTunesGC()
	t := time.NewTicker(memTuneInterval)
	defer t.Stop()
	samples := make([]rtmetrics.Sample, len(memTuneMetricNames))
	for i, name := range memTuneMetricNames {
		samples[i].Name = name
	}
	current := 100
	q := quietState{prev: readMemSample(samples)}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mem := readMemSample(samples)
		if tuneRuntime {
			percent := 100
			m := s.node.Metrics()
			if s.store.EvictionConfig().MaxMemoryBytes == 0 && m.Applied+memTuneCatchUpEntries >= m.Commit && mem.live > 0 {
				percent = gcPercentFor(mem.live)
			}
			if percent != current {
				debug.SetGCPercent(percent)
				current = percent
			}
		}
		s.quietTick(ctx, &q, mem, samples, tuneRuntime)
	}
}

// quietState is what quietTick remembers between ticks.
type quietState struct {
	prev           memSample
	prevApplied    uint64
	lastScavenge   time.Time
	nextCompaction time.Time // none before
	compactedKeys  int       // keys at the last compaction
}

// quietTick compacts the key trees and returns memory to the OS when the
// node is quiet: nothing applied and under memScavengeQuietAllocBytes
// allocated since the last tick.
func (s *Server) quietTick(ctx context.Context, q *quietState, mem memSample, samples []rtmetrics.Sample, scavenge bool) {
	allocated := mem.allocated - q.prev.allocated
	applied := s.store.AppliedIndex()
	q.prev = mem
	if applied != q.prevApplied || allocated >= memScavengeQuietAllocBytes {
		q.prevApplied = applied
		return
	}
	keys := 0
	counts, _ := s.store.KeyCount()
	for _, n := range counts {
		keys += n
	}
	if time.Now().After(q.nextCompaction) && compactionDue(keys, q.compactedKeys) {
		ok, err := s.compactKeyTrees(ctx)
		if err != nil {
			s.logger.Debug("key tree compaction failed", "err", err)
		}
		if !ok {
			// A write came in meanwhile (or the node is stopping): try
			// again soon, when it is quiet again.
			q.nextCompaction = time.Now().Add(compactRetryInterval)
			return
		}
		q.nextCompaction = time.Now().Add(memScavengeIntervalMin)
		q.compactedKeys = keys
		s.keyTreeCompactions.Add(1)
		// The old trees are garbage now: return them with the rest. Not
		// through scavengeDue: the last cycle may have run during the
		// rebuild, when the old, the loaded and the packed trees were all
		// live, so its live figure says there is nothing to give back.
		if scavenge {
			s.returnMemory(q, samples, -1)
		}
		return
	}
	reclaimable := mem.objects - mem.live + mem.free
	if scavenge && scavengeDue(allocated, reclaimable, mem.live, time.Since(q.lastScavenge)) {
		s.returnMemory(q, samples, reclaimable)
	}
}

// returnMemory collects and returns every free page to the OS
// (reclaimableBytes is only logged; -1 after a compaction).
func (s *Server) returnMemory(q *quietState, samples []rtmetrics.Sample, reclaimableBytes int64) {
	begin := time.Now()
	debug.FreeOSMemory()
	q.lastScavenge = time.Now()
	q.prev = readMemSample(samples)
	s.logger.Debug("memory returned to the OS", "reclaimable_bytes", reclaimableBytes,
		"live_bytes", q.prev.live, "took", q.lastScavenge.Sub(begin))
}

// compactionDue: the number of keys moved by at least
// max(compactKeysMin, compacted/compactKeysDivisor) since the last
// compaction.
func compactionDue(keys, compactedKeys int) bool {
	moved := keys - compactedKeys
	if moved < 0 {
		moved = -moved
	}
	return moved >= max(compactKeysMin, compactedKeys/compactKeysDivisor)
}

// compactKeyTrees rebuilds the store's key trees packed: the views are
// taken and the result installed on the applier goroutine, the rebuild
// runs here. It reports false when a write came in meanwhile (the rebuild
// is then dropped).
func (s *Server) compactKeyTrees(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, compactTimeout)
	defer cancel()
	begin := time.Now()
	var c *kvsm.Compaction
	if err := s.node.RunOnApplier(ctx, func() { c = s.store.StartCompaction() }); err != nil {
		return false, fmt.Errorf("compaction start: %w", err)
	}
	if err := c.Build(ctx); err != nil {
		return false, err
	}
	installed := false
	if err := s.node.RunOnApplier(ctx, func() { installed = s.store.FinishCompaction(c) }); err != nil {
		return false, fmt.Errorf("compaction finish: %w", err)
	}
	s.logger.Debug("key trees compacted", "installed", installed, "took", time.Since(begin))
	return installed, nil
}

// ConfigChanged is resp.ConfigObserver: CONFIG SET of this node's
// directives (local, as in Redis).
func (b *backend) ConfigChanged(c *conf.Config) { b.s.applyMemoryConfig(c) }

// Admission is resp.MemoryGuard's fast check.
func (b *backend) Admission() kvsm.Admission { return b.s.store.Admission() }

// WaitForRoom is resp.MemoryGuard's wait: until this node has applied
// evictions that bring memory under the limit (true), until nothing can be
// evicted (false), or evictWaitMax, after which the write is admitted as
// long as something can still be evicted: memory then overshoots by the
// writes in flight while the evictor catches up.
func (b *backend) WaitForRoom(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, evictWaitMax)
	defer cancel()
	store := b.s.store
	for {
		applied := store.Applied()
		switch store.Admission() {
		case kvsm.Admit:
			return true
		case kvsm.RefuseOOM:
			return false
		}
		select {
		case <-applied:
		case <-ctx.Done():
			return store.Admission() != kvsm.RefuseOOM
		}
	}
}

// evictLoop runs for the server's life. While this node leads and the
// accounted memory is over maxmemory it proposes evictions, one bounded
// batch at a time, each applied before the next is chosen.
func (s *Server) evictLoop(ctx context.Context) {
	t := time.NewTicker(evictPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.store.OverLimit():
		case <-t.C:
		}
		for ctx.Err() == nil && s.overMemoryLimit() &&
			consensus.Role(s.node.Metrics().Role) == consensus.RoleLeader {
			if n, err := s.evictRound(ctx); err != nil || n == 0 {
				if err != nil {
					s.logger.Debug("eviction round failed", "err", err)
				}
				break
			}
		}
	}
}

// overMemoryLimit: over maxmemory with a policy that evicts (under
// noeviction there is nothing to propose, and no ReadIndex to spend).
func (s *Server) overMemoryLimit() bool {
	cfg := s.store.EvictionConfig()
	return cfg.MaxMemoryBytes > 0 && cfg.Policy != kvsm.PolicyNoEviction && s.store.UsedMemory() > cfg.MaxMemoryBytes
}

// evictRound chooses victims on the applier goroutine (after a ReadIndex,
// so from the latest state) and proposes them; it returns the number of
// keys the applied entry evicted.
func (s *Server) evictRound(ctx context.Context) (int64, error) {
	var cmds []kvsm.Command
	rctx, cancel := context.WithTimeout(ctx, s.requestTimeout)
	defer cancel()
	err := s.node.Read(rctx, func() {
		cmds = s.store.EvictionCommands(time.Now().UnixMilli(), evictVictimsMax)
	})
	if err != nil || len(cmds) == 0 {
		return 0, err
	}
	res, err := s.node.Propose(rctx, kvsm.AppendBatch(nil, cmds))
	if err != nil {
		return 0, err
	}
	var n int64
	if replies, ok := res.([]kvsm.Reply); ok {
		for _, r := range replies {
			n += r.Int
		}
	}
	return n, nil
}
