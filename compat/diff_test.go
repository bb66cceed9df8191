package compat

import (
	"bytes"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	flagSeeds = flag.Int("compat.seeds", 0, "number of seeds for the differential test (0: as many as fit in a bounded run of about a minute)")
	flagSeed  = flag.Uint64("compat.seed", 0, "replay this one seed (both protocols)")
	flagCmds  = flag.Int("compat.cmds", 400, "steps per stream")
)

// defaultBudget bounds the default differential run.
const defaultBudget = 40 * time.Second

// compareReply compares raftkv's reply (got) with Redis's (want) for c;
// it returns "" when they match, else why not.
func compareReply(c gcmd, want, got value) string {
	if bytes.Equal(want.raw, got.raw) {
		return ""
	}
	name := strings.ToUpper(string(c.args[0]))
	if !justified(name, c.mode) {
		return "bytes differ"
	}
	if want.kind == '-' || got.kind == '-' {
		return "bytes differ (an error must match exactly)"
	}
	if want.kind != got.kind || want.null != got.null {
		return "types differ"
	}
	switch c.mode {
	case modeSkip:
		return ""
	case modeUnordered:
		return sameMultiset(want.elems, got.elems)
	case modePairs:
		return samePairs(want.elems, got.elems)
	case modeScan, modeHScan:
		if len(want.elems) != 2 || len(got.elems) != 2 {
			return "scan reply is not [cursor, items]"
		}
		if !bytes.Equal(want.elems[0].raw, got.elems[0].raw) {
			return "cursors differ"
		}
		if c.mode == modeScan {
			return sameMultiset(want.elems[1].elems, got.elems[1].elems)
		}
		return samePairs(want.elems[1].elems, got.elems[1].elems)
	case modeTTL:
		w, err1 := strconv.ParseInt(string(want.str), 10, 64)
		g, err2 := strconv.ParseInt(string(got.str), 10, 64)
		if want.kind != ':' || err1 != nil || err2 != nil {
			return "not integers"
		}
		tolerance := int64(2)
		if name == "PTTL" || name == "PEXPIRETIME" {
			tolerance = 2000
		}
		if w < 0 || g < 0 || g-w > tolerance || w-g > tolerance {
			return fmt.Sprintf("differ by more than %d", tolerance)
		}
		return ""
	case modeRandom:
		if len(want.elems) != len(got.elems) {
			return "lengths differ"
		}
		return ""
	case modeExec:
		if want.kind != '*' || len(want.elems) != len(got.elems) || len(want.elems) != len(c.sub) {
			return "EXEC replies differ in shape"
		}
		for i := range c.sub {
			if why := compareReply(c.sub[i], want.elems[i], got.elems[i]); why != "" {
				return fmt.Sprintf("EXEC element %d (%s): %s", i, describe(c.sub[i].args), why)
			}
		}
		return ""
	}
	return "bytes differ"
}

func sameMultiset(want, got []value) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d elements, want %d", len(got), len(want))
	}
	w, g := raws(want), raws(got)
	slices.Sort(w)
	slices.Sort(g)
	if !slices.Equal(w, g) {
		return "different elements"
	}
	return ""
}

func samePairs(want, got []value) string {
	if len(want)%2 != 0 || len(got)%2 != 0 {
		return "odd number of elements in a map"
	}
	pairs := func(vs []value) []string {
		var out []string
		for i := 0; i+1 < len(vs); i += 2 {
			out = append(out, string(vs[i].raw)+"\x00=>"+string(vs[i+1].raw))
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(pairs(want), pairs(got)) {
		return "different pairs"
	}
	return ""
}

func raws(vs []value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v.raw)
	}
	return out
}

// describe prints a command for a failure message.
func describe(args [][]byte) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = strconv.Quote(abbreviate(a, 60))
	}
	return strings.Join(parts, " ")
}

// streamResult counts what one stream did.
type streamResult struct {
	commands int
	// watchAborts counts EXECs that both servers aborted (null reply)
	// because a watched key changed: evidence the WATCH path is exercised.
	watchAborts int
}

