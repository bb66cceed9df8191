// Package server wires one raftkv node together from a conf.Config: the WAL
// and snapshot store (wal), the keyspace (kvsm), the Raft node loop
// (consensus), the peer transport (consensus/transport), the RESP front end
// (resp) and the Prometheus endpoint (metrics).
//
// It owns the few pieces of logic that belong to none of them:
//   - the resp.Backend adapter: a pipeline's writes become one proposal (one
//     log entry); its reads wait for a ReadIndex to be applied
//     (Node.ReadBarrier) and then run on the connection's goroutine against
//     the store's shared read lock (kvsm.Store.ExecShared), with no hop
//     through the applier; the node bounds both by request-timeout with a
//     recycled timer, so a command allocates no context;
//   - active expiry: while this node leads, every 100 ms it samples expired
//     keys (on the applier, so the sample is consistent) and proposes their
//     removal through the log, so that every replica removes the same keys;
//     replicas never delete on their own;
//   - eviction (evict.go): while this node leads and the replicated
//     accounted memory (kvsm.Store.UsedMemory) is over maxmemory, an
//     evictor goroutine, woken by the store after such an Apply (and every
//     100 ms, to catch a leadership gained while over), chooses victims on
//     the applier goroutine after a ReadIndex and proposes them as one
//     EVICT entry (at most 1024 keys), waits for it to apply, and repeats
//     until under the limit; followers apply the entries and never evict
//     on their own. Admission is decided where the client is: the resp
//     server asks the backend (resp.MemoryGuard) before each denyoom
//     command; under the limit that is an atomic compare; over it, with
//     nothing evictable, the command gets -OOM; otherwise it waits (at most
//     1 s) for applied evictions to bring memory under the limit, then
//     runs: memory may overshoot by the writes in flight meanwhile. The
//     eviction directives are local to the node (CONFIG SET as in Redis):
//     the leader's decide evictions;
//   - the Go runtime's memory policy (evict.go), unless the operator sets
//     GOGC or GOMEMLIMIT: with maxmemory, the soft memory limit is 1.5 x
//     maxmemory + 256 MiB; without, the GC percent follows the live heap
//     (every 250 ms) so that the heap grows by an eighth of it plus 32 MiB
//     between collections (100 for small heaps, down to 12.5). GOGC=100
//     alone lets the heap reach twice the live keys, most of a cache's
//     RSS: 1 M keys of 16+32 bytes, 319-348 B/key of RSS at GOGC=100,
//     262-274 with the policy (bench/RESULTS.md), load rate and restart
//     time unchanged within this machine's noise. When the node goes quiet
//     with much garbage or free memory held (more than max(16 MiB, live/16),
//     nothing applied and under 1 MiB allocated in 250 ms), it collects and returns every free
//     page to the OS (debug.FreeOSMemory, at most every 30 s): the runtime's
//     background scavenger would keep about 110 % of the heap goal, 40-60
//     B/key after a bulk load. Before that, if the key count moved by
//     max(64 Ki, a quarter) since the last time, it rebuilds the key trees
//     packed (kvsm.Compaction, also when the operator tunes GC: 20-25
//     B/key at 1 M keys). 1 M keys: 130 B/key of RSS, Redis 148. The GC
//     settings are the Go runtime's, process-wide: the policy assumes one
//     server per process, as the binary runs (in-process test clusters
//     share one heap and set the same values);
//   - snapshots: when snapshot-threshold entries were applied since the last
//     one, or the log grew by 64 MiB of entry data (a pipeline is one entry,
//     so entries alone would not bound the WAL's memory or restart time), a copy-on-write view is taken on the applier goroutine (exactly at
//     the applied index), written to a snapshot file in the background, and
//     the log is compacted up to that index less a tail (a quarter of the
//     threshold, at most 10,000 entries) for followers that lag a little;
//   - membership (membership.go): who the members are and where they are.
//     The node's OnMembership hook gives the latest membership; the
//     addresses come from the cluster line (bootstrap only), the snapshot,
//     and the conf change entries (Addr: raft address, Context: client
//     address). The snapshot data starts with the address book as of its
//     index (membersSM wraps the store: Apply follows the conf entries,
//     Snapshot writes the book before the store's bytes, Restore reads it
//     back), so the book travels with InstallSnapshot and survives
//     compaction without a new snapshot header format or a side file that
//     could disagree with the snapshot. A restarted node thus knows every
//     member from its own disk, whatever its cluster line says. A new
//     member becomes a transport peer when its AddLearner is appended, a
//     removed one stops being one when its removal is applied;
//   - the RAFT.* admin commands (resp.Membership), leader only: ADDNODE
//     (a learner; on a leader whose log was never compacted it snapshots
//     first, so that the new member starts from a snapshot whose
//     membership is exact instead of replaying conf changes from index 1
//     over its guessed bootstrap), PROMOTE (refused with TRYAGAIN until the
//     learner streams entries and is within the core's lag bound), REMOVENODE,
//     TRANSFER (to a named voter or the most up-to-date active one; answers
//     once it leads) and STATUS;
//   - joining (conf "join yes"): the node bootstraps with the cluster
//     line's other members as voters and itself as a learner, so it never
//     campaigns nor forms a cluster of its own; it waits for the leader.
//     Its first snapshot replaces that guess. Known limit: if leadership
//     moves, before the new member caught up, to a node that never
//     compacted its log, the member replays the conf changes from index 1
//     over the guess; changes that do not apply to it are skipped (the
//     same on every replay), so the membership in force converges to the
//     leader's, but the member's view of the history before its own
//     addition is approximate (it is no voter then, so no vote or commit
//     depends on it);
//   - a removed follower never receives its removal (the leader stops
//     sending to it when the removal is appended); the core tells it with
//     MsgRemoved the next time it hears from it (the leader: a forwarded
//     request; any member: a pre-vote), and from then on the node answers
//     clients CLUSTERDOWN removed at once (consensus.ErrRemoved, mapped by
//     clientErr) and never campaigns. Its transport peer is gone on the
//     members by then, so the node's Transport is farewellTransport: a
//     MsgRemoved to a node that is no member makes it a peer again for
//     30 s after the last one. That needs its address: a member restarted
//     from a snapshot taken after the removal knows it only from its
//     cluster line (the book forgets removed members), and otherwise
//     cannot tell it. A removed leader applies its own removal and
//     answers clients CLUSTERDOWN at once;
//   - start-up: the newest valid snapshot is restored before the node starts,
//     and only the log after it is replayed;
//   - shutdown: stop accepting clients, let in-flight commands finish (5 s at
//     most), hand leadership over, take a snapshot at the applied index (so
//     that the next start restores it instead of replaying the log command
//     by command: the restart target), stop the node, close (sync) the log.
//     Snapshots are taken on the applier (Node.RunOnApplier), without a
//     ReadIndex, so a node that lost its leader can still take one.
//
// cmd/raftkv only parses flags, sets up logging and signals, and calls Run.
package server
