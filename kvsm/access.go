package kvsm

// Access data: each key's recency (LRU clock) and logarithmic frequency
// counter (LFU), as Redis keeps them in 24 bits of its object header. They
// live next to the key (item.go's access: 8 bytes at the head of a string's
// allocation, or in the object), are never replicated, snapshotted nor
// digested, and only the leader's copy matters: it chooses the victims of
// eviction. See doc.go, "Access data".

// lruTickMs is the LRU clock's resolution. Redis's is 1 s; a finer clock
// costs little (a read rewrites a key's item at most once per tick) and
// orders keys touched within the same second.
const lruTickMs = 10

// lfuInitCounter is a new key's LFU counter (Redis's LFU_INIT_VAL): a new
// key is not evicted before it had a chance to be read.
const lfuInitCounter = 5

// lruClock is nowMs in LRU ticks, wrapping every 497 days; idle times are
// computed modulo 2^32 ticks, as Redis computes them modulo its 24 bits.
func lruClock(nowMs int64) uint32 { return uint32(nowMs / lruTickMs) }

// lruIdleMs is how long ago, in ms, the clock value lru was stamped. A
// stamp a little ahead of nowMs (a read that ran concurrently with the
// caller, after it took its clock) is idle 0, not 2^32 ticks: differences
// are taken modulo 2^32 as signed, so the clock wraps every 248 days.
func lruIdleMs(lru uint32, nowMs int64) int64 {
	return max(int64(int32(lruClock(nowMs)-lru)), 0) * lruTickMs
}

// lfuMinutes is the 16-bit minute clock of the LFU decay.
func lfuMinutes(nowMs int64) uint32 { return uint32(nowMs/60_000) & 0xffff }

// lfuCounter returns lfu's counter after decay: one less per decayTimeMin
// minutes elapsed since it was last changed (0: no decay), as Redis's
// LFUDecrAndReturn.
func lfuCounter(lfu uint32, nowMs int64, decayTimeMin int) uint32 {
	counter := lfu & 0xff
	if decayTimeMin <= 0 {
		return counter
	}
	then, now := lfu>>8, lfuMinutes(nowMs)
	elapsed := (now - then) & 0xffff // the 16-bit clock wraps
	if elapsed >= 0x8000 {
		elapsed = 0 // stamped a little after nowMs (a concurrent read)
	}
	periods := elapsed / uint32(decayTimeMin)
	if periods >= counter {
		return 0
	}
	return counter - periods
}

// lfuIncrement is Redis's LFULogIncr: the counter grows with probability
// 1/((counter-init)*logFactor+1), so that 255 stands for about a million
// hits at the default factor 10. r is a uniform random 64-bit number.
func lfuIncrement(counter uint32, logFactor int, r uint64) uint32 {
	if counter >= 255 {
		return 255
	}
	base := float64(0)
	if counter > lfuInitCounter {
		base = float64(counter - lfuInitCounter)
	}
	p := 1.0 / (base*float64(logFactor) + 1)
	if float64(r>>11)/(1<<53) < p {
		counter++
	}
	return counter
}

// accessed returns the access data of a key accessed at nowMs whose data
// was lru, lfu (lfu 0: a new key, which starts at lfuInitCounter); r is a
// random number for the LFU counter's coin.
func accessed(lru, lfu uint32, nowMs int64, cfg *EvictionConfig, r uint64) (uint32, uint32) {
	lru = lruClock(nowMs)
	var counter uint32
	if lfu == 0 {
		counter = lfuInitCounter
	} else {
		counter = lfuCounter(lfu, nowMs, cfg.LFUDecayTimeMin)
		counter = lfuIncrement(counter, cfg.LFULogFactor, r)
	}
	return lru, lfuMinutes(nowMs)<<8 | counter
}

// nextAccessRand draws the LFU coin's random number from a generator of
// its own, so that access data never shifts what RANDOMKEY or HRANDFIELD
// draw.
func (c *execCtx) nextAccessRand() uint64 {
	if c.accessRand == 0 {
		c.seedRand()
		c.accessRand = c.rand ^ 0x5bd1e995
	}
	c.accessRand = splitmix(c.accessRand)
	return c.accessRand
}

