package compat

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// cmpMode says how a reply is compared with Redis's; every mode other than
// modeExact is justified by an entry of knownDifferences.
type cmpMode uint8

const (
	modeExact     cmpMode = iota
	modeUnordered         // an array compared as a multiset (hash order)
	modePairs             // a map (or RESP2 flat array) compared as a set of pairs
	modeScan              // [cursor, array]: cursor exact, array as a multiset
	modeHScan             // [cursor, flat pairs]: cursor exact, pairs as a set
	modeTTL               // an integer deadline or TTL: within a tolerance
	modeRandom            // a random pick: same type and length only
	modeSkip              // not compared (HELLO's id, TIME)
	modeExec              // EXEC: each element by its queued command's mode
	// modeNotSent marks a knownDifferences entry for inputs the stream
	// deliberately does not generate.
	modeNotSent
)

// gcmd is one generated command and how to compare its reply.
type gcmd struct {
	args [][]byte
	mode cmpMode
	// sub holds the modes of a transaction's queued commands (modeExec).
	sub []gcmd
}

// step is what the stream sends in one write: one command, a pipeline, or
// a whole MULTI ... EXEC block.
type step struct {
	cmds []gcmd
}

// generator produces a seeded random command stream. Keys come from a
// small pool so that commands meet each other's keys (and wrong types).
type generator struct {
	r        *rand.Rand
	keys     [][]byte
	fields   [][]byte
	futureS  int64 // a Unix time far in the future, seconds
	bigValue []byte
}

func newGenerator(seed uint64) *generator {
	g := &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, k := range []string{"k0", "k1", "k2", "k3", "k4", "h0", "h1", "h2", "", "bin\r\n\x00key", "{tag}k"} {
		g.keys = append(g.keys, []byte(k))
	}
	for _, f := range []string{"f0", "f1", "f2", "f3", "", "bin\r\n\x00f"} {
		g.fields = append(g.fields, []byte(f))
	}
	// Far enough that nothing expires during the test, fixed per stream.
	g.futureS = time.Now().Unix() + 1_000_000 + int64(g.r.IntN(1000))
	g.bigValue = bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	return g
}

func (g *generator) pick(xs []string) []byte { return []byte(xs[g.r.IntN(len(xs))]) }
func (g *generator) pick2(a, b gcmd) gcmd {
	if g.chance(0.5) {
		return a
	}
	return b
}
func (g *generator) key() []byte           { return g.keys[g.r.IntN(len(g.keys))] }
func (g *generator) field() []byte         { return g.fields[g.r.IntN(len(g.fields))] }
func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

// value returns a string value: mostly small numbers and words, sometimes
// binary, empty or 1 MiB.
func (g *generator) value() []byte {
	switch n := g.r.IntN(100); {
	case n < 30:
		return strconv.AppendInt(nil, int64(g.r.IntN(200)-100), 10)
	case n < 55:
		return []byte("v" + strconv.Itoa(g.r.IntN(50)))
	case n < 65:
		return []byte("")
	case n < 75:
		return []byte("bin\r\nval\x00ue\xff")
	case n < 82:
		return g.pick([]string{"1.5", "-0.25", "3e2", "9223372036854775807", "-9223372036854775808", " 1", "01", "+1", "inf", "nan"})
	case n < 83:
		return g.bigValue
	default:
		b := make([]byte, g.r.IntN(40))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return b
	}
}

// integer returns an integer argument, often an edge case or not a number.
func (g *generator) integer() []byte {
	if g.chance(0.6) {
		return strconv.AppendInt(nil, int64(g.r.IntN(40)-10), 10)
	}
	return g.pick([]string{"0", "-1", "100", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "-9223372036854775809", "abc", "", "1.5", " 1", "01", "+1", "1e3", "4294967296"})
}

