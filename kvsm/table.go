package kvsm

import (
	"strings"

	"github.com/raftkv/raftkv/internal/cmdname"
)

// Error texts, as Redis 7 words them.
const (
	errSyntax        = "ERR syntax error"
	errNotInt        = "ERR value is not an integer or out of range"
	errNotFloat      = "ERR value is not a valid float"
	errOverflow      = "ERR increment or decrement would overflow"
	errWrongType     = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errDBRange       = "ERR DB index is out of range"
	errNoSuchKey     = "ERR no such key"
	errNaN           = "ERR increment would produce NaN or Infinity"
	errHashNotInt    = "ERR hash value is not an integer"
	errHashNotFloat  = "ERR hash value is not a float"
	errStringTooLong = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errInvalidCursor = "ERR invalid cursor"
	errOffsetRange   = "ERR offset is out of range"
)

// stringBytesMax is Redis's default proto-max-bulk-len: the largest string
// APPEND and SETRANGE may build.
const stringBytesMax = 512 << 20

// CommandInfo describes a command the store executes.
type CommandInfo struct {
	Name string // lower case
	// Arity as in Redis's COMMAND: n > 0 exactly n arguments (name
	// included), n < 0 at least -n.
	Arity int
	// Write commands change the keyspace and must go through the log;
	// the others may be served by Exec after a ReadIndex.
	Write bool
}

type commandSpec struct {
	CommandInfo
	run func(c *execCtx, args [][]byte) Reply
}

// commandTable is built once and never changed: every spec, and the
// same specs by name (cmdname: no hash map on the per-command path).
var commandTable = buildCommandTable()

type commandTableT struct {
	specs  []commandSpec
	byName *cmdname.Table[*commandSpec]
}

func buildCommandTable() commandTableT {
	specs := []commandSpec{
		// Strings.
		{CommandInfo{"get", 2, false}, cmdGet},
		{CommandInfo{"set", -3, true}, cmdSet},
		{CommandInfo{"setnx", 3, true}, cmdSetNX},
		{CommandInfo{"setex", 4, true}, cmdSetEX},
		{CommandInfo{"psetex", 4, true}, cmdPSetEX},
		{CommandInfo{"getset", 3, true}, cmdGetSet},
		{CommandInfo{"getdel", 2, true}, cmdGetDel},
		{CommandInfo{"getex", -2, true}, cmdGetEx},
		{CommandInfo{"mget", -2, false}, cmdMGet},
		{CommandInfo{"mset", -3, true}, cmdMSet},
		{CommandInfo{"msetnx", -3, true}, cmdMSetNX},
		{CommandInfo{"incr", 2, true}, cmdIncr},
		{CommandInfo{"decr", 2, true}, cmdDecr},
		{CommandInfo{"incrby", 3, true}, cmdIncrBy},
		{CommandInfo{"decrby", 3, true}, cmdDecrBy},
		{CommandInfo{"incrbyfloat", 3, true}, cmdIncrByFloat},
		{CommandInfo{"append", 3, true}, cmdAppend},
		{CommandInfo{"strlen", 2, false}, cmdStrlen},
		{CommandInfo{"getrange", 4, false}, cmdGetRange},
		{CommandInfo{"substr", 4, false}, cmdGetRange},
		{CommandInfo{"setrange", 4, true}, cmdSetRange},
		// Keys.
		{CommandInfo{"del", -2, true}, cmdDel},
		{CommandInfo{"unlink", -2, true}, cmdDel},
		{CommandInfo{"exists", -2, false}, cmdExists},
		{CommandInfo{"touch", -2, false}, cmdTouch},
		{CommandInfo{"type", 2, false}, cmdType},
		{CommandInfo{"rename", 3, true}, cmdRename},
		{CommandInfo{"renamenx", 3, true}, cmdRenameNX},
		{CommandInfo{"copy", -3, true}, cmdCopy},
		{CommandInfo{"expire", -3, true}, cmdExpire},
		{CommandInfo{"pexpire", -3, true}, cmdPExpire},
		{CommandInfo{"expireat", -3, true}, cmdExpireAt},
		{CommandInfo{"pexpireat", -3, true}, cmdPExpireAt},
		{CommandInfo{"ttl", 2, false}, cmdTTL},
		{CommandInfo{"pttl", 2, false}, cmdPTTL},
		{CommandInfo{"expiretime", 2, false}, cmdExpireTime},
		{CommandInfo{"pexpiretime", 2, false}, cmdPExpireTime},
		{CommandInfo{"persist", 2, true}, cmdPersist},
		{CommandInfo{"keys", 2, false}, cmdKeys},
		{CommandInfo{"scan", -2, false}, cmdScan},
		{CommandInfo{"randomkey", 1, false}, cmdRandomKey},
		{CommandInfo{"dbsize", 1, false}, cmdDBSize},
		{CommandInfo{"flushdb", -1, true}, cmdFlushDB},
		{CommandInfo{"flushall", -1, true}, cmdFlushAll},
		{CommandInfo{"swapdb", 3, true}, cmdSwapDB},
		{CommandInfo{purgeExpiredName, -2, true}, cmdPurgeExpired},
		{CommandInfo{evictName, -3, true}, cmdEvict},
		{CommandInfo{"object", -2, false}, cmdObject},
		{CommandInfo{"debug", -2, false}, cmdDebug},
		{CommandInfo{"memory", -2, false}, cmdMemory},
		{CommandInfo{watchVersionsName, -2, false}, cmdWatchVersions},
		{CommandInfo{watchGuardName, -2, true}, cmdWatchGuard},
		// Hashes.
		{CommandInfo{"hset", -4, true}, cmdHSet},
		{CommandInfo{"hmset", -4, true}, cmdHMSet},
		{CommandInfo{"hsetnx", 4, true}, cmdHSetNX},
		{CommandInfo{"hget", 3, false}, cmdHGet},
		{CommandInfo{"hmget", -3, false}, cmdHMGet},
		{CommandInfo{"hdel", -3, true}, cmdHDel},
		{CommandInfo{"hgetall", 2, false}, cmdHGetAll},
		{CommandInfo{"hkeys", 2, false}, cmdHKeys},
		{CommandInfo{"hvals", 2, false}, cmdHVals},
		{CommandInfo{"hexists", 3, false}, cmdHExists},
		{CommandInfo{"hlen", 2, false}, cmdHLen},
		{CommandInfo{"hstrlen", 3, false}, cmdHStrlen},
		{CommandInfo{"hincrby", 4, true}, cmdHIncrBy},
		{CommandInfo{"hincrbyfloat", 4, true}, cmdHIncrByFloat},
		{CommandInfo{"hrandfield", -2, false}, cmdHRandField},
		{CommandInfo{"hscan", -3, false}, cmdHScan},
	}
	byName := new(cmdname.Table[*commandSpec])
	for i := range specs {
		if err := byName.Add(specs[i].Name, &specs[i]); err != nil {
			// A static list: a duplicate or an overlong name is a
			// programming error, which every test run meets at start.
			panic(err)
		}
	}
	return commandTableT{specs: specs, byName: byName}
}

