// Package kvsm is raftkv's replicated keyspace: the state machine that Raft
// feeds with committed entries (consensus.StateMachine), the binary encoding
// of the command batches those entries carry, and snapshots of the whole
// state.
//
// # Data model
//
// A Store has Options.Databases numbered keyspaces (16 by default, as SELECT
// sees them). Each is a github.com/tidwall/btree BTreeG of item values,
// stored flat in the tree's nodes. An item (item.go) is 40 bytes: the
// key's scan order, one pointer, two lengths, the deadline in Unix ms and
// the index of the key's last write (WATCH, below). For a string the
// pointer is into the one allocation that holds 8 bytes of access data
// (eviction, below), the key's bytes and then the value's; for a compound
// value (a hash today, lists and sets later: object carries a kind tag,
// and item.kind() is the one place that tells types apart) it is the
// *object, which also holds the key and the access data. A flag bit of the
// value length tells the two apart. Because the item is most of a key's
// cost (the tree's nodes are partly empty and their arrays grow by
// doubling, about 1.6x the item), it was cut from 80 bytes (a key string,
// a value slice, an object pointer and the access data side by side): a
// 16-byte key with a 32-byte value costs 134 bytes of heap
// (TestMemoryPerKey; 187 before; 123 with the access data in a 48-byte
// item, which made its 48-byte allocation a 56-byte one, size class 64:
// other sizes lose or gain by the same rounding, and access data outside
// the tree is what lets concurrent reads update it).
//
// Values are replaced, never changed in place below their length: a new
// value is a new allocation of key and value (withStr). APPEND is the
// exception that keeps appends amortised O(1): it makes an allocation of a
// power-of-two capacity, marked by a flag bit (the capacity then follows
// from the length), and extends the value into it in place while there is
// room; those bytes lie past every older item's length, so snapshots and
// replies holding the shorter value never see them, and COPY and RENAME
// give the new key its own allocation, so one allocation has one owner.
//
// Package unsafe therefore builds every item's key and value views
// (item.key, item.str) and keeps the lookups free of allocations: a probe
// views the argument bytes for the duration of the tree search only.
//
// The tree is sorted by (order, key), where order is 63 bits of FNV-1a of
// the key, not by the key itself. That is what makes SCAN right: its cursor
// is "order of the next key + 1", a plain number as clients expect, and a
// key present during the whole walk is returned at least once whatever is
// inserted or deleted meanwhile (a call never stops inside a run of equal
// orders). Comparing a uint64 first is also cheaper than comparing keys. Hash
// fields live in a per-hash BTreeG sorted the same way (HSCAN). KEYS, SCAN
// and HGETALL therefore list in hash order, as Redis does (though a
// different one).
//
// A second tree per database indexes volatile keys by deadline. It is
// derived (rebuilt on Restore, not in snapshots) and lets ExpiredKeys hand
// the leader the earliest expired keys without sampling.
//
// # Entry payload encoding
//
// An EntryNormal's Data is one batch (AppendBatch / DecodeBatch):
//
//	byte     format = 1
//	uvarint  number of commands N
//	N times:
//	  uvarint  database index (SELECT)
//	  uvarint  number of arguments A (>= 1; the command name first)
//	  A times:
//	    uvarint  length L
//	    L bytes  the argument
//
// DecodeBatch validates the whole batch before allocating (every count is
// checked against the bytes that remain: a command needs at least 3 bytes,
// an argument 1), then allocates the commands and one slab for all argument
// slices; the arguments alias Data. It never panics. A batch that does not
// decode applies as one error Reply on every replica.
//
// # Apply, Exec and time
//
// Apply runs each command of each entry in order and returns, per
// EntryNormal, a []Reply; EntryNoop and EntryConfChange give nil. The
// entry's TimeMs (the leader's clock, monotonic across entries) is "now" for
// every command in it: EX/PX deadlines are computed from it and expiry is
// judged by it, so every replica decides the same. Apply never reads a
// clock, never iterates a Go map, and draws randomness (RANDOMKEY,
// HRANDFIELD) from a generator seeded by the entry index and the command's
// position. When a command in Apply meets a key past its deadline it deletes
// it (every replica meets it at the same point); the leader also proposes
// PURGEEXPIRED for keys that ExpiredKeys reports (active expiry), which
// deletes a key only if it is still past its deadline at that entry's time,
// so a key rewritten meanwhile survives.
//
// Exec runs a read-only command (after a ReadIndex) with the local clock as
// now. It hides keys past their deadline but never deletes them: deletion
// only happens through the log. Write commands get an error. Commands,
// options and error texts follow Redis 7; the table tests were checked
// against redis-server 7.0 (see commands_test.go). INCRBYFLOAT and
// HINCRBYFLOAT compute in long double as Redis does, emulated with
// math/big at 64 bits of mantissa (float.go), so results match to the last
// digit. Known differences: HRANDFIELD with a negative count is capped at
// 1M picks; HSCAN accepts NOVALUES (Redis 7.4).
//
// # WATCH
//
// Every key carries modIndex, the log index of the entry that last wrote it
// (stamped by put, the one place items are stored, and by hash writes that
// change fields in place). WATCH reads versions with the internal read
// command watchversions; EXEC's entry starts with the internal command
// watchguard (db, key, version triples and the number of commands it
// guards): Apply recomputes the versions at that entry and, if any
// differs, skips the guarded commands. Versions are in snapshots (format
// version 2) so a replica restored from one decides as the others, and a
// copy-on-write clone (whose timing depends on each replica's snapshots)
// keeps the index (putKeepIndex): only real writes stamp. As in Redis, a
// write that stores a key counts even if the value is the same (SET k v
// over v) and one that changes nothing does not (HDEL of a missing field,
// a failed HINCRBY); the differential test compares this with Redis. A key
// created and deleted again between WATCH and EXEC reads as unchanged
// (Redis aborts then). See watch.go.
//
// Values are never changed in place below their length (see Data model),
// so replies may alias stored values and stay valid after later commands.
//
// # Memory accounting
//
// maxmemory needs a figure that every replica computes the same from the
// applied log, so that a write refused (OOM) or admitted on one node would
// be on any other at the same index: the Go heap is no such figure (it
// depends on GC timing, snapshots' copy-on-write, buffers). The store
// therefore accounts each key as a function of its contents only (memory.go):
// a per-key constant, the key's and value's lengths, a constant per hash
// plus, per field, a constant and its name and value lengths, and a
// constant when the key has a deadline. The constants approximate our real
// layout (TestAccountingTracksHeap keeps each within 25% of the measured
// heap: 184 accounted vs 192 B/key measured for a 16-byte key with a
// 32-byte value). Each database keeps its sum, updated where items are
// stored and removed (putKeepIndex, removeItem) and where hash fields change
// (setField, deleteField; an object carries its fields' sum); FLUSHDB,
// SWAPDB and Restore move whole sums. Apply publishes the total in an
// atomic: UsedMemory is one load, which keeps the admission check on the
// write path an atomic compare. DatasetBytes is the same without overhead
// (INFO's used_memory_dataset).
//
// # Access data
//
// Each item carries 8 bytes of access data (access.go): the LRU clock of
// its last access (10 ms ticks, 32 bits) and Redis's LFU word (16-bit
// minute clock, 8-bit logarithmic counter with lfu-log-factor and
// lfu-decay-time, new keys at 5). It is NOT replicated state: not in
// snapshots, not in Digest, and never read by Apply's decisions. Writes
// stamp it when they store a key (on every replica, at the entry's time;
// a new value for an existing key keeps its LFU counter, as in Redis);
// reads stamp it on the node that serves them, and only when a limit and
// an LRU or LFU policy are set. It lives outside the tree's items (in the
// key's allocation or object) and is read and written with atomics only,
// so a read never rewrites a tree item, and shared readers (ExecShared)
// stamp it concurrently: a race loses at worst one step of a counter that
// is an estimate anyway. OBJECT FREQ and IDLETIME read it without
// touching.
//
// Only the leader's copy matters: it chooses victims. What a new leader
// knows: the writes it applied (the same as the old leader) and the reads
// it served itself, as a follower or before; reads served by other nodes
// (including the old leader's) it never saw. The policy degrades
// gracefully: right after a change, keys hot only through other nodes'
// reads look as cold as their last write, so LRU/LFU fall back towards
// "least recently written" for them, until the new leader has served reads
// for a while; clients that read through the leader keep full information.
// Restored keys start with the restore time and counter 5.
//
// # Eviction
//
// Only the leader evicts, and only through the log. When the accounted
// memory is over maxmemory, server's evictor calls EvictionCommands on the
// applier goroutine: it picks victims by the policy (evict.go: LRU and LFU
// sample maxmemory-samples keys per database into a pool of the 16 best
// candidates kept between picks, as Redis's eviction pool, and rescore the
// best one before taking it, since reads run concurrently and a key read
// after it was sampled is no longer a good victim; random picks
// uniformly; volatile-ttl takes the nearest deadlines exactly from the
// deadline index; volatile-* consider only keys with a deadline) until the
// accounted memory less the victims would be 1/64 under the limit, at
// most a bounded number per call. Sampling draws from a generator seeded
// by Options.Seed, so a test sees the same victims for the same seed.
//
// The victims travel as the internal command EVICT (db, then key and
// modIndex pairs), which removes a key only if its modIndex is still the
// one the leader saw: a key written again between the decision and the
// entry survives, since it is no longer the cold key that was chosen. EVICT
// is a new command name inside batch format 1, not a new format: every
// existing log and snapshot still decodes, and a client cannot send it
// (resp has no table entry for it). A node of an older version would answer
// an EVICT entry with "unknown command" and keep the keys, so every node
// of a cluster must run a version that knows EVICT before maxmemory is set
// with an evicting policy (a rolling upgrade completes first).
//
// Admission reports what a node should do with a write flagged denyoom:
// admit it (under the limit), wait for the evictor, or refuse it with
// -OOM (noeviction, a volatile policy and no key with a deadline, or no key
// at all). It reads only the published memory and key counts, so any node
// decides the same from the same applied index.
//
// # Key tree compaction
//
// Keys arrive in hash order, so the key tree's nodes split at random:
// tidwall/btree leaves them about 70 % full, in arrays grown by append and
// shared between the two halves of each split, about 69 bytes per 40-byte
// item (78 when loaded in order, as Restore does). Compaction (compact.go)
// rebuilds a tree packed: Load of the items in order into a new tree, then
// a copy of every node, which gives each node an array of its own of
// exactly its capacity (about 44 bytes per item, 25 B/key less at 1 M
// keys). The server runs it when a node goes quiet after the key count
// moved a lot (server/evict.go). StartCompaction takes copy-on-write views
// on the applier (O(databases), like Snapshot), Build runs on the caller's
// goroutine (O(keys), about 0.2 s per million keys, and transiently the
// packed size twice over beside the live tree), and FinishCompaction, on
// the applier, installs the result only if nothing was applied meanwhile:
// every change to a key tree is an applied entry or a Restore, so an
// unchanged applied index and the same tree pointers mean the rebuilt tree
// is exactly the live one. Items are copied by value (their key and value
// allocation is shared), so the digest, SCAN order and access data do not
// change.
//
// # Snapshots
//
// Snapshot takes btree Copy()s of every database (O(1) each,
// copy-on-write) and bumps the store's epoch: a hash whose object is from an
// older epoch is cloned (again a cheap tree Copy) before it is changed, so
// the snapshot reader sees the state as of the snapshot while Apply goes on.
// No lock is held while it is written out. The format:
//
//	8 bytes  magic "RKVSNAP\x00"
//	uvarint  version = 2 (version 1, without modIndex, is still read)
//	uvarint  applied index
//	uvarint  number of databases D (must match the store's)
//	D times:
//	  uvarint  database index (0, 1, ... in order)
//	  uvarint  number of keys K
//	  K times:
//	    byte     kind: 0 string, 1 hash
//	    uvarint  deadline, Unix ms (0: none)
//	    uvarint  modIndex: log index of the key's last write (version 2)
//	    uvarint  key length, key bytes
//	    string:  uvarint length, value bytes
//	    hash:    uvarint field count F (>= 1), F times: name (length, bytes),
//	             value (length, bytes)
//	4 bytes  CRC-32C (Castagnoli) of everything above, little endian
//
// Restore decodes into new databases, checks limits (lengths up to 512 MiB,
// read in chunks so a damaged length cannot allocate more than the input
// holds), duplicates and the CRC, and only then replaces the state: on error
// the state is unchanged and the error names the offset. It is on the
// restart path (a clean shutdown leaves a snapshot), so it is built for
// speed: the checksum is computed a buffer at a time, a string's key and
// value are read straight into their one allocation, and keys, which
// Snapshot writes in tree order, are appended to the tree's last leaf
// (btree Load) with no search and no duplicate lookup; a key out of order
// (a snapshot not written by Snapshot) takes the searching path.
//
// # Concurrency
//
// Apply, Exec, Snapshot, Restore, Digest, ExpiredKeys and EvictionCommands
// belong to one goroutine, the applier. ExecShared runs read-only commands
// on any other goroutine (the server serves reads on the connection's
// goroutine once the ReadIndex is applied, saving two goroutine hand-offs
// per read): a sync.RWMutex orders it against the applier's writes. Apply
// holds it exclusively for a whole call (so a reader sees whole entries,
// never half a pipeline), as do Snapshot's tree copies and Restore's
// switch-over; ExecShared holds it shared for its batch. Readers must
// therefore never write, not even bookkeeping: read paths only touch
// atomics (hits, misses, the read seed, and the keys' access data, which
// lives outside the tree for that reason); the applier's own reads take no
// lock, since nothing else writes the tree. An uncontended RWMutex costs a
// GET two atomic adds, and ExecShared takes its command environment from a
// pool, so GET stays a tree lookup with no allocation. The SnapshotReader
// that Snapshot returns may be written out from any goroutine, concurrently
// with Apply. AppliedIndex, DBSize, KeyCount, Stats, UsedMemory,
// DatasetBytes, Admission, OverLimit, Applied and Set/EvictionConfig are
// safe from any goroutine: they read atomics that Apply publishes after
// each call.
package kvsm
