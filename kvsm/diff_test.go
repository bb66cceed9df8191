package kvsm

import (
	"flag"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

var diffCommands = flag.Int("diff-commands", 3000, "commands per seed in TestDifferential (needs -redis)")

// TestDifferential sends the same seeded stream of commands to the store
// and to a real redis-server and compares every reply. Only replies that do
// not depend on the clock or on hash-table order are generated (or they are
// sorted). Run it with -redis; it is skipped otherwise.
func TestDifferential(t *testing.T) {
	if *redisAddr == "" {
		t.Skip("needs -redis")
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			ts := newTestStore(t)
			ts.nowMs = time.Now().UnixMilli() // TTLs are compared in seconds
			rc := dialRedis(t, *redisAddr)
			defer rc.close()
			rc.do(t, [][]byte{[]byte("FLUSHALL")}, false)
			for i := 0; i < *diffCommands; i++ {
				args, sorted := randomCommand(rng)
				ts.nowMs = max(ts.nowMs, time.Now().UnixMilli())
				want := rc.do(t, args, sorted)
				got := fmtReply(ts.apply(0, args...), sorted)
				if got != want && !closeEnough(args, got, want) {
					t.Fatalf("seed %d command %d %q: store %s, redis %s", seed, i, args, got, want)
				}
			}
		})
	}
}

