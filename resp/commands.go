package resp

// commandSpec is a command's static description, as Redis 7.0 reports it in
// COMMAND INFO: arity (negative = at least -arity arguments, the name
// included), flags, the positions of the first and last key and the step
// between keys, and ACL categories. keyspace marks commands whose semantics
// live in the state machine: they are routed to the Backend, writes through
// the log and reads at a linearizable point; every other command is
// answered by the connection itself.
//
// The values were taken from redis-server 7.0.15's COMMAND INFO so that
// client libraries that read them (cluster routing, redis-cli hints) see
// what they expect.
type commandSpec struct {
	name       string
	arity      int
	flags      []string
	firstKey   int
	lastKey    int
	keyStep    int
	categories []string
	keyspace   bool
}

// commandSpecs is read-only after package initialisation.
var commandSpecs = []commandSpec{
	{name: "append", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "copy", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 2, keyStep: 1, categories: []string{"@keyspace", "@write", "@slow"}, keyspace: true},
	{name: "dbsize", arity: 1, flags: []string{"readonly", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "decr", arity: 2, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "decrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "del", arity: -2, flags: []string{"write"}, firstKey: 1, lastKey: -1, keyStep: 1, categories: []string{"@keyspace", "@write", "@slow"}, keyspace: true},
	{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "expire", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "expireat", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "expiretime", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "flushall", arity: -1, flags: []string{"write"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@write", "@slow", "@dangerous"}, keyspace: true},
	{name: "flushdb", arity: -1, flags: []string{"write"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@write", "@slow", "@dangerous"}, keyspace: true},
	{name: "get", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@string", "@fast"}, keyspace: true},
	{name: "getdel", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "getex", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "getrange", arity: 4, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@string", "@slow"}, keyspace: true},
	{name: "getset", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "hdel", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@hash", "@fast"}, keyspace: true},
	{name: "hexists", arity: 3, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@fast"}, keyspace: true},
	{name: "hget", arity: 3, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@fast"}, keyspace: true},
	{name: "hgetall", arity: 2, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@slow"}, keyspace: true},
	{name: "hincrby", arity: 4, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@hash", "@fast"}, keyspace: true},
	{name: "hincrbyfloat", arity: 4, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@hash", "@fast"}, keyspace: true},
	{name: "hkeys", arity: 2, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@slow"}, keyspace: true},
	{name: "hlen", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@fast"}, keyspace: true},
	{name: "hmget", arity: -3, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@fast"}, keyspace: true},
	{name: "hmset", arity: -4, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@hash", "@fast"}, keyspace: true},
	{name: "hrandfield", arity: -2, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@slow"}, keyspace: true},
	{name: "hscan", arity: -3, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@slow"}, keyspace: true},
	{name: "hset", arity: -4, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@hash", "@fast"}, keyspace: true},
	{name: "hsetnx", arity: 4, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@hash", "@fast"}, keyspace: true},
	{name: "hstrlen", arity: 3, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@fast"}, keyspace: true},
	{name: "hvals", arity: 2, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@hash", "@slow"}, keyspace: true},
	{name: "incr", arity: 2, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "incrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "incrbyfloat", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "keys", arity: 2, flags: []string{"readonly"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@read", "@slow", "@dangerous"}, keyspace: true},
	{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, categories: []string{"@read", "@string", "@fast"}, keyspace: true},
	{name: "mset", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: -1, keyStep: 2, categories: []string{"@write", "@string", "@slow"}, keyspace: true},
	{name: "msetnx", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: -1, keyStep: 2, categories: []string{"@write", "@string", "@slow"}, keyspace: true},
	{name: "debug", arity: -2, flags: []string{"admin", "noscript", "loading", "stale"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: true},
	{name: "memory", arity: -2, flags: []string{}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow"}, keyspace: true},
	{name: "object", arity: -2, flags: []string{}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow"}, keyspace: true},
	{name: "persist", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "pexpire", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "pexpireat", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "pexpiretime", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "psetex", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@slow"}, keyspace: true},
	{name: "pttl", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "randomkey", arity: 1, flags: []string{"readonly"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@read", "@slow"}, keyspace: true},
	{name: "rename", arity: 3, flags: []string{"write"}, firstKey: 1, lastKey: 2, keyStep: 1, categories: []string{"@keyspace", "@write", "@slow"}, keyspace: true},
	{name: "renamenx", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 2, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "scan", arity: -2, flags: []string{"readonly"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@read", "@slow"}, keyspace: true},
	{name: "set", arity: -3, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@slow"}, keyspace: true},
	{name: "setex", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@slow"}, keyspace: true},
	{name: "setnx", arity: 3, flags: []string{"write", "denyoom", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@fast"}, keyspace: true},
	{name: "setrange", arity: 4, flags: []string{"write", "denyoom"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@write", "@string", "@slow"}, keyspace: true},
	{name: "strlen", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@string", "@fast"}, keyspace: true},
	{name: "substr", arity: 4, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@read", "@string", "@slow"}, keyspace: true},
	{name: "swapdb", arity: 3, flags: []string{"write", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@keyspace", "@write", "@fast", "@dangerous"}, keyspace: true},
	{name: "touch", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "ttl", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "type", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, keyStep: 1, categories: []string{"@keyspace", "@read", "@fast"}, keyspace: true},
	{name: "unlink", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: -1, keyStep: 1, categories: []string{"@keyspace", "@write", "@fast"}, keyspace: true},
	{name: "ping", arity: -1, flags: []string{"fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "echo", arity: 2, flags: []string{"loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "quit", arity: -1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "select", arity: 2, flags: []string{"loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "hello", arity: -1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "auth", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "client", arity: -2, flags: []string{}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow"}, keyspace: false},
	{name: "command", arity: -1, flags: []string{"loading", "stale"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow", "@connection"}, keyspace: false},
	{name: "info", arity: -1, flags: []string{"loading", "stale"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow", "@dangerous"}, keyspace: false},
	{name: "config", arity: -2, flags: []string{}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow"}, keyspace: false},
	{name: "time", arity: 1, flags: []string{"loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast"}, keyspace: false},
	{name: "multi", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@transaction"}, keyspace: false},
	{name: "exec", arity: 1, flags: []string{"noscript", "loading", "stale", "skip_slowlog"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow", "@transaction"}, keyspace: false},
	{name: "watch", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, firstKey: 1, lastKey: -1, keyStep: 1, categories: []string{"@fast", "@transaction"}, keyspace: false},
	{name: "unwatch", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@transaction"}, keyspace: false},
	{name: "reset", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "readonly", arity: 1, flags: []string{"loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "readwrite", arity: 1, flags: []string{"loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@connection"}, keyspace: false},
	{name: "monitor", arity: 1, flags: []string{"admin", "noscript", "loading", "stale"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "save", arity: 1, flags: []string{"admin", "noscript", "no_async_loading", "no_multi"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "bgsave", arity: -1, flags: []string{"admin", "noscript", "no_async_loading"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "lastsave", arity: 1, flags: []string{"loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@fast", "@dangerous"}, keyspace: false},
	{name: "wait", arity: 3, flags: []string{"noscript"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow", "@connection"}, keyspace: false},
	{name: "raft.addnode", arity: 4, flags: []string{"admin", "noscript", "no_multi"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "raft.promote", arity: 2, flags: []string{"admin", "noscript", "no_multi"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "raft.removenode", arity: 2, flags: []string{"admin", "noscript", "no_multi"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "raft.transfer", arity: -1, flags: []string{"admin", "noscript", "no_multi"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow", "@dangerous"}, keyspace: false},
	{name: "raft.status", arity: 1, flags: []string{"admin", "loading", "stale"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@slow"}, keyspace: false},
	{name: "role", arity: 1, flags: []string{"noscript", "loading", "stale", "fast"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@admin", "@fast", "@dangerous"}, keyspace: false},
	{name: "slowlog", arity: -2, flags: []string{}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow"}, keyspace: false},
	{name: "latency", arity: -2, flags: []string{}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@slow"}, keyspace: false},
	{name: "discard", arity: 1, flags: []string{"noscript", "loading", "stale", "fast", "allow_busy"}, firstKey: 0, lastKey: 0, keyStep: 0, categories: []string{"@fast", "@transaction"}, keyspace: false},
}