// float returns a float argument for INCRBYFLOAT-like commands.
func (g *generator) float() []byte {
	return g.pick([]string{"1", "-1", "0.5", "2.25", "-3.75", "10", "1e2", "abc", "", "inf", "-inf", "nan", " 1", "0x10", "1_0", "1e400", "0.1", "-3.75", "1e4933", "0x1.8p1", "0b1"})
}

// ttlSeconds returns an expiry in seconds: never a small positive one,
// which could expire between two servers' views.
func (g *generator) ttlSeconds() []byte {
	if g.chance(0.7) {
		return strconv.AppendInt(nil, int64(1000+g.r.IntN(100000)), 10)
	}
	return g.pick([]string{"0", "-1", "-100", "9223372036854775807", "9223372036854775", "abc", "", "1.5", "-9223372036854775808"})
}

func (g *generator) ttlMillis() []byte {
	if g.chance(0.7) {
		return strconv.AppendInt(nil, int64(1_000_000+g.r.IntN(100_000_000)), 10)
	}
	return g.pick([]string{"0", "-1", "9223372036854775807", "9223372036854775", "abc", "-9223372036854775808"})
}

// unixSeconds returns an absolute time: the past, the far future, or junk.
func (g *generator) unixSeconds() []byte {
	switch g.r.IntN(4) {
	case 0:
		return []byte("1")
	case 1, 2:
		return strconv.AppendInt(nil, g.futureS+int64(g.r.IntN(1000)), 10)
	default:
		return g.pick([]string{"0", "-5", "9223372036854775807", "abc"})
	}
}

func (g *generator) unixMillis() []byte {
	switch g.r.IntN(4) {
	case 0:
		return []byte("1000")
	case 1, 2:
		return strconv.AppendInt(nil, g.futureS*1000+int64(g.r.IntN(1_000_000)), 10)
	default:
		return g.pick([]string{"0", "-5", "9223372036854775807", "abc"})
	}
}

// futureOrJunk replaces a past time by a far future one: SET with a
// deadline already past is not sent (see knownDifferences).
func (g *generator) futureOrJunk(t []byte, future int64) []byte {
	if n, err := strconv.ParseInt(string(t), 10, 64); err == nil && n > 0 && n < future {
		return strconv.AppendInt(nil, future+1, 10)
	}
	return t
}

func args(parts ...[]byte) [][]byte { return parts }
func b(s string) []byte             { return []byte(s) }

// genCommand is one command family's generator.
type genCommand func(g *generator) gcmd