func randomCommand(rng *rand.Rand) (args [][]byte, sorted bool) {
	keys := []string{"a", "b", "c", "h1", "h2", "n"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	fields := []string{"f", "g", "x"}
	fld := func() string { return fields[rng.IntN(len(fields))] }
	vals := []string{"1", "-7", "0", "hello", "", "3.5", "123456789", "01", "1e3", "abc"}
	val := func() string { return vals[rng.IntN(len(vals))] }
	num := func() string { return strconv.Itoa(rng.IntN(40) - 10) }
	var cmd []string
	switch rng.IntN(44) {
	case 0:
		cmd = []string{"GET", key()}
	case 1:
		cmd = []string{"SET", key(), val()}
		opts := [][]string{{"NX"}, {"XX"}, {"GET"}, {"KEEPTTL"}, {"EX", "150"}, {"PX", "300000"}, {"EXAT", "1"}, {"EXAT", "4000000000"}, {"EX", "0"}, {"BAD"}}
		for range rng.IntN(3) {
			cmd = append(cmd, opts[rng.IntN(len(opts))]...)
		}
	case 2:
		cmd = []string{"DEL", key(), key()}
	case 3:
		cmd = []string{"EXISTS", key(), key()}
	case 4:
		cmd = []string{"MGET", key(), key(), key()}
	case 5:
		cmd = []string{"MSET", key(), val(), key(), val()}
	case 6:
		cmd = []string{"INCR", key()}
	case 7:
		cmd = []string{"INCRBY", key(), val()}
	case 8:
		cmd = []string{"DECRBY", key(), num()}
	case 9:
		cmd = []string{"APPEND", key(), val()}
	case 10:
		cmd = []string{"STRLEN", key()}
	case 11:
		cmd = []string{"GETRANGE", key(), num(), num()}
	case 12:
		cmd = []string{"SETRANGE", key(), strconv.Itoa(rng.IntN(8)), val()}
	case 13:
		cmd = []string{"SETNX", key(), val()}
	case 14:
		cmd = []string{"GETSET", key(), val()}
	case 15:
		cmd = []string{"GETDEL", key()}
	case 16:
		cmd = []string{"GETEX", key()}
		opts := [][]string{{"PERSIST"}, {"EX", "250"}, {"EXAT", "1"}, {"PX", "0"}}
		if rng.IntN(2) == 0 {
			cmd = append(cmd, opts[rng.IntN(len(opts))]...)
		}
	case 17:
		cmd = []string{"MSETNX", key(), val(), key(), val()}
	case 18:
		cmd = []string{"TYPE", key()}
	case 19:
		cmd = []string{"RENAME", key(), key()}
	case 20:
		cmd = []string{"RENAMENX", key(), key()}
	case 21:
		cmd = []string{"COPY", key(), key()}
		if rng.IntN(2) == 0 {
			cmd = append(cmd, "REPLACE")
		}
	case 22:
		cmd = []string{"EXPIRE", key(), []string{"100", "-1", "200", "x"}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			cmd = append(cmd, []string{"NX", "XX", "GT", "LT"}[rng.IntN(4)])
		}
	case 23:
		cmd = []string{"TTL", key()}
	case 24:
		cmd = []string{"PERSIST", key()}
	case 25:
		cmd = []string{"EXPIRETIME", key()}
		if rng.IntN(2) == 0 {
			cmd = []string{"EXPIREAT", key(), "4000000000"}
		}
	case 26:
		cmd = []string{"KEYS", []string{"*", "h*", "?", "[ab]"}[rng.IntN(4)]}
		sorted = true
	case 27:
		cmd = []string{"DBSIZE"}
	case 28:
		cmd = []string{"HSET", key(), fld(), val()}
		if rng.IntN(2) == 0 {
			cmd = append(cmd, fld(), val())
		}
	case 29:
		cmd = []string{"HGET", key(), fld()}
	case 30:
		cmd = []string{"HMGET", key(), fld(), fld()}
	case 31:
		cmd = []string{"HDEL", key(), fld(), fld()}
	case 32:
		cmd = []string{"HKEYS", key()}
		sorted = true
	case 33:
		cmd = []string{"HVALS", key()}
		sorted = true
	case 34:
		cmd = []string{"HEXISTS", key(), fld()}
	case 35:
		cmd = []string{"HINCRBY", key(), fld(), val()}
	case 36:
		cmd = []string{"HINCRBYFLOAT", key(), fld(), []string{"1", "2.5", "-0.5", "x"}[rng.IntN(4)]}
	case 37:
		cmd = []string{"HLEN", key()}
	case 38:
		cmd = []string{"HSTRLEN", key(), fld()}
	case 39:
		cmd = []string{"HSETNX", key(), fld(), val()}
	case 40:
		cmd = []string{"HMSET", key(), fld(), val()}
	case 41:
		cmd = []string{"INCRBYFLOAT", key(), []string{"1", "2.5", "-0.5", "x"}[rng.IntN(4)]}
	case 42:
		cmd = []string{"DECR", key()}
	case 43:
		cmd = []string{"SETEX", key(), []string{"120", "0", "x"}[rng.IntN(3)], val()}
	}
	// Deadlines set by different commands differ (150 s, 300 s, 250 s,
	// 120 s, 100 s, 200 s) so that GT/LT never compare two deadlines made
	// in the same millisecond, where the two clocks may disagree.
	for _, a := range cmd {
		args = append(args, []byte(a))
	}
	return args, sorted
}

// closeEnough accepts the differences we document: float results computed
// in float64 rather than long double, and TTLs in seconds that round across
// a boundary because the two clocks differ by a few milliseconds.
func closeEnough(args [][]byte, got, want string) bool {
	name := strings.ToLower(string(args[0]))
	switch name {
	case "incrbyfloat", "hincrbyfloat":
		g, err1 := strconv.ParseFloat(strings.TrimPrefix(got, "$"), 64)
		w, err2 := strconv.ParseFloat(strings.TrimPrefix(want, "$"), 64)
		return err1 == nil && err2 == nil && math.Abs(g-w) <= 1e-15*math.Abs(w)
	case "dbsize":
		// Redis counts keys past their deadline until it reclaims them;
		// we remove a key written with a deadline in the past at once.
		g, err1 := strconv.ParseInt(strings.TrimPrefix(got, ":"), 10, 64)
		w, err2 := strconv.ParseInt(strings.TrimPrefix(want, ":"), 10, 64)
		return err1 == nil && err2 == nil && g <= w
	case "ttl", "expiretime":
		g, err1 := strconv.ParseInt(strings.TrimPrefix(got, ":"), 10, 64)
		w, err2 := strconv.ParseInt(strings.TrimPrefix(want, ":"), 10, 64)
		return err1 == nil && err2 == nil && g > 0 && (g-w == 1 || w-g == 1)
	}
	return false
}
