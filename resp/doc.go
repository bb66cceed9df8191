// Package resp is raftkv's client front end: a Redis-protocol (RESP2 and
// RESP3) server that answers as redis-server 7.0 does, and hands every
// keyspace command to a Backend, which replicates writes through Raft and
// serves reads at a linearizable point. It owns the command table (name,
// arity, flags, key positions), Redis's error texts, and the commands a
// connection answers itself: PING, ECHO, QUIT, SELECT, HELLO, AUTH, CLIENT,
// COMMAND, INFO, CONFIG, TIME, MULTI/EXEC/DISCARD, WATCH/UNWATCH, RESET,
// READONLY/READWRITE, LASTSAVE, SAVE/BGSAVE (through the optional Saver
// interface), WAIT, ROLE (role.go: the leader as a master, the others as
// its replicas), SLOWLOG (slowlog.go), LATENCY
// (latency.go), MONITOR (monitor.go: bounded per-monitor queues; a
// monitor that falls behind is disconnected), and the RAFT.* admin family
// (raft.go, through the optional Membership interface: ADDNODE, PROMOTE,
// REMOVENODE, TRANSFER, STATUS; a follower answers "-ERR not the leader;
// leader is ID at HOST:PORT" instead of relaying a change whose outcome it
// could lose). It never touches Raft state.
//
// # One connection, one goroutine, one Backend call per run
//
// Each connection has its own goroutine, which may block (on a Backend call)
// without holding up any other connection. Its loop is:
//
//  1. take every complete command the client has already sent (at most
//     ServerConfig.BatchCommandsMax), reading from the socket only when
//     there is none;
//  2. execute them in order: consecutive keyspace commands form a run that
//     goes to the Backend as ONE call — Read if all are read-only, otherwise
//     Write carrying all of them in pipeline order, which the Backend
//     proposes as one log entry; a connection-local command first sends the
//     pending run, then runs inline, so replies stay in request order;
//  3. encode every reply into one reused buffer and write it with one
//     write.
//
// A pipeline of N commands therefore costs one Raft round trip, not N, and
// MULTI/EXEC is simply a run that the Backend applies as one entry (hence
// atomically on every replica); connection commands queued in MULTI (PING,
// SELECT, INFO...) run at EXEC in their place among the replies, and a
// queued SELECT sets the database of the keyspace commands after it. A
// transaction holds at most 10000 commands and 32 MiB, so that its entry
// stays well inside the peer transport's 64 MiB frame limit.
//
// # WATCH, decided where the transaction is applied
//
// A check on the connection ("did the key change since WATCH?") would be
// racy against writes from other nodes and could differ between replicas.
// Instead WATCH reads each key's version (the log index of its last write,
// kvsm/watch.go) through Backend.Read, at a linearizable point, so it works
// on followers too; EXEC sends the transaction as one entry led by a guard
// carrying (db, key, version) triples. The state machine compares the
// versions when it applies that entry and skips the transaction if any
// changed: every replica decides the same, and EXEC answers the null array
// as Redis does. A connection watches at most 10000 keys (1 MiB of names).
// For the same reason a pipeline's run is split into several Backend calls
// once its arguments pass ServerConfig.RunBytesMax (8 MiB): a pipeline is
// not atomic, so this changes only the number of log entries.
//
// The command table (commands.go) holds Redis 7.0's COMMAND INFO metadata.
// Commands are found by name through internal/cmdname (buckets by length
// and first letter, a case-folding byte compare: no hash map, no copy, on
// every command of every pipeline).
// Its keyspace commands are exactly those kvsm executes, with the same
// arity and write flag (TestCommandTableMatchesKVSM fails when the two
// drift); kvsm's internal commands (PURGEEXPIRED) are not in it, so a
// client cannot send them.
//
// # Why our own reader and accept loop, and not redcon's
//
// redcon's encoders (Append*) are used as they are. Its connection loop and
// Reader are not, because they cannot meet our limits: the Reader grows its
// buffer without bound while a request is incomplete (an announced bulk or
// an endless inline line), accepts any bulk length, copies every command
// (Raw) and rescans a partial request from its start on every read, and its
// protocol errors differ from Redis's. Our reader (reader.go):
//
//   - checks every header before buffering its body: bulk length against
//     proto-max-bulk-len (live), the argument count against INT_MAX, headers
//     and inline lines against 64 KiB, and, before AUTH, Redis's
//     unauthenticated limits (10 arguments, 16 KiB bulks); violations get
//     Redis's "-ERR Protocol error: ..." text and the connection is closed;
//   - grows its buffer only as bytes arrive (so a client announcing 500 MB
//     and sending nothing costs nothing), never past the query buffer limit
//     (1 GiB, Redis's client-query-buffer-limit), and shrinks it back after
//     a large request;
//   - parses a large multibulk incrementally, and hands out arguments that
//     alias its buffer: no allocation per command on the GET path. The
//     Backend must therefore not keep argument slices after it returns.
//
// Owning the accept loop also gives maxclients ("-ERR max number of clients
// reached", then close), idle `timeout`, CLIENT KILL, and graceful shutdown:
// Shutdown closes the listeners, wakes idle readers, lets every connection
// finish the batch it is executing and write its replies, then closes it;
// if Shutdown's context ends first, in-flight Backend calls are cancelled.
//
// # Encoding
//
// State-machine replies (kvsm.Reply) are encoded per connection protocol:
// RESP3 Map (%), Set (~), Double (, with %.17g as Redis 7.0), Null (_),
// Boolean (#) and verbatim strings (= for INFO and CLIENT LIST/INFO); in
// RESP2 a map is a flat array, a double a bulk string, a boolean 0/1, null
// $-1 or *-1. Encoders append to the connection's buffer in redcon's style.
//
// # Errors from the Backend
//
// Backend errors become Redis-style errors chosen for what client
// libraries retry (go-redis, redis-py and Jedis retry CLUSTERDOWN and
// TRYAGAIN; go-redis also MASTERDOWN):
//
//	consensus.ErrNoLeader         -CLUSTERDOWN No leader elected yet ...   (retryable)
//	consensus.ErrProposalDropped  -TRYAGAIN Proposal dropped ...           (retryable)
//	consensus.ErrTimeout, read    -TRYAGAIN Read timed out ...             (retryable)
//	consensus.ErrTimeout, write   -TIMEOUT Outcome unknown ...  (not retried: it may have applied)
//	consensus.ErrStopped          -MASTERDOWN Node is shutting down        (retryable elsewhere)
//	anything else                 -ERR <error text>
//
// Every command of the failed run gets the error.
//
// # maxmemory
//
// A Backend that implements MemoryGuard is asked before every command
// flagged denyoom in the table (SET, INCR, HSET, APPEND...; not DEL,
// EXPIRE or reads), and before every command queued in MULTI as Redis
// does: under the limit that is one call doing an atomic compare; over it
// the command gets "-OOM command not allowed when used memory >
// 'maxmemory'." in its place among the pipeline's replies (the pending run
// is sent first), a MULTI is marked dirty, and an EXEC whose queue holds a
// denyoom command aborts with EXECABORT and the OOM text. When the backend
// says eviction can make room, the connection waits for it (bounded by
// the backend). A Backend that implements ConfigObserver gets the
// configuration at start and after each CONFIG SET (the eviction
// directives are live and local to the node).
//
// # Configuration
//
// CONFIG GET/SET work on the conf.Config given in ServerConfig (serialised
// by the Server). requirepass, maxclients, timeout, proto-max-bulk-len and
// loglevel change live; other directives answer "can't set immutable
// config". CONFIG GET also answers save ("") and appendonly ("yes") because
// redis-benchmark reads them at start-up.
//
// # Error statistics
//
// Every error reply counts in INFO errorstats (errorstat_<PREFIX>, the
// text before the first space) and total_error_replies, as in Redis:
// connection errors through client.replyError, state-machine errors by
// walking the Backend's replies (EXEC's nested ones included), also when
// CLIENT REPLY is off. The prefixes raftkv sends have a fixed atomic
// counter each (no lock, no allocation per error); others go to a map
// bounded at 128 prefixes as Redis's (errorstats.go).
//
// # Command counters
//
// INFO's total_commands_processed and commandstats, and CLIENT LIST's
// cmd=, are shared by every connection. A connection tallies its batch
// and adds it once per streak of the same command (client.commandTally)
// instead of an atomic add per command on lines the other cores keep
// writing; it publishes the tally before any connection command runs, so
// an INFO in a pipeline sees the commands before it, and itself, counted.
//
// # Slow log
//
// A command that runs (not one refused or queued in MULTI) is timed when
// slowlog-log-slower-than is not negative: a connection command around its
// handler, a keyspace command around the Backend call of its run. A run
// is one call (one log entry for writes), so each of its commands gets
// the run's time; likewise the commands of a transaction get EXEC's (EXEC
// itself is not logged, as in Redis). Under the threshold this costs a
// clock read and a compare, no allocation; a slow command's entry copies
// its arguments truncated as Redis does (32 arguments, 128 bytes each;
// AUTH and HELLO AUTH secrets redacted) into a ring of slowlog-max-len
// entries guarded by one mutex. Once the ring is full a new entry reuses
// the oldest one's storage, so a loaded server, where whole pipelined runs
// pass the threshold (their time includes replication), logs without
// allocating; SLOWLOG GET therefore encodes under that mutex.
//
// LATENCY uses the same timing: with latency-monitor-threshold (ms) above
// 0, a command at or over it is sampled as Redis's "command" or
// "fast-command" event (by its fast flag), one sample per second, 160 per
// event. LATEST, HISTORY, RESET and HELP are answered; DOCTOR, GRAPH and
// HISTOGRAM are not, and Redis's other events (fork, fsync...) are not
// measured.
//
// # Known differences from redis-server 7.0
//
// Checked by TestDifferentialAgainstRedis and TestDifferentialKeyspace
// (flag -resp.redis), which compare reply bytes with a real server. Where we
// differ, on purpose:
//
//   - CONFIG SET answers Redis's error texts (conf.RedisReason), but
//     maxmemory-samples is bounded to 1..64 and maxclients to 2^31-1
//     (Redis: 2^31-1 and 2^32-1), so the bounds its range error names
//     differ; directives that shape the node at start (port, bind, dir,
//     appendfsync...) answer "can't set immutable config".
//   - COMMAND INFO has empty tips, key specs and subcommands. COMMAND DOCS
//     answers redis-server 7.0.15's own documents (command_docs.resp3,
//     written by `go generate` from a real server, never typed), so
//     redis-cli shows its argument hints.
//   - CLIENT LIST/INFO: fd=-1 and zero buffer sizes; cmd= names the command
//     without its subcommand; lib-name/lib-ver and CLIENT NO-TOUCH and
//     SETINFO are accepted as in Redis 7.2.
//   - INFO commandstats counts calls per command (not per subcommand: no
//     cmdstat_config|get), with usec, rejected_calls and failed_calls 0
//     (not measured); INFO latencystats is empty.
//   - CONFIG GET appendonly is "yes" (our log is always on).
//   - SLOWLOG: a pipeline's keyspace commands share their run's time, a
//     transaction's commands EXEC's; slowlog-max-len is bounded at 10000.
//     LATENCY has no DOCTOR, GRAPH or HISTOGRAM and measures only the
//     command and fast-command events.
//   - READONLY and READWRITE answer OK (Redis without cluster mode: an
//     error): clients configured for replica reads send them.
//   - SAVE and BGSAVE take a Raft snapshot (and compact the log behind it)
//     instead of writing an RDB file; LASTSAVE and INFO persistence's
//     rdb_last_save_time answer when this node last made one durable, or
//     the start time before the first (the log is durable as it is written).
//     BGSAVE SCHEDULE starts at once: there is no child process to wait for.
//   - WAIT never blocks: it answers with the replicas known to hold every
//     committed write (on the leader those whose match index reached the
//     commit index, elsewhere a majority minus one).
//   - Pub/sub, scripting and blocking commands are unknown.
//
// The whole list, with reasons, is compat/differences_test.go; compat's
// differential test enforces it against a real redis-server.
package resp
