package compat

// knownDifference is one way raftkv's replies may differ from
// redis-server 7.0's, with the reason. The differential comparator relaxes
// a comparison only when an entry here names the command and the mode;
// any other difference fails the test.
type knownDifference struct {
	commands []string // upper case
	mode     cmpMode
	reason   string
}

// knownDifferences is THE list of justified differences (README links
// here). Keep it short: a difference that can be fixed is a bug.
var knownDifferences = []knownDifference{
	{
		commands: []string{"KEYS", "HKEYS", "HVALS"},
		mode:     modeUnordered,
		reason: "Both servers list in hash order, but not the same hash: Redis's " +
			"dict order depends on its SipHash seed and table size, raftkv's on " +
			"FNV-1a (which makes SCAN cursors stable across replicas). Compared as multisets.",
	},
	{
		commands: []string{"HGETALL"},
		mode:     modePairs,
		reason:   "Field order is hash order, as for HKEYS. Compared as a set of (field, value) pairs.",
	},
	{
		commands: []string{"SCAN"},
		mode:     modeScan,
		reason: "Same as KEYS for the order within a page. The stream only sends " +
			"SCAN 0 COUNT 1000 over a small keyspace, so both servers must return " +
			"cursor 0 and every matching key in one page. Other cursors are opaque and " +
			"server-specific (Redis reads -1 as 2^64-1), so none is sent.",
	},
	{
		commands: []string{"HSCAN"},
		mode:     modeHScan,
		reason:   "Same as HGETALL for the order within a page; small hashes come in one page with cursor 0.",
	},
	{
		commands: []string{"TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"},
		mode:     modeTTL,
		reason: "Deadlines set with a relative TTL are computed from each server's own " +
			"clock at the moment it executes the command (raftkv: the leader's stamp on " +
			"the log entry), so the two deadlines differ by the few milliseconds between " +
			"the two servers receiving the command. Compared within 2 s (2000 ms); " +
			"negative answers (-1, -2) must match exactly.",
	},
	{
		commands: []string{"RANDOMKEY", "HRANDFIELD"},
		mode:     modeRandom,
		reason: "A random pick: raftkv draws from a generator seeded by the log index " +
			"(so every replica picks the same), Redis from its own. Compared by type, " +
			"null-ness and number of elements.",
	},
	{
		commands: []string{"HSCAN"},
		mode:     modeNotSent,
		reason:   "HSCAN accepts NOVALUES (a Redis 7.4 option; 7.0 answers a syntax error). Not sent.",
	},
	{
		commands: []string{"HRANDFIELD"},
		mode:     modeNotSent,
		reason: "HRANDFIELD with a negative count is capped at 1M picks (Redis " +
			"builds whatever is asked, up to running out of memory). Not sent.",
	},
	{
		commands: []string{"SET"},
		mode:     modeNotSent,
		reason: "SET with EXAT/PXAT already past: Redis 7.0 stores the key and leaves it " +
			"to lazy or active expiry, so DBSIZE counts it until the next expiry cycle " +
			"(up to 100 ms: timing-dependent); raftkv drops it at once (as Redis does " +
			"for EXPIREAT and GETEX EXAT in the past, which the stream does send). Not sent.",
	},
	{
		commands: []string{"COMMAND"},
		mode:     modeNotSent,
		reason: "COMMAND DOCS answers redis-server 7.0.15's own documents (generated " +
			"from it), so for CLIENT, CONFIG and COMMAND they list every Redis " +
			"subcommand, including those raftkv lacks; Redis orders subcommands by " +
			"its per-process hash seed, so even two redis-servers differ. COMMAND " +
			"DOCS without names lists only raftkv's commands. COMMAND INFO has empty " +
			"tips, key specs and subcommands. The stream asks COMMAND DOCS about " +
			"other commands only.",
	},
	{
		commands: []string{"EXEC"},
		mode:     modeNotSent,
		reason: "WATCH compares each key's write index (kvsm/watch.go) when the " +
			"transaction is applied, and a missing key has none: a watched key that " +
			"was missing at WATCH, then created and deleted again before EXEC, looks " +
			"unchanged, so raftkv runs the transaction where Redis aborts it. Between " +
			"WATCH and EXEC the stream writes a watched key at most once (and never " +
			"FLUSHDB/FLUSHALL/SWAPDB).",
	},
	{
		commands: []string{"INFO", "OBJECT", "DEBUG", "MEMORY"},
		mode:     modeNotSent,
		reason: "maxmemory bounds the keyspace's accounted memory, the same figure on " +
			"every replica (kvsm/doc.go): INFO's used_memory is that figure (0 for an " +
			"empty keyspace; Redis counts about 1 MB of its own), so which writes are " +
			"refused or evicted near the limit differs (TestDifferentialMaxmemory " +
			"compares OOM replies, OBJECT errors and configured INFO fields). Reads " +
			"update access data only when maxmemory and an LRU or LFU policy are set, " +
			"so OBJECT IDLETIME otherwise counts from the last write. OBJECT " +
			"ENCODING is derived from the value (int, embstr, raw; listpack or " +
			"hashtable by Redis's default thresholds), not from its history. DEBUG " +
			"has only DIGEST (our digest, not Redis's), and is allowed without " +
			"enable-debug-command. MEMORY has USAGE (the key's accounted size) " +
			"and HELP only.",
	},
	{
		commands: []string{"CONFIG"},
		mode:     modeNotSent,
		reason: "CONFIG SET answers Redis's error texts (TestDifferentialConfigSetErrors), " +
			"but maxmemory-samples is bounded to 1..64 (each eviction pick costs that many " +
			"samples per database), maxclients to 2^31-1 and slowlog-max-len to 10000 (an entry " +
			"may hold ~5 KiB), so their range errors name other " +
			"bounds; directives that shape the node at start (port, bind, dir, appendfsync...) " +
			"are immutable. CONFIG GET lists only raftkv's directives. Not sent by the stream.",
	},
	{
		commands: []string{"SLOWLOG", "LATENCY", "ROLE"},
		mode:     modeNotSent,
		reason: "Their replies hold times, durations, offsets and client ports, which differ " +
			"(compat2_test.go compares their shapes, arguments and error texts). A pipeline's " +
			"keyspace commands are one Backend call, so each is logged with the run's time, " +
			"and a transaction's with EXEC's. LATENCY samples only the command and " +
			"fast-command events and has no DOCTOR, GRAPH or HISTOGRAM. ROLE maps Raft " +
			"roles: the leader is a master (offset = applied index, replicas' offsets = " +
			"match indexes), the others its replicas. Not sent by the stream.",
	},
	{
		commands: []string{"HELLO"},
		mode:     modeSkip,
		reason:   "HELLO's reply holds the connection id, which differs; its shape is checked by the client tests.",
	},
}

// justified reports whether knownDifferences allows mode for command.
func justified(command string, mode cmpMode) bool {
	if mode == modeExact || mode == modeExec {
		return true
	}
	for _, d := range knownDifferences {
		if d.mode != mode {
			continue
		}
		for _, c := range d.commands {
			if c == command {
				return true
			}
		}
	}
	return false
}