// commandGens covers every command raftkv implements; each entry also
// produces wrong arity and bad arguments some of the time.
var commandGens = map[string]genCommand{
	"get":    func(g *generator) gcmd { return exact(b("GET"), g.key()) },
	"set":    genSet,
	"setnx":  func(g *generator) gcmd { return exact(b("SETNX"), g.key(), g.value()) },
	"setex":  func(g *generator) gcmd { return exact(b("SETEX"), g.key(), g.ttlSeconds(), g.value()) },
	"psetex": func(g *generator) gcmd { return exact(b("PSETEX"), g.key(), g.ttlMillis(), g.value()) },
	"getset": func(g *generator) gcmd { return exact(b("GETSET"), g.key(), g.value()) },
	"getdel": func(g *generator) gcmd { return exact(b("GETDEL"), g.key()) },
	"getex":  genGetEx,
	"mget": func(g *generator) gcmd {
		a := args(b("MGET"))
		for n := 1 + g.r.IntN(4); n > 0; n-- {
			a = append(a, g.key())
		}
		return gcmd{args: a}
	},
	"mset":        func(g *generator) gcmd { return genMSet(g, "MSET") },
	"msetnx":      func(g *generator) gcmd { return genMSet(g, "MSETNX") },
	"incr":        func(g *generator) gcmd { return exact(b("INCR"), g.key()) },
	"decr":        func(g *generator) gcmd { return exact(b("DECR"), g.key()) },
	"incrby":      func(g *generator) gcmd { return exact(b("INCRBY"), g.key(), g.integer()) },
	"decrby":      func(g *generator) gcmd { return exact(b("DECRBY"), g.key(), g.integer()) },
	"incrbyfloat": func(g *generator) gcmd { return exact(b("INCRBYFLOAT"), g.key(), g.float()) },
	"append":      func(g *generator) gcmd { return exact(b("APPEND"), g.key(), g.value()) },
	"strlen":      func(g *generator) gcmd { return exact(b("STRLEN"), g.key()) },
	"getrange":    func(g *generator) gcmd { return exact(b("GETRANGE"), g.key(), g.integer(), g.integer()) },
	"substr":      func(g *generator) gcmd { return exact(b("SUBSTR"), g.key(), g.integer(), g.integer()) },
	"setrange": func(g *generator) gcmd {
		off := g.pick([]string{"0", "1", "5", "20", "-1", "abc", "536870912", "536870911", "536870913"})
		val := g.value()
		switch {
		case string(off) == "536870911":
			val = b("") // a 512 MiB string on both servers would be too slow
		case len(off) > 8:
			val = b("x") // past 512 MiB: an error
		}
		return exact(b("SETRANGE"), g.key(), off, val)
	},
	"del":    func(g *generator) gcmd { return keysCmd(g, "DEL") },
	"unlink": func(g *generator) gcmd { return keysCmd(g, "UNLINK") },
	"exists": func(g *generator) gcmd { return keysCmd(g, "EXISTS") },
	"touch":  func(g *generator) gcmd { return keysCmd(g, "TOUCH") },
	"type":   func(g *generator) gcmd { return exact(b("TYPE"), g.key()) },
	"rename": func(g *generator) gcmd { return exact(b("RENAME"), g.key(), g.key()) },
	"renamenx": func(g *generator) gcmd {
		return exact(b("RENAMENX"), g.key(), g.key())
	},
	"copy": func(g *generator) gcmd {
		a := args(b("COPY"), g.key(), g.key())
		if g.chance(0.3) {
			a = append(a, b("DB"), g.pick([]string{"0", "1", "2", "15", "16", "-1", "abc"}))
		}
		if g.chance(0.4) {
			a = append(a, g.pick([]string{"REPLACE", "replace", "BOGUS"}))
		}
		return gcmd{args: a}
	},
	"expire":      func(g *generator) gcmd { return genExpire(g, "EXPIRE", g.ttlSeconds()) },
	"pexpire":     func(g *generator) gcmd { return genExpire(g, "PEXPIRE", g.ttlMillis()) },
	"expireat":    func(g *generator) gcmd { return genExpire(g, "EXPIREAT", g.unixSeconds()) },
	"pexpireat":   func(g *generator) gcmd { return genExpire(g, "PEXPIREAT", g.unixMillis()) },
	"ttl":         func(g *generator) gcmd { return gcmd{args: args(b("TTL"), g.key()), mode: modeTTL} },
	"pttl":        func(g *generator) gcmd { return gcmd{args: args(b("PTTL"), g.key()), mode: modeTTL} },
	"expiretime":  func(g *generator) gcmd { return gcmd{args: args(b("EXPIRETIME"), g.key()), mode: modeTTL} },
	"pexpiretime": func(g *generator) gcmd { return gcmd{args: args(b("PEXPIRETIME"), g.key()), mode: modeTTL} },
	"persist":     func(g *generator) gcmd { return exact(b("PERSIST"), g.key()) },
	"keys": func(g *generator) gcmd {
		return gcmd{args: args(b("KEYS"), g.pick([]string{"*", "k*", "h?", "*[0-2]", "[^k]*", "\\*", "*k*", "{tag}*"})), mode: modeUnordered}
	},
	"scan": func(g *generator) gcmd {
		a := args(b("SCAN"), b("0"), b("COUNT"), b("1000"))
		if g.chance(0.4) {
			a = append(a, b("MATCH"), g.pick([]string{"k*", "*", "h[01]"}))
		}
		if g.chance(0.3) {
			a = append(a, b("TYPE"), g.pick([]string{"string", "hash", "list", "STRING"}))
		}
		if g.chance(0.1) {
			return exact(b("SCAN"), g.pick([]string{"abc", "18446744073709551616", "1.5"}))
		}
		return gcmd{args: a, mode: modeScan}
	},
	"randomkey": func(g *generator) gcmd { return gcmd{args: args(b("RANDOMKEY")), mode: modeRandom} },
	"dbsize":    func(g *generator) gcmd { return exact(b("DBSIZE")) },
	"flushdb": func(g *generator) gcmd {
		if g.chance(0.8) { // rare: it resets the interesting state
			return exact(b("DBSIZE"))
		}
		if g.chance(0.5) {
			return exact(b("FLUSHDB"))
		}
		return exact(b("FLUSHDB"), g.pick([]string{"SYNC", "ASYNC", "sync", "bogus"}))
	},
	"flushall": func(g *generator) gcmd {
		if g.chance(0.9) {
			return exact(b("DBSIZE"))
		}
		return exact(b("FLUSHALL"))
	},
	"swapdb": func(g *generator) gcmd {
		return exact(b("SWAPDB"), g.pick([]string{"0", "1", "2", "16", "-1", "abc"}), g.pick([]string{"0", "1", "2"}))
	},
	"hset": func(g *generator) gcmd { return genHSet(g, "HSET") },
	"hmset": func(g *generator) gcmd {
		return genHSet(g, "HMSET")
	},
	"hsetnx":  func(g *generator) gcmd { return exact(b("HSETNX"), g.key(), g.field(), g.value()) },
	"hget":    func(g *generator) gcmd { return exact(b("HGET"), g.key(), g.field()) },
	"hmget":   func(g *generator) gcmd { return exact(b("HMGET"), g.key(), g.field(), g.field()) },
	"hdel":    func(g *generator) gcmd { return exact(b("HDEL"), g.key(), g.field(), g.field()) },
	"hgetall": func(g *generator) gcmd { return gcmd{args: args(b("HGETALL"), g.key()), mode: modePairs} },
	"hkeys":   func(g *generator) gcmd { return gcmd{args: args(b("HKEYS"), g.key()), mode: modeUnordered} },
	"hvals":   func(g *generator) gcmd { return gcmd{args: args(b("HVALS"), g.key()), mode: modeUnordered} },
	"hexists": func(g *generator) gcmd { return exact(b("HEXISTS"), g.key(), g.field()) },
	"hlen":    func(g *generator) gcmd { return exact(b("HLEN"), g.key()) },
	"hstrlen": func(g *generator) gcmd { return exact(b("HSTRLEN"), g.key(), g.field()) },
	"hincrby": func(g *generator) gcmd { return exact(b("HINCRBY"), g.key(), g.field(), g.integer()) },
	"hincrbyfloat": func(g *generator) gcmd {
		return exact(b("HINCRBYFLOAT"), g.key(), g.field(), g.float())
	},
	"hrandfield": func(g *generator) gcmd {
		a := args(b("HRANDFIELD"), g.key())
		if g.chance(0.6) {
			a = append(a, g.pick([]string{"1", "2", "10", "-3", "0", "abc"}))
			if g.chance(0.5) {
				a = append(a, g.pick([]string{"WITHVALUES", "withvalues", "BOGUS"}))
			}
		}
		return gcmd{args: a, mode: modeRandom}
	},
	"hscan": func(g *generator) gcmd {
		a := args(b("HSCAN"), g.key(), b("0"))
		if g.chance(0.4) {
			a = append(a, b("MATCH"), g.pick([]string{"f*", "*", "f[01]"}))
		}
		if g.chance(0.3) {
			a = append(a, b("COUNT"), g.pick([]string{"10", "1000", "0", "abc"}))
		}
		return gcmd{args: a, mode: modeHScan}
	},
	// Connection commands.
	"ping": func(g *generator) gcmd {
		if g.chance(0.5) {
			return exact(b("PING"))
		}
		return exact(b("PING"), g.value())
	},
	"echo": func(g *generator) gcmd { return exact(b("ECHO"), g.value()) },
	"select": func(g *generator) gcmd {
		return exact(b("SELECT"), g.pick([]string{"0", "0", "0", "1", "2", "16", "-1", "abc"}))
	},
	"unknown": func(g *generator) gcmd { return exact(b("NOSUCHCOMMAND"), g.key(), g.value()) },
	"command docs": func(g *generator) gcmd {
		a := args(b("COMMAND"), b("DOCS"))
		// At least two names, so that dropping one (arity mutation) never
		// leaves COMMAND DOCS without names (all of Redis's commands).
		for n := 2 + g.r.IntN(2); n > 0; n-- {
			a = append(a, g.pick(documentedNames))
		}
		return gcmd{args: a}
	},
}

