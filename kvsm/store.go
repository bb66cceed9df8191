package kvsm

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/raftkv/raftkv/consensus"
	"github.com/tidwall/btree"
)

// DefaultDatabases is the number of keyspaces when Options.Databases is 0,
// as in Redis.
const DefaultDatabases = 16

// databasesMax bounds Options.Databases (and what a snapshot may claim).
const databasesMax = 1 << 16

// Options configure a Store.
type Options struct {
	// Databases is the number of numbered keyspaces (SELECT 0..n-1); 0
	// means DefaultDatabases. Every replica must use the same value.
	Databases int
	// Seed seeds the leader's eviction sampling and the LFU counter's
	// coin flips (neither is replicated state): tests fix it.
	Seed uint64
}

// valueKind tags a compound value. Strings have no object at all (see item).
type valueKind uint8

const (
	kindString valueKind = iota
	kindHash
)

func (k valueKind) typeName() string {
	switch k {
	case kindHash:
		return "hash"
	}
	return "string"
}

// object holds a compound value. epoch is the snapshot epoch in which it was
// last cloned: a write to an object from an older epoch clones it first,
// because a snapshot being written out may be reading it.
type object struct {
	kind  valueKind
	epoch uint64
	key   string // the key of the item that holds it (item keeps no key of its own for objects)
	acc   access // the key's access data (item.go)
	hash  *btree.BTreeG[field]
	// bytes and payload account the fields (memory.go): their accounted
	// size, and their name and value bytes alone.
	bytes, payload int64
}

// field is one hash field, sorted like keys by (order, name).
type field struct {
	order uint64
	name  string
	val   []byte
}

// deadline indexes a volatile key by its expiry time, for ExpiredKeys.
type deadline struct {
	atMs  int64
	order uint64
	key   string
}

func itemLess(a, b item) bool {
	if a.order != b.order {
		return a.order < b.order
	}
	return a.key() < b.key()
}

func fieldLess(a, b field) bool {
	if a.order != b.order {
		return a.order < b.order
	}
	return a.name < b.name
}

func deadlineLess(a, b deadline) bool {
	if a.atMs != b.atMs {
		return a.atMs < b.atMs
	}
	if a.order != b.order {
		return a.order < b.order
	}
	return a.key < b.key
}

// keyOrder is the position of a key or field in scan order: 63 bits of
// FNV-1a, so that order+1 (the SCAN cursor) is never 0. It must never change:
// cursors handed to clients and replica agreement depend on it.
func keyOrder(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h >> 1
}

var btreeOpts = btree.Options{NoLocks: true, Degree: 32}

func newKeyTree() *btree.BTreeG[item] { return btree.NewBTreeGOptions(itemLess, btreeOpts) }
func newFieldTree() *btree.BTreeG[field] {
	return btree.NewBTreeGOptions(fieldLess, btree.Options{NoLocks: true, Degree: 16})
}
func newDeadlineTree() *btree.BTreeG[deadline] {
	return btree.NewBTreeGOptions(deadlineLess, btreeOpts)
}

// database is one numbered keyspace.
type database struct {
	keys    *btree.BTreeG[item]
	expires *btree.BTreeG[deadline] // volatile keys by deadline; derived, not snapshotted
	// mem and payload are the database's accounted memory and its payload
	// part (memory.go); applier only, published as Store totals.
	mem, payload int64
	// Published after each Apply for getters on other goroutines.
	keyCount    atomic.Int64
	expireCount atomic.Int64
}

func newDatabase() *database {
	return &database{keys: newKeyTree(), expires: newDeadlineTree()}
}

func (d *database) publish() {
	d.keyCount.Store(int64(d.keys.Len()))
	d.expireCount.Store(int64(d.expires.Len()))
}

// Stats are the store's counters (INFO stats).
type Stats struct {
	ExpiredKeys    uint64 // keys removed because their deadline passed
	EvictedKeys    uint64 // keys removed by maxmemory eviction
	KeyspaceHits   uint64
	KeyspaceMisses uint64
}