func lookupSpec(name []byte) *commandSpec {
	spec, _ := commandTable.byName.Lookup(name)
	return spec
}

// LookupCommand returns what the store knows of the command name (any case).
func LookupCommand(name []byte) (CommandInfo, bool) {
	spec := lookupSpec(name)
	if spec == nil {
		return CommandInfo{}, false
	}
	return spec.CommandInfo, true
}

// IsWrite reports whether name (any case) is a command that changes the
// keyspace. Unknown names report false.
func IsWrite(name []byte) bool {
	spec := lookupSpec(name)
	return spec != nil && spec.Write
}

// CommandInfos returns every command the store knows, in no fixed order.
func CommandInfos() []CommandInfo {
	out := make([]CommandInfo, 0, len(commandTable.specs))
	for i := range commandTable.specs {
		out = append(out, commandTable.specs[i].CommandInfo)
	}
	return out
}

func wrongArgs(name string) Reply {
	return ErrorReply("ERR wrong number of arguments for '" + name + "' command")
}

// unknownCommand words the error like Redis: the name and up to the first
// few arguments, each cut to 128 bytes.
func unknownCommand(args [][]byte) Reply {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.Write(truncate(args[0], 128))
	b.WriteString("', with args beginning with: ")
	for i, a := range args[1:] {
		if i == 32 {
			break
		}
		b.WriteByte('\'')
		b.Write(truncate(a, 128))
		b.WriteString("' ")
	}
	return ErrorReply(b.String())
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// eqFold reports whether b equals the lower-case ASCII word s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != s[i] {
			return false
		}
	}
	return true
}

// parseInt parses like Redis's string2ll: an optional '-', no '+', no
// spaces, no leading zeros, within int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	p := b
	if p[0] == '-' {
		neg = true
		p = p[1:]
		if len(p) == 0 {
			return 0, false
		}
	}
	if p[0] < '1' || p[0] > '9' {
		return 0, false
	}
	v, ok := parseDigits(p)
	if !ok {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// parseDigits reads decimal digits only (no sign, no spaces) into a uint64,
// refusing overflow; an empty input is 0. parseInt and parseCursor share it.
func parseDigits(p []byte) (uint64, bool) {
	var v uint64
	for _, ch := range p {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