// documentedNames are names COMMAND DOCS is asked about: commands of
// every kind, in any case, and a name neither server knows.
var documentedNames = []string{"get", "SET", "hscan", "expire", "getex", "copy", "watch", "multi",
	"ping", "hello", "wait", "reset", "nosuchcommand", "keys", "swapdb", "Info"}

// commandNames lists commandGens' keys in a fixed order (map order must
// not decide the stream).
var commandNames = func() []string {
	var names []string
	for n := range commandGens {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}()

func exact(parts ...[]byte) gcmd { return gcmd{args: parts} }

func keysCmd(g *generator, name string) gcmd {
	a := args(b(name))
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		a = append(a, g.key())
	}
	return gcmd{args: a}
}

func genSet(g *generator) gcmd {
	a := args(b("SET"), g.key(), g.value())
	for n := g.r.IntN(3); n > 0; n-- {
		switch g.r.IntN(9) {
		case 0:
			a = append(a, g.pick([]string{"EX", "ex"}), g.ttlSeconds())
		case 1:
			a = append(a, b("PX"), g.ttlMillis())
		case 2:
			a = append(a, b("EXAT"), g.futureOrJunk(g.unixSeconds(), g.futureS))
		case 3:
			a = append(a, b("PXAT"), g.futureOrJunk(g.unixMillis(), g.futureS*1000))
		case 4:
			a = append(a, g.pick([]string{"NX", "nx"}))
		case 5:
			a = append(a, b("XX"))
		case 6:
			a = append(a, g.pick([]string{"KEEPTTL", "keepttl"}))
		case 7:
			a = append(a, g.pick([]string{"GET", "get"}))
		default:
			a = append(a, g.pick([]string{"BOGUS", "EX"}))
		}
	}
	return gcmd{args: a}
}