// Store is the replicated keyspace. See doc.go for which methods may be
// called from which goroutine.
type Store struct {
	dbs     []*database
	applied atomic.Uint64
	epoch   uint64 // snapshot epoch, bumped by Snapshot (applier only)

	expired atomic.Uint64
	evicted atomic.Uint64
	hits    atomic.Uint64
	misses  atomic.Uint64

	// Memory accounting and eviction (memory.go, evict.go, access.go).
	usedBytes    atomic.Int64 // published after each Apply
	payloadBytes atomic.Int64
	evictCfg     atomic.Pointer[EvictionConfig]
	overLimit    chan struct{} // capacity 1: "over maxmemory after an Apply"
	applyWaiters applyNotifier
	evictPool    []poolEntry // leader's candidates (applier only)
	evictRand    uint64      // applier only

	readSeq atomic.Uint64 // varies RANDOMKEY between reads

	// ctx is the one command environment, reused so that a command does
	// not allocate one (handlers are called through a func value, so a
	// local would escape). Applier only; commands do not nest.
	ctx execCtx

	// decodeCmds and decodeArgs are the arrays the last entry's batch was
	// decoded into, reused by the next (applier only): decoding then
	// allocates nothing.
	decodeCmds []Command
	decodeArgs [][]byte

	// mu lets ExecShared read on other goroutines while the applier
	// writes: Apply, Snapshot's tree copies and Restore's switch-over hold
	// it exclusively, ExecShared holds it shared. The applier's own reads
	// (Exec, ExpiredKeys, Digest) take no lock: nothing else writes.
	mu sync.RWMutex
	// sharedCtxs recycles ExecShared's command environments (*execCtx),
	// one per concurrent reader, so that a shared read allocates nothing.
	sharedCtxs sync.Pool
}

var _ consensus.StateMachine = (*Store)(nil)

// NewStore returns an empty store.
func NewStore(opts Options) (*Store, error) {
	n := opts.Databases
	if n == 0 {
		n = DefaultDatabases
	}
	if n < 1 || n > databasesMax {
		return nil, fmt.Errorf("kvsm: databases %d out of range 1..%d", opts.Databases, databasesMax)
	}
	s := &Store{
		dbs:       make([]*database, n),
		overLimit: make(chan struct{}, 1),
		evictRand: splitmix(opts.Seed),
	}
	for i := range s.dbs {
		s.dbs[i] = newDatabase()
	}
	s.SetEvictionConfig(DefaultEvictionConfig())
	return s, nil
}

// Databases returns the number of keyspaces.
func (s *Store) Databases() int { return len(s.dbs) }

// AppliedIndex is the index of the last entry applied (or restored). Safe on
// any goroutine.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// DBSize returns the number of keys in db as of the last Apply, expired keys
// not yet deleted included (like Redis). Safe on any goroutine.
func (s *Store) DBSize(db int) int {
	if db < 0 || db >= len(s.dbs) {
		return 0
	}
	return int(s.dbs[db].keyCount.Load())
}

// KeyCount returns, per database, the number of keys and of keys with a
// deadline, as of the last Apply (INFO keyspace). Safe on any goroutine.
func (s *Store) KeyCount() (keys, expires []int) {
	keys = make([]int, len(s.dbs))
	expires = make([]int, len(s.dbs))
	for i, d := range s.dbs {
		keys[i] = int(d.keyCount.Load())
		expires[i] = int(d.expireCount.Load())
	}
	return keys, expires
}

// Stats returns the counters. Safe on any goroutine.
func (s *Store) Stats() Stats {
	return Stats{
		ExpiredKeys:    s.expired.Load(),
		EvictedKeys:    s.evicted.Load(),
		KeyspaceHits:   s.hits.Load(),
		KeyspaceMisses: s.misses.Load(),
	}
}