// runStream sends one seeded stream to both servers and reports the first
// difference through t.
func runStream(t *testing.T, seed uint64, proto int, steps int, redisAddr, raftkvAddr string) streamResult {
	t.Helper()
	var res streamResult
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	setup := []gcmd{exact(b("FLUSHALL")), exact(b("SELECT"), b("0"))}
	if proto == 3 {
		setup = append(setup, gcmd{args: args(b("HELLO"), b("3")), mode: modeSkip})
	}
	g := newGenerator(seed)
	var history []string
	for i := -1; i < steps; i++ {
		var s step
		if i < 0 {
			s = step{cmds: setup}
		} else {
			s = g.next()
		}
		cmds := make([][][]byte, len(s.cmds))
		for j := range s.cmds {
			cmds[j] = s.cmds[j].args
		}
		if err := ref.send(cmds); err != nil {
			t.Fatalf("seed %d: redis: %v", seed, err)
		}
		if err := sut.send(cmds); err != nil {
			t.Fatalf("seed %d: raftkv: %v", seed, err)
		}
		for j, c := range s.cmds {
			res.commands++
			history = append(history, describe(c.args))
			want, err := ref.read()
			if err != nil {
				t.Fatalf("seed %d step %d: redis reply to %s: %v", seed, i, describe(c.args), err)
			}
			got, err := sut.read()
			if err != nil {
				t.Errorf("seed %d proto %d step %d: raftkv reply to %s: %v", seed, proto, i, describe(c.args), err)
				return res
			}
			if c.mode == modeExec && want.null && got.null {
				res.watchAborts++
			}
			if why := compareReply(c, want, got); why != "" {
				from := max(0, len(history)-30)
				t.Errorf("DIFFERENCE seed=%d proto=%d step=%d command %d of %d in the step: %s\n  command: %s\n  redis:   %s\n  raftkv:  %s\n  previous commands:\n    %s\n  replay: go test ./compat -run 'TestDifferential$' -compat.seed=%d",
					seed, proto, i, j+1, len(s.cmds), why, describe(c.args), want, got,
					strings.Join(history[from:len(history)-1], "\n    "), seed)
				return res
			}
		}
	}
	compareState(t, seed, proto, ref, sut)
	return res
}

// compareState compares the final contents of the first databases: the
// key sets, and each key's type and value.
func compareState(t *testing.T, seed uint64, proto int, ref, sut *conn) {
	t.Helper()
	for db := 0; db < 3; db++ {
		sel := gcmd{args: args(b("SELECT"), []byte(strconv.Itoa(db)))}
		keys := gcmd{args: args(b("KEYS"), b("*")), mode: modeUnordered}
		w, g, ok := doBoth(t, ref, sut, sel)
		if !ok {
			return
		}
		if w, g, ok = doBoth(t, ref, sut, keys); !ok {
			return
		}
		if why := compareReply(keys, w, g); why != "" {
			t.Errorf("FINAL STATE seed=%d proto=%d db=%d: KEYS * %s\n  redis:  %s\n  raftkv: %s", seed, proto, db, why, w, g)
			return
		}
		for _, k := range w.elems {
			for _, c := range []gcmd{
				{args: args(b("TYPE"), k.str)},
				{args: args(b("GET"), k.str)},
				{args: args(b("HGETALL"), k.str), mode: modePairs},
				{args: args(b("PTTL"), k.str), mode: modeTTL},
			} {
				w, g, ok := doBoth(t, ref, sut, c)
				if !ok {
					return
				}
				if why := compareReply(c, w, g); why != "" {
					t.Errorf("FINAL STATE seed=%d proto=%d db=%d: %s: %s\n  redis:  %s\n  raftkv: %s", seed, proto, db, describe(c.args), why, w, g)
					return
				}
			}
		}
	}
}

// sameReplies sends each command to both servers and reports every reply
// that differs byte for byte; false when a connection failed (reported).
func sameReplies(t *testing.T, ref, sut *conn, cmds ...string) bool {
	t.Helper()
	for _, cmd := range cmds {
		want, got, ok := doBoth(t, ref, sut, gcmd{args: toArgsSplit(cmd)})
		if !ok {
			return false
		}
		if string(want.raw) != string(got.raw) {
			t.Errorf("%s:\n redis  %s\n raftkv %s", cmd, want, got)
		}
	}
	return true
}

func doBoth(t *testing.T, ref, sut *conn, c gcmd) (value, value, bool) {
	t.Helper()
	w, err := ref.do(c.args...)
	if err != nil {
		t.Errorf("redis %s: %v", describe(c.args), err)
		return value{}, value{}, false
	}
	g, err := sut.do(c.args...)
	if err != nil {
		t.Errorf("raftkv %s: %v", describe(c.args), err)
		return value{}, value{}, false
	}
	return w, g, true
}

// seedsToRun returns the seeds of this run and whether the run is bounded
// by time rather than by count.
func seedsToRun(first uint64) (seeds []uint64, bounded bool) {
	if *flagSeed != 0 {
		return []uint64{*flagSeed}, false
	}
	n := *flagSeeds
	if n <= 0 {
		n, bounded = 1000, true
	}
	for i := 0; i < n; i++ {
		seeds = append(seeds, first+uint64(i))
	}
	return seeds, bounded
}