func genGetEx(g *generator) gcmd {
	a := args(b("GETEX"), g.key())
	switch g.r.IntN(7) {
	case 0:
		a = append(a, b("EX"), g.ttlSeconds())
	case 1:
		a = append(a, b("PX"), g.ttlMillis())
	case 2:
		a = append(a, b("EXAT"), g.unixSeconds())
	case 3:
		a = append(a, b("PXAT"), g.unixMillis())
	case 4:
		a = append(a, g.pick([]string{"PERSIST", "persist"}))
	case 5:
		a = append(a, b("EX"))
	}
	return gcmd{args: a}
}

func genMSet(g *generator, name string) gcmd {
	a := args(b(name))
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		a = append(a, g.key(), g.value())
	}
	if g.chance(0.1) {
		a = append(a, g.key()) // odd: wrong arity
	}
	return gcmd{args: a}
}

func genHSet(g *generator, name string) gcmd {
	a := args(b(name), g.key())
	for n := 1 + g.r.IntN(3); n > 0; n-- {
		a = append(a, g.field(), g.value())
	}
	if g.chance(0.1) {
		a = append(a, g.field())
	}
	return gcmd{args: a}
}

func genExpire(g *generator, name string, when []byte) gcmd {
	a := args(b(name), g.key(), when)
	if g.chance(0.4) {
		a = append(a, g.pick([]string{"NX", "XX", "GT", "LT", "gt", "BOGUS"}))
		if g.chance(0.2) {
			a = append(a, g.pick([]string{"NX", "XX", "GT", "LT"}))
		}
	}
	return gcmd{args: a}
}