// Apply applies committed entries in order; see consensus.StateMachine. An
// EntryNormal's Result is a []Reply, one per command of its batch (a batch
// that does not decode gives one error Reply); other entries give nil.
// Applier goroutine only.
func (s *Store) Apply(entries []consensus.Entry) []consensus.Result {
	results := make([]consensus.Result, len(entries))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range entries {
		e := &entries[i]
		if e.Type == consensus.EntryNormal {
			results[i] = s.applyBatch(e)
		}
		s.applied.Store(e.Index)
	}
	for _, d := range s.dbs {
		d.publish()
	}
	s.publishMemory()
	return results
}

func (s *Store) applyBatch(e *consensus.Entry) []Reply {
	if len(e.Data) == 0 {
		return []Reply{}
	}
	cmds, args, err := decodeBatchInto(e.Data, s.decodeCmds, s.decodeArgs)
	if err != nil {
		return []Reply{ErrorReply(fmt.Sprintf("ERR entry %d: %v", e.Index, err))}
	}
	defer s.keepDecodeArrays(cmds, args)
	replies := make([]Reply, len(cmds))
	skip := 0
	cfg := s.evictCfg.Load()
	var counts readCounts
	for i := range cmds {
		c := &s.ctx
		*c = execCtx{
			s:     s,
			cfg:   cfg,
			nowMs: e.TimeMs,
			apply: true,
			index: e.Index,
			rand:  splitmix(e.Index*0x9E3779B97F4A7C15 ^ uint64(i)),
		}
		if skip > 0 {
			// A failed WATCH guard: the transaction it guards does not run.
			skip--
			replies[i] = ReplyNilValue
			continue
		}
		replies[i] = c.run(cmds[i].DB, cmds[i].Args)
		counts.add(&c.counts)
		if n, failed := guardFailed(cmds[i].Args, &replies[i]); failed {
			skip = n
		}
	}
	s.ctx.counts = readCounts{}
	s.addReadCounts(&counts)
	return replies
}

// Exec runs a read-only command against the current state, with nowMs the
// local wall clock (the caller runs it on the applier goroutine once a
// ReadIndex has been applied). Keys past their deadline are hidden, not
// deleted. A write command gets an error reply. Applier goroutine only.
func (s *Store) Exec(cmd Command, nowMs int64) Reply {
	c := &s.ctx
	cfg := s.evictCfg.Load()
	*c = execCtx{s: s, cfg: cfg, nowMs: nowMs, seedRead: true}
	r := c.run(cmd.DB, cmd.Args)
	s.addReadCounts(&c.counts)
	c.counts = readCounts{}
	return r
}

// decodeArraysMax bounds the decode arrays the applier keeps between
// entries: a huge pipeline's are dropped rather than held forever.
const decodeArraysMax = 4096

// keepDecodeArrays keeps an entry's decode arrays for the next one, cleared
// so that they do not pin the entry's data. Applier only.
func (s *Store) keepDecodeArrays(cmds []Command, args [][]byte) {
	clear(cmds)
	clear(args)
	if cap(cmds) <= decodeArraysMax && cap(args) <= decodeArraysMax {
		s.decodeCmds, s.decodeArgs = cmds[:0], args[:0]
	}
}

// ExecShared runs read-only cmds as Exec does, on any goroutine,
// concurrently with Apply and with other readers: replies[i] gets cmds[i]'s
// reply (replies must be at least as long as cmds). The whole batch sees
// one state, between two Apply calls. Replies alias stored values, which are
// never changed in place (see doc.go), so they stay valid after it returns.
// It allocates nothing beyond what the commands' replies need. A read that
// counts as an access (an LRU or LFU policy with a limit) updates the key's
// access data with atomics (item.go), which shared readers may do at once.
func (s *Store) ExecShared(cmds []Command, nowMs int64, replies []Reply) {
	cfg := s.evictCfg.Load()
	c, _ := s.sharedCtxs.Get().(*execCtx)
	if c == nil {
		c = new(execCtx)
	}
	var counts readCounts
	s.mu.RLock()
	for i := range cmds {
		*c = execCtx{s: s, cfg: cfg, nowMs: nowMs, seedRead: true}
		replies[i] = c.run(cmds[i].DB, cmds[i].Args)
		counts.add(&c.counts)
	}
	s.mu.RUnlock()
	s.addReadCounts(&counts)
	*c = execCtx{}
	s.sharedCtxs.Put(c)
}

