package compat

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// infoField returns the value of field in an INFO reply's text, "" when
// it is missing.
func infoField(text, field string) string {
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// TestDifferentialErrorstats sends the same failing commands to
// redis-server and raftkv, errors of several prefixes from the connection
// (unknown command, arity, HELLO), from the keyspace (WRONGTYPE, not an
// integer) and from inside EXEC, and compares INFO errorstats and
// total_error_replies by value.
func TestDifferentialErrorstats(t *testing.T) {
	redisAddr, raftkvAddr := startRedis(t), startRaftkv(t)
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	if !sameReplies(t, ref, sut,
		"CONFIG RESETSTAT",
		"NOSUCHCOMMAND a",
		"GET",
		"HELLO 4",
		"SET es:s x",
		"INCR es:s",
		"HSET es:h f v",
		"GET es:h",
		"MULTI",
		"INCR es:s",
		"GET es:h",
		"EXEC",
		"DEL es:s es:h",
	) {
		return
	}
	want, got, ok := doBoth(t, ref, sut, gcmd{args: toArgsSplit("INFO errorstats")})
	if !ok {
		return
	}
	if !strings.Contains(string(want.str), "errorstat_WRONGTYPE:count=2") {
		t.Errorf("redis-server's INFO errorstats = %q, want WRONGTYPE counted twice", want.str)
	}
	if string(want.str) != string(got.str) {
		t.Errorf("INFO errorstats:\n redis  %q\n raftkv %q", want.str, got.str)
	}
	want, got, ok = doBoth(t, ref, sut, gcmd{args: toArgsSplit("INFO stats")})
	if !ok {
		return
	}
	w, g := infoField(string(want.str), "total_error_replies"), infoField(string(got.str), "total_error_replies")
	if w == "" || w != g {
		t.Errorf("total_error_replies: redis %q, raftkv %q", w, g)
	}
}

// shape is a reply's structure: its type bytes, nested, without values.
func shape(v value) string {
	if len(v.elems) == 0 {
		return string(v.kind)
	}
	s := string(v.kind) + "["
	for _, e := range v.elems {
		s += shape(e)
	}
	return s + "]"
}

// TestDifferentialRole compares ROLE's reply shape on a single-node raftkv
// (a leader without followers) with a standalone redis-server's (a master
// without replicas).
func TestDifferentialRole(t *testing.T) {
	redisAddr, raftkvAddr := startRedis(t), startRaftkv(t)
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	want, got, ok := doBoth(t, ref, sut, gcmd{args: toArgsSplit("ROLE")})
	if !ok {
		return
	}
	if shape(want) != "*[$:*]" || shape(got) != shape(want) || string(got.elems[0].str) != "master" {
		t.Errorf("ROLE:\n redis  %s (%s)\n raftkv %s (%s)", want, shape(want), got, shape(got))
	}
}

// TestDifferentialSlowlog logs every command on both servers
// (slowlog-log-slower-than 0) and compares SLOWLOG GET: reply shapes, and
// each entry's arguments (truncated and redacted as Redis does) and
// client name by value; ids, times, durations and ports differ.
func TestDifferentialSlowlog(t *testing.T) {
	redisAddr, raftkvAddr := startRedis(t), startRaftkv(t)
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	many := "DEL"
	for i := range 40 {
		many += " sl:k" + strconv.Itoa(i)
	}
	for _, cmd := range []string{
		"CONFIG SET slowlog-log-slower-than 0",
		"CLIENT SETNAME differ",
		"SLOWLOG RESET",
		"SET sl:k v",
		"GET sl:k",
		"ECHO " + strings.Repeat("y", 300),
		many,
		"AUTH default nopass",
		"MULTI",
		"INCR sl:n",
		"EXEC",
		"SLOWLOG LEN",
	} {
		if _, _, ok := doBoth(t, ref, sut, gcmd{args: toArgsSplit(cmd)}); !ok {
			return
		}
	}
	want, got, ok := doBoth(t, ref, sut, gcmd{args: toArgsSplit("SLOWLOG GET -1")})
	if !ok {
		return
	}
	if shape(want) != shape(got) {
		t.Fatalf("SLOWLOG GET shapes differ:\n redis  %s\n raftkv %s", shape(want), shape(got))
	}
	if len(want.elems) != 9 {
		t.Errorf("redis logged %d entries, want 9", len(want.elems))
	}
	for i := range want.elems {
		w, g := want.elems[i].elems, got.elems[i].elems
		if string(w[3].raw) != string(g[3].raw) || string(w[5].raw) != string(g[5].raw) {
			t.Errorf("entry %d:\n redis  %s %s\n raftkv %s %s", i, w[3], w[5], g[3], g[5])
		}
	}
	sameReplies(t, ref, sut, "SLOWLOG GET -2", "SLOWLOG GET 1 2", "SLOWLOG LEN x", "SLOWLOG NOSUCH", "SLOWLOG HELP", "CONFIG GET slowlog-max-len")
}

// TestDifferentialLatency compares LATENCY's replies that do not depend on
// timing with redis-server's byte for byte: with monitoring off nothing is
// sampled. LATENCY HELP differs on purpose (DOCTOR, GRAPH and HISTOGRAM
// are not implemented).
func TestDifferentialLatency(t *testing.T) {
	redisAddr, raftkvAddr := startRedis(t), startRaftkv(t)
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	sameReplies(t, ref, sut,
		"CONFIG GET latency-monitor-threshold",
		"LATENCY RESET",
		"SET lt:k v",
		"LATENCY LATEST",
		"LATENCY HISTORY command",
		"LATENCY HISTORY nosuch",
		"LATENCY RESET command nosuch",
		"LATENCY LATEST x",
		"LATENCY HISTORY",
		"LATENCY NOSUCH",
		"CONFIG SET latency-monitor-threshold -1",
		"CONFIG SET latency-monitor-threshold 100",
		"CONFIG GET latency-monitor-threshold",
		"CONFIG SET latency-monitor-threshold 0",
	)
}

// TestRoleCluster3: on a 3-node cluster the leader's ROLE names both
// followers as its replicas, and each follower's names the leader, in
// the shapes a Redis master and a connected replica answer.
func TestRoleCluster3(t *testing.T) {
	c := startCluster3(t)
	do := func(addr string) value {
		t.Helper()
		conn, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.close()
		v, err := conn.do([]byte("ROLE"))
		if err != nil {
			t.Fatalf("ROLE on %s: %v", addr, err)
		}
		return v
	}
	leader := do(c.leader)
	if shape(leader) != "*[$:*[*[$$$]*[$$$]]]" || string(leader.elems[0].str) != "master" {
		t.Fatalf("leader ROLE = %s (%s), want a master with two replicas", leader, shape(leader))
	}
	var replicas []string
	for _, r := range leader.elems[2].elems {
		replicas = append(replicas, string(r.elems[0].str)+":"+string(r.elems[1].str))
	}
	if !slices.Equal(slices.Sorted(slices.Values(replicas)), slices.Sorted(slices.Values(c.followers))) {
		t.Errorf("leader ROLE replicas = %q, want the followers %q", replicas, c.followers)
	}
	for _, f := range c.followers {
		v := do(f)
		if shape(v) != "*[$$:$:]" || string(v.elems[0].str) != "slave" ||
			string(v.elems[1].str)+":"+string(v.elems[2].str) != c.leader || string(v.elems[3].str) != "connected" {
			t.Errorf("follower %s ROLE = %s, want slave of %s, connected", f, v, c.leader)
		}
	}
}