// command returns one random command; sometimes with its last argument
// dropped or an extra one added, to exercise arity errors.
func (g *generator) command() gcmd {
	name := commandNames[g.r.IntN(len(commandNames))]
	c := commandGens[name](g)
	switch {
	case g.chance(0.03) && len(c.args) > 1:
		c.args = c.args[:len(c.args)-1]
	case g.chance(0.02):
		c.args = append(c.args, b("extra"))
	}
	if g.chance(0.05) {
		// Command names are case-insensitive.
		c.args[0] = bytes.ToLower(c.args[0])
	}
	return c
}

// touchesAny reports whether c may write one of keys: it names one, or it
// empties or swaps whole databases.
func touchesAny(c gcmd, keys ...[]byte) bool {
	switch string(bytes.ToUpper(c.args[0])) {
	case "FLUSHDB", "FLUSHALL", "SWAPDB", "MULTI", "EXEC", "DISCARD":
		return true
	}
	for _, a := range c.args[1:] {
		for _, k := range keys {
			if bytes.Equal(a, k) {
				return true
			}
		}
	}
	return false
}

// next returns the next step of the stream.
func (g *generator) next() step {
	switch n := g.r.IntN(100); {
	case n < 8: // a pipeline
		var s step
		for k := 2 + g.r.IntN(15); k > 0; k-- {
			s.cmds = append(s.cmds, g.command())
		}
		return s
	case n < 13: // a transaction
		s := step{cmds: []gcmd{exact(b("MULTI"))}}
		var sub []gcmd
		for k := g.r.IntN(6); k > 0; k-- {
			c := g.command()
			s.cmds = append(s.cmds, c)
			sub = append(sub, c)
		}
		if g.chance(0.15) {
			s.cmds = append(s.cmds, exact(b("DISCARD")))
		} else {
			s.cmds = append(s.cmds, gcmd{args: args(b("EXEC")), mode: modeExec, sub: sub})
		}
		return s
	case n < 17: // WATCH, maybe a write to a watched key, then a transaction
		w, w2 := g.key(), g.key()
		s := step{cmds: []gcmd{exact(b("WATCH"), w, w2)}}
		for k := g.r.IntN(3); k > 0; k-- {
			// Commands in between leave the watched keys alone: a watched
			// key created and deleted again is a known difference (see
			// knownDifferences), and two writes to it could be just that.
			c := g.command()
			if !touchesAny(c, w, w2) {
				s.cmds = append(s.cmds, c)
			}
		}
		if g.chance(0.4) {
			// A write to a watched key (here from the same connection,
			// which aborts EXEC just the same).
			s.cmds = append(s.cmds, g.pick2(exact(b("SET"), w, g.value()), exact(b("DEL"), w)))
		}
		if g.chance(0.1) {
			s.cmds = append(s.cmds, exact(b("UNWATCH")))
		}
		s.cmds = append(s.cmds, exact(b("MULTI")))
		var sub []gcmd
		for k := g.r.IntN(4); k > 0; k-- {
			c := g.command()
			s.cmds = append(s.cmds, c)
			sub = append(sub, c)
		}
		s.cmds = append(s.cmds, gcmd{args: args(b("EXEC")), mode: modeExec, sub: sub})
		return s
	default:
		return step{cmds: []gcmd{g.command()}}
	}
}