// readSeed seeds a read's generator (RANDOMKEY, HRANDFIELD, the LFU
// coin) so that successive reads differ. It is drawn when a read first
// needs it (execCtx.seedRead), not per read: readSeq is shared by every
// reader goroutine, and an atomic add per GET on a line the other core
// keeps writing is a cache-line transfer per command.
func (s *Store) readSeed(nowMs int64) uint64 {
	return splitmix(s.applied.Load() ^ s.readSeq.Add(1)<<32 ^ uint64(nowMs))
}

// execCtx is the environment of one command.
type execCtx struct {
	s     *Store
	cfg   *EvictionConfig // eviction settings for this call (access data)
	db    *database
	dbIdx int
	nowMs int64
	apply bool   // true in Apply: may write, deletes expired keys it meets
	index uint64 // the entry's log index in Apply (stamped on written keys)
	rand  uint64
	// accessRand draws the LFU counter's coins (nextAccessRand); 0 until
	// first used, then seeded from rand.
	accessRand uint64
	// seedRead: rand is still to be drawn from readSeed (reads draw it
	// lazily, see readSeed).
	seedRead bool
	// counts tallies this command's keyspace hits and misses; the caller
	// adds them to the store's counters once per call (addReadCounts).
	counts readCounts
}

// readCounts is a call's keyspace hits and misses. The store's counters
// are shared by every reader goroutine and the applier: counting per
// command would bounce their cache line between cores on every GET.
type readCounts struct{ hits, misses uint64 }

func (n *readCounts) add(m *readCounts) {
	n.hits += m.hits
	n.misses += m.misses
}

func (s *Store) addReadCounts(n *readCounts) {
	if n.hits != 0 {
		s.hits.Add(n.hits)
	}
	if n.misses != 0 {
		s.misses.Add(n.misses)
	}
}