// touch records an access of it (a key d holds) when the policy in force
// chooses victims by access. The access data is outside the tree (item.go),
// updated with atomics: reads may run concurrently (ExecShared), and a
// racing update at worst loses one increment of a probabilistic counter.
func (c *execCtx) touch(d *database, it *item) {
	if !c.cfg.tracksReads() {
		return
	}
	a := it.access()
	lru, lfu := a.load()
	nlru, nlfu := accessed(lru, lfu, c.nowMs, c.cfg, c.nextAccessRand())
	if nlru != lru || nlfu != lfu {
		a.store(nlru, nlfu)
	}
}

// objectHelp is OBJECT HELP's text, as Redis 7.0 words it.
var objectHelp = []string{
	"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned integer is",
	"    proportional to the logarithm of the recent access frequency of the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with the specified",
	"    <key>.",
	"HELP",
	"    Prints this help.",
}

const (
	errNoLFU = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
	errLFU   = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
)

// cmdObject is OBJECT FREQ, IDLETIME, ENCODING, REFCOUNT and HELP. It never
// counts as an access (Redis looks keys up with LOOKUP_NOTOUCH here).
func cmdObject(c *execCtx, args [][]byte) Reply {
	sub := args[1]
	if len(args) == 2 && eqFold(sub, "help") {
		elems := make([]Reply, len(objectHelp))
		for i, line := range objectHelp {
			elems[i] = StatusReply(line)
		}
		return Reply{Kind: ReplyArray, Elems: elems}
	}
	var name string
	for _, n := range []string{"freq", "idletime", "encoding", "refcount", "help"} {
		if eqFold(sub, n) {
			name = n
		}
	}
	if name == "" {
		return ErrorReply("ERR unknown subcommand '" + string(truncate(sub, 128)) + "'. Try OBJECT HELP.")
	}
	if name == "help" || len(args) != 3 {
		return ErrorReply("ERR wrong number of arguments for 'object|" + name + "' command")
	}
	it, ok := c.lookup(args[2])
	if !ok {
		return ReplyNilValue
	}
	switch {
	case eqFold(sub, "freq"):
		if !c.cfg.Policy.lfu() {
			return ErrorReply(errNoLFU)
		}
		_, lfu := it.access().load()
		return IntReply(int64(lfuCounter(lfu, c.nowMs, c.cfg.LFUDecayTimeMin)))
	case eqFold(sub, "idletime"):
		if c.cfg.Policy.lfu() {
			return ErrorReply(errLFU)
		}
		lru, _ := it.access().load()
		return IntReply(lruIdleMs(lru, c.nowMs) / 1000)
	case eqFold(sub, "refcount"):
		return IntReply(1)
	}
	return BulkReply([]byte(it.encoding()))
}

// encoding is the name Redis 7.0 would report for the value's encoding.
func (it *item) encoding() string {
	if it.obj() != nil {
		// Redis's defaults: hash-max-listpack-entries 128 and
		// hash-max-listpack-value 64.
		small := it.obj().hash.Len() <= 128
		if small {
			it.obj().hash.Scan(func(f field) bool {
				small = len(f.name) <= 64 && len(f.val) <= 64
				return small
			})
		}
		if small {
			return "listpack"
		}
		return "hashtable"
	}
	if len(it.str()) <= 20 {
		if _, ok := parseInt(it.str()); ok {
			return "int"
		}
	}
	if len(it.str()) <= 44 {
		return "embstr"
	}
	return "raw"
}

// cmdDebug is DEBUG DIGEST: the whole keyspace's Digest as 40 hex digits
// (zeros when it is empty, as Redis), for comparing replicas. It walks
// every key on the applier goroutine. Redis's other DEBUG subcommands (and
// Redis's refusal of DEBUG unless enable-debug-command is set) are not
// reproduced.
func cmdDebug(c *execCtx, args [][]byte) Reply {
	if !eqFold(args[1], "digest") || len(args) != 2 {
		return ErrorReply("ERR DEBUG subcommand not supported by raftkv (only DEBUG DIGEST)")
	}
	empty := true
	for _, d := range c.s.dbs {
		if d.keys.Len() > 0 {
			empty = false
		}
	}
	var digest uint64
	if !empty {
		digest = c.s.Digest()
	}
	const hexDigits = "0123456789abcdef"
	out := []byte("000000000000000000000000")
	for shift := 60; shift >= 0; shift -= 4 {
		out = append(out, hexDigits[digest>>uint(shift)&0xf])
	}
	return StatusReply(string(out))
}
