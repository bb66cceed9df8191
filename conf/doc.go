// Package conf owns raftkv's configuration: one Config struct, its defaults,
// loading from a redis.conf-style file and --flags, validation, and the
// name/value view that CONFIG GET and CONFIG SET use.
//
// # Why it looks like redis-server
//
// Operators and tools already know redis-server's conventions, so we keep
// them: `raftkv [file] [--directive value ...]`, directives named as in Redis
// where the meaning is the same (port, bind, dir, requirepass, maxmemory,
// maxmemory-policy, maxmemory-samples, lfu-log-factor, lfu-decay-time,
// appendfsync, databases, timeout, maxclients, proto-max-bulk-len,
// loglevel, logfile, slowlog-log-slower-than, slowlog-max-len,
// latency-monitor-threshold), memory sizes with Redis's units (1k =
// 1000, 1kb = 1024, likewise m/mb and g/gb), and the file syntax of
// redis.conf: one directive per line, # comments, "double quotes" with
// backslash escapes (\n \r \t \b \a \xHH) and 'single quotes'. Flags override
// the file; a directive given twice keeps the last value. `raftkv` with no
// arguments is a single-node server on 127.0.0.1:6379. Unlike Redis, bind
// takes one address, and every directive exactly one value; unknown
// directives (including Redis ones we do not implement, such as save) are
// errors rather than silently ignored, so a typo cannot go unnoticed.
//
// Our own directives configure Raft:
//
//	node-id             this node's id (positive), default 1
//	raft-addr           where the peer transport listens; default bind:port+10000
//	                    (like the Redis Cluster bus)
//	cluster             initial membership, the same line on every node:
//	                    id=raft-host:port/client-host:port[,...]
//	                    e.g. 1=127.0.0.1:17001/127.0.0.1:7001,2=...
//	                    The client address lets a follower tell clients where
//	                    the leader is. Default: this node alone.
//	join                yes: this node joins an existing cluster. cluster then
//	                    lists the existing members (any live ones suffice:
//	                    they are whom it answers until the leader's snapshot
//	                    tells it the real membership) and this node. It starts
//	                    as a learner: it never campaigns or bootstraps a
//	                    cluster of its own, and waits for the leader to
//	                    contact it once an operator ran RAFT.ADDNODE (or
//	                    `raftkv join`). Default no. After the first start the
//	                    membership and every member's address come from the
//	                    data directory, whatever cluster says.
//	cluster-id          peers presenting another id in the handshake are refused
//	cluster-secret      shared secret proven in the peer handshake ("" = none)
//	election-timeout    ms, default 1000; must exceed heartbeat-interval
//	heartbeat-interval  ms, default 100
//	tick-interval       ms, default 10: the resolution of the consensus clock
//	                    (timeouts are converted to ticks); at most heartbeat
//	snapshot-threshold  applied entries between snapshots, default 100000
//	read-mode           readindex (default; a heartbeat round per read batch)
//	                    or lease: the leader answers reads with no round
//	                    trip for a lease renewed by each confirmed heartbeat
//	                    round (below). Every member must use the same mode
//	metrics-addr        host:port of the Prometheus endpoint, "" = off
//	request-timeout     ms a client waits for its write to commit before it
//	                    gets an "outcome unknown" error, default 5000
//
// # read-mode lease: the clock assumption
//
// With readindex (the default) every batch of reads costs the leader a
// heartbeat round to a majority: linearizable under any timing. With lease,
// a leader whose heartbeat round a majority confirmed at time T answers
// reads locally until T + 0.9 x (election-timeout - 1 tick) - 1 tick: a
// follower that heard from it ignores vote requests for an election
// timeout (check-quorum), so no other leader can exist before then. That
// holds only if the members' clocks run at rates that differ by less than
// 10% (ticks are counted against the monotonic clock, so wall-clock steps
// do not matter; a leader whose process was paused, e.g. by SIGSTOP or a
// VM freeze, catches up on the ticks it missed before it serves another
// read, TestNodeLeaseEndsAfterAPause; only a pause that falls between that
// clock reading and the read being answered, microseconds, is not covered);
// if they may not, keep readindex. All members must use the same
// election-timeout, tick-interval and read-mode; with lease a node also
// ignores vote requests for an election timeout after it starts (it may
// have promised a leader that before a restart), and a leader stops lease
// reads for the rest of its term once it starts a leadership transfer.
// The core's side: consensus.Config.ReadLeaseTicks, consensus/readindex.go.
//
// # appendfsync
//
// In Redis, appendfsync trades durability for speed. For us every write is
// acknowledged only when a majority has it in its log, and each node's WAL
// makes a batch durable with one fsync per group commit. "always" (default)
// fsyncs every group commit before acknowledging: no acknowledged write is
// lost even if every node loses power at once. "everysec" and "no" let the
// WAL acknowledge before fsync (once a second, or when the OS decides): an
// acknowledged write then survives any minority of crashes, but not a
// simultaneous power loss of a majority. Raft's safety with unsynced votes is
// the WAL package's concern; term and vote are always synced.
//
// # maxmemory and eviction
//
// maxmemory bounds the keyspace's accounted memory (kvsm/doc.go: the same
// figure on every replica, about what the keys really cost in the heap),
// not the process's RSS, which also holds the log's tail, buffers and the
// Go runtime. maxmemory-policy, maxmemory-samples (1..64, the keys sampled
// per database per eviction pick), lfu-log-factor and lfu-decay-time mean
// what they mean in Redis. Eviction is decided by the leader, with its own
// values, and replicated; the other nodes use theirs to refuse writes with
// -OOM when nothing can be evicted. All five are live and, as in Redis,
// local: CONFIG SET changes the node it is sent to, so set them on every
// node (or in every node's file). Unless GOGC or GOMEMLIMIT is set, the Go
// runtime's soft memory limit follows maxmemory, or without it the live
// heap (server/doc.go).
//
// # Slow log
//
// slowlog-log-slower-than (µs, default 10000; 0 logs every command, -1
// none) and slowlog-max-len (default 128) mean what they mean in Redis and
// are live and local. slowlog-max-len is bounded at SlowlogMaxLenMax
// (10000; Redis: LONG_MAX) so that the slow log's memory stays bounded
// (about 5 KiB per entry at most).
//
// # Errors
//
// Every error is one line naming the place and the directive, e.g.
//
//	conf: line 3: "port": "abc" is not an integer
//	conf: command line: "cluster": node id 1 appears twice
//
// so the binary can print it and exit 1. Errors match ErrUnknownDirective,
// ErrNotLive or ErrInvalidValue with errors.Is; CONFIG SET maps them to
// Redis's error texts. A value error carries two reasons: ours, specific
// (the value and the accepted form), for files and flags, and redis-server
// 7.0's wording (RedisReason: "argument couldn't be parsed into an
// integer", "argument must be between 0 and 2147483647 inclusive"...),
// which CONFIG SET answers because clients and scripts match on it
// (compat/qa_test.go compares them). Settable checks a name alone, so that
// CONFIG SET can reject unknown, immutable and repeated names before it
// parses any value, in Redis's order.
//
// # Live changes
//
// Set (CONFIG SET) changes only the directives in LiveDirectives: those the
// RESP server reads on every use (requirepass, timeout, maxclients,
// proto-max-bulk-len, loglevel) or hands to its backend on every change
// (maxmemory and the eviction directives). Everything else shapes components built at
// start-up and needs a restart; changing it live would silently do nothing.
// A Config is a plain value, not safe for concurrent use: whoever shares one
// (the RESP server) serialises access.
package conf