// seedRand draws a read's seed on first use.
func (c *execCtx) seedRand() {
	if c.seedRead {
		c.rand = c.s.readSeed(c.nowMs)
		c.seedRead = false
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// next returns a deterministic pseudo-random number.
func (c *execCtx) next() uint64 {
	c.seedRand()
	c.rand = splitmix(c.rand)
	return c.rand
}

func (c *execCtx) run(db int, args [][]byte) Reply {
	if len(args) == 0 {
		return ErrorReply("ERR empty command")
	}
	spec := lookupSpec(args[0])
	if spec == nil {
		return unknownCommand(args)
	}
	if (spec.Arity > 0 && len(args) != spec.Arity) || (spec.Arity < 0 && len(args) < -spec.Arity) {
		return wrongArgs(spec.Name)
	}
	if spec.Write && !c.apply {
		return ErrorReply("ERR write command '" + spec.Name + "' cannot be executed on the read path")
	}
	if db < 0 || db >= len(c.s.dbs) {
		return ErrorReply(errDBRange)
	}
	c.dbIdx = db
	c.db = c.s.dbs[db]
	return spec.run(c, args)
}

// unsafeString views b as a string without copying, for lookups only: the
// result must not outlive b nor be stored.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func probe(key []byte) item {
	return keyItem(keyOrder(key), unsafeString(key))
}

// expired reports whether it's deadline has passed at nowMs.
func expired(it *item, nowMs int64) bool {
	return it.expireAtMs != 0 && it.expireAtMs <= nowMs
}

// lookup finds a live key. In Apply, a key past its deadline is deleted
// (every replica meets it at the same log position and time); in Exec it is
// only hidden.
func (c *execCtx) lookup(key []byte) (item, bool) { return c.lookupIn(c.db, key) }

func (c *execCtx) lookupIn(d *database, key []byte) (item, bool) {
	it, ok := d.keys.Get(probe(key))
	if !ok {
		return it, false
	}
	if expired(&it, c.nowMs) {
		if c.apply {
			c.removeItem(d, it)
			c.s.expired.Add(1)
		}
		return item{}, false
	}
	return it, true
}

// lookupRead is lookup that counts keyspace hits and misses.
func (c *execCtx) lookupRead(key []byte) (item, bool) {
	it, ok := c.lookup(key)
	if ok {
		c.counts.hits++
		c.touch(c.db, &it)
	} else {
		c.counts.misses++
	}
	return it, ok
}

// put stores it in d, replacing any item with the same key and keeping the
// deadline index in step.
func (c *execCtx) put(d *database, it item) {
	if c.apply {
		it.modIndex = c.index
	}
	a := it.access()
	lru, lfu := a.load()
	prev, replaced := c.putKeepIndex(d, it)
	if replaced && lfu == 0 && prev.ptr != it.ptr {
		// A new value for an existing key keeps the key's access
		// history, as in Redis (dbSetValue keeps the old LFU data).
		lru, lfu = prev.access().load()
	}
	a.store(accessed(lru, lfu, c.nowMs, c.cfg, c.nextAccessRand()))
}

// putKeepIndex is put without stamping it as written: for a copy-on-write
// clone, which happens when a snapshot was taken (at a different moment on
// each replica) and must not change what WATCH sees.
func (c *execCtx) putKeepIndex(d *database, it item) (prev item, replaced bool) {
	return c.storeItem(d, it, false)
}

// putLast is put for a new key that sorts after every key of d (Restore:
// a snapshot lists keys in tree order): the tree appends it to its last
// leaf without a search.
func (c *execCtx) putLast(d *database, it item) {
	it.access().store(accessed(0, 0, c.nowMs, c.cfg, 0))
	c.storeItem(d, it, true)
}

// storeItem stores it and keeps d's accounting and deadline index; last
// says it sorts after every key of d (btree Load: append, no search).
func (c *execCtx) storeItem(d *database, it item, last bool) (prev item, replaced bool) {
	if last {
		d.keys.Load(it)
	} else {
		prev, replaced = d.keys.Set(it)
	}
	d.mem += itemBytes(&it)
	d.payload += itemPayloadBytes(&it)
	if replaced {
		d.mem -= itemBytes(&prev)
		d.payload -= itemPayloadBytes(&prev)
	}
	if replaced && prev.expireAtMs != 0 && prev.expireAtMs != it.expireAtMs {
		d.expires.Delete(deadline{atMs: prev.expireAtMs, order: prev.order, key: prev.key()})
	}
	if it.expireAtMs != 0 {
		// Set even when the deadline is unchanged: the entry then holds
		// the new item's key string, not one that pins an old buffer.
		d.expires.Set(deadline{atMs: it.expireAtMs, order: it.order, key: it.key()})
	}
	return prev, replaced
}

func (c *execCtx) removeItem(d *database, it item) {
	if stored, ok := d.keys.Delete(it); ok {
		d.mem -= itemBytes(&stored)
		d.payload -= itemPayloadBytes(&stored)
	}
	if it.expireAtMs != 0 {
		d.expires.Delete(deadline{atMs: it.expireAtMs, order: it.order, key: it.key()})
	}
}

// del deletes key if it is live and reports whether it did.
func (c *execCtx) del(key []byte) bool {
	it, ok := c.lookup(key)
	if !ok {
		return false
	}
	c.removeItem(c.db, it)
	return true
}

func cloneBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// mutableObject returns it's object ready to be changed: cloned (cheaply,
// copy-on-write) and stored back when a snapshot may still be reading it.
func (c *execCtx) mutableObject(it *item) *object {
	o := it.obj()
	if o.epoch != c.s.epoch {
		clone := &object{kind: o.kind, epoch: c.s.epoch, key: o.key, hash: o.hash.Copy(), bytes: o.bytes, payload: o.payload}
		clone.acc.store(o.acc.load())
		o = clone
		it.setObj(o)
		c.putKeepIndex(c.db, *it)
	}
	return o
}
