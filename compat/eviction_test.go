package compat

import (
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/testproc"
)

// TestDifferentialMaxmemory runs the same script on redis-server and a
// raftkv node and compares the replies byte for byte: OBJECT FREQ and
// IDLETIME and their errors under each kind of policy, the OOM refusal of
// denyoom writes over maxmemory (plain, and queued in MULTI), and that
// reads and non-denyoom writes still run. The scripts stop before anything
// that depends on the two servers' different memory figures (Redis counts
// a megabyte of its own overhead; we count the keyspace only), and the
// INFO memory fields are compared by presence and, where configured, value.
func TestDifferentialMaxmemory(t *testing.T) {
	redisAddr, raftkvAddr := startRedis(t), startRaftkv(t)
	ref, sut := dialPair(t, redisAddr, raftkvAddr)
	type step struct {
		cmd       string
		kindsOnly bool // compare reply types only (values legitimately differ)
	}
	script := []step{
		{cmd: "CONFIG SET maxmemory-policy noeviction"},
		{cmd: "SET a 1"},
		{cmd: "SET s hello-world"},
		{cmd: "HSET h f v"},
		{cmd: "OBJECT FREQ a"},
		{cmd: "OBJECT FREQ missing"},
		{cmd: "OBJECT IDLETIME a", kindsOnly: true},
		{cmd: "OBJECT ENCODING a"},
		{cmd: "OBJECT ENCODING s"},
		{cmd: "OBJECT ENCODING h"},
		{cmd: "OBJECT REFCOUNT missing"},
		{cmd: "OBJECT NOPE a"},
		{cmd: "OBJECT FREQ"},
		{cmd: "CONFIG SET maxmemory 1"},
		{cmd: "SET b 2"},
		{cmd: "INCR a"},
		{cmd: "APPEND s x"},
		{cmd: "HSET h g w"},
		{cmd: "SETEX c 10 v"},
		{cmd: "GET a"},
		{cmd: "EXPIRE s 100"},
		{cmd: "PERSIST s"},
		{cmd: "HDEL h nope"},
		{cmd: "MULTI"},
		{cmd: "SET c 1"},
		{cmd: "GET a"},
		{cmd: "EXEC"},
		{cmd: "CONFIG SET maxmemory-policy volatile-lru"},
		{cmd: "SET b 2"},
		{cmd: "CONFIG SET maxmemory 0"},
		{cmd: "SET b 2"},
		{cmd: "CONFIG SET maxmemory-policy allkeys-lfu"},
		{cmd: "OBJECT IDLETIME a"},
		{cmd: "OBJECT FREQ a", kindsOnly: true},
		{cmd: "CONFIG SET maxmemory 100mb"},
		{cmd: "CONFIG GET maxmemory"},
		{cmd: "CONFIG GET maxmemory-policy"},
		{cmd: "CONFIG SET maxmemory-samples 7"},
		{cmd: "CONFIG GET maxmemory-samples"},
		{cmd: "CONFIG SET lfu-log-factor 3"},
		{cmd: "CONFIG GET lfu-log-factor"},
		{cmd: "CONFIG GET lfu-decay-time"},
	}
	for _, s := range script {
		args := toArgsSplit(s.cmd)
		want, got, ok := doBoth(t, ref, sut, gcmd{args: args})
		if !ok {
			return
		}
		if s.kindsOnly {
			if want.kind != got.kind {
				t.Errorf("%s: redis %s, raftkv %s: types differ", s.cmd, want, got)
			}
			continue
		}
		if string(want.raw) != string(got.raw) {
			t.Errorf("%s: redis %s, raftkv %s", s.cmd, want, got)
		}
	}

	// INFO: the comparable fields exist in both; configured values match.
	infoFields := func(c *conn, section string) map[string]string {
		t.Helper()
		v, err := c.do([]byte("INFO"), []byte(section))
		if err != nil {
			t.Fatal(err)
		}
		return testproc.ParseInfo(string(v.str))
	}
	refMem, sutMem := infoFields(ref, "memory"), infoFields(sut, "memory")
	for _, f := range []string{"used_memory", "used_memory_human", "used_memory_rss", "used_memory_rss_human",
		"used_memory_dataset", "maxmemory", "maxmemory_human", "maxmemory_policy", "mem_fragmentation_ratio"} {
		if _, ok := refMem[f]; !ok {
			t.Errorf("redis has no INFO memory field %s", f)
		}
		if _, ok := sutMem[f]; !ok {
			t.Errorf("raftkv has no INFO memory field %s", f)
		}
	}
	for _, f := range []string{"maxmemory", "maxmemory_human", "maxmemory_policy"} {
		if refMem[f] != sutMem[f] {
			t.Errorf("INFO memory %s: redis %q, raftkv %q", f, refMem[f], sutMem[f])
		}
	}
	if _, ok := infoFields(sut, "stats")["evicted_keys"]; !ok {
		t.Error("raftkv has no INFO stats evicted_keys")
	}
}

func toArgsSplit(cmd string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(cmd) {
		out = append(out, []byte(f))
	}
	return out
}