// differential runs streams against redis and raftkv and logs the figures.
func differential(t *testing.T, redisAddr, raftkvAddr string, firstSeed uint64, budget time.Duration) {
	t.Helper()
	seeds, bounded := seedsToRun(firstSeed)
	start := time.Now()
	streams, commands, aborts := 0, 0, 0
	for _, seed := range seeds {
		if bounded && time.Since(start) > budget {
			break
		}
		for _, proto := range []int{2, 3} {
			res := runStream(t, seed, proto, *flagCmds, redisAddr, raftkvAddr)
			streams++
			commands += res.commands
			aborts += res.watchAborts
			if t.Failed() {
				return
			}
		}
	}
	t.Logf("differential: %d streams (seeds × RESP2/RESP3), %d commands (%d EXECs aborted by WATCH on both), %v, no difference",
		streams, commands, aborts, time.Since(start).Round(time.Millisecond))
}

// TestDifferential compares raftkv (one node) with redis-server on seeded
// random command streams.
func TestDifferential(t *testing.T) {
	redisAddr := startRedis(t)
	raftkvAddr := startRaftkv(t)
	differential(t, redisAddr, raftkvAddr, 1, defaultBudget)
}

// TestDifferentialFollower runs streams through a follower of a 3-node
// cluster: writes are forwarded, reads go through ReadIndex.
func TestDifferentialFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster: skipped in -short")
	}
	redisAddr := startRedis(t)
	c := startCluster3(t)
	differential(t, redisAddr, c.followers[0], 100_000, defaultBudget/4)
}

// TestCompareReply checks the comparator itself: relaxations apply only to
// the commands knownDifferences names, and errors always compare exactly.
func TestCompareReply(t *testing.T) {
	parse := func(t *testing.T, s string) value {
		t.Helper()
		rd := newTestReader(s)
		var raw []byte
		v, err := readValue(rd, &raw, 0)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		setRaw(&v, raw)
		return v
	}
	tests := []struct {
		name       string
		cmd        gcmd
		want, got  string
		shouldPass bool
	}{
		{"exact same", exact(b("GET"), b("k")), "$1\r\na\r\n", "$1\r\na\r\n", true},
		{"exact differs", exact(b("GET"), b("k")), "$1\r\na\r\n", "$1\r\nb\r\n", false},
		{"keys as set", gcmd{args: args(b("KEYS"), b("*")), mode: modeUnordered}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n", true},
		{"keys missing one", gcmd{args: args(b("KEYS"), b("*")), mode: modeUnordered}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\na\r\n$1\r\na\r\n", false},
		{"unordered not justified for GET", gcmd{args: args(b("MGET"), b("a"), b("b")), mode: modeUnordered}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n", false},
		{"hgetall pairs", gcmd{args: args(b("HGETALL"), b("h")), mode: modePairs}, "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", "%2\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n", true},
		{"hgetall swapped values", gcmd{args: args(b("HGETALL"), b("h")), mode: modePairs}, "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", "*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n1\r\n", false},
		{"ttl close", gcmd{args: args(b("PTTL"), b("k")), mode: modeTTL}, ":100000\r\n", ":99990\r\n", true},
		{"ttl far", gcmd{args: args(b("PTTL"), b("k")), mode: modeTTL}, ":100000\r\n", ":90000\r\n", false},
		{"ttl -1 vs -2", gcmd{args: args(b("TTL"), b("k")), mode: modeTTL}, ":-1\r\n", ":-2\r\n", false},
		{"errors exact even when relaxed", gcmd{args: args(b("KEYS")), mode: modeUnordered}, "-ERR a\r\n", "-ERR b\r\n", false},
		{"random same shape", gcmd{args: args(b("RANDOMKEY")), mode: modeRandom}, "$1\r\na\r\n", "$1\r\nb\r\n", true},
		{"random nil vs key", gcmd{args: args(b("RANDOMKEY")), mode: modeRandom}, "$-1\r\n", "$1\r\nb\r\n", false},
		{"exec element relaxed", gcmd{args: args(b("EXEC")), mode: modeExec, sub: []gcmd{{args: args(b("KEYS"), b("*")), mode: modeUnordered}}}, "*1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*1\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n", true},
		{"exec element differs", gcmd{args: args(b("EXEC")), mode: modeExec, sub: []gcmd{exact(b("GET"), b("a"))}}, "*1\r\n$1\r\na\r\n", "*1\r\n$1\r\nb\r\n", false},
		{"scan cursor differs", gcmd{args: args(b("SCAN"), b("0")), mode: modeScan}, "*2\r\n$1\r\n0\r\n*0\r\n", "*2\r\n$1\r\n5\r\n*0\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			why := compareReply(tc.cmd, parse(t, tc.want), parse(t, tc.got))
			if (why == "") != tc.shouldPass {
				t.Errorf("compareReply = %q, want pass=%v", why, tc.shouldPass)
			}
		})
	}
}
