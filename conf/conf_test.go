package conf

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatalf("Load(nil): %v", err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"port", c.Port, 6379},
		{"bind", c.Bind, "127.0.0.1"},
		{"dir", c.Dir, "./raftkv-data"},
		{"databases", c.Databases, 16},
		{"maxclients", c.MaxClients, 10000},
		{"proto-max-bulk-len", c.ProtoMaxBulkLenBytes, int64(512 << 20)},
		{"maxmemory-policy", c.MaxMemoryPolicy, "noeviction"},
		{"appendfsync", c.AppendFsync, "always"},
		{"loglevel", c.LogLevel, "notice"},
		{"node-id", c.NodeID, uint64(1)},
		{"raft-addr", c.RaftAddr, "127.0.0.1:16379"},
		{"cluster", c.Cluster, []Peer{{ID: 1, RaftAddr: "127.0.0.1:16379", ClientAddr: "127.0.0.1:6379"}}},
		{"election-timeout", c.ElectionTimeoutMs, 1000},
		{"heartbeat-interval", c.HeartbeatIntervalMs, 100},
		{"read-mode", c.ReadMode, "readindex"},
		{"metrics-addr", c.MetricsAddr, ""},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	for _, d := range directives {
		if err := d.set(&Config{}, d.def); err != nil {
			t.Errorf("default of %q does not parse: %v", d.name, err)
		}
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "raftkv.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileAndFlags(t *testing.T) {
	file := writeFile(t, "# comment\n\nport 7000\nrequirepass \"p w\\x41\"\nmaxmemory 1gb\n  timeout 30\n")
	c, err := Load([]string{file, "--port", "7100", "--loglevel", "WARNING", "--proto-max-bulk-len", "2mb"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Port != 7100 || c.RequirePass != "p wA" || c.MaxMemoryBytes != 1<<30 || c.TimeoutSeconds != 30 ||
		c.LogLevel != "warning" || c.ProtoMaxBulkLenBytes != 2<<20 || c.File != file {
		t.Fatalf("unexpected config %+v", c)
	}
	if c.RaftAddr != "127.0.0.1:17100" {
		t.Fatalf("raft-addr default should follow the flag's port: %q", c.RaftAddr)
	}
}

func TestExamples(t *testing.T) {
	for i, name := range []string{"node1.conf", "node2.conf", "node3.conf"} {
		c, err := Load([]string{filepath.Join("examples", name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		id := uint64(i + 1)
		if c.NodeID != id || c.Port != 7001+i || len(c.Cluster) != 3 || c.Cluster[i].ClientAddr != c.ClientAddr() || c.RaftAddr != c.Cluster[i].RaftAddr {
			t.Fatalf("%s: unexpected %+v", name, c)
		}
	}
}

func TestJoinExample(t *testing.T) {
	c, err := Load([]string{filepath.Join("examples", "node4.conf")})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != 4 || !c.Join || len(c.Cluster) != 4 || c.RaftAddr != "127.0.0.1:17004" || c.ClusterID != "example" {
		t.Fatalf("node4.conf: unexpected %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		file string // "" = no file
		args []string
		want string
	}{
		{"not an integer", "port 6379\n\nport abc\n", nil, `conf: line 3: "port": "abc" is not an integer`},
		{"port range", "", []string{"--port", "70000"}, `conf: command line: "port": 70000 is not a TCP port (1-65535)`},
		{"unknown", "foo bar\n", nil, `conf: line 1: "foo": unknown directive`},
		{"unknown flag", "", []string{"--nope", "1"}, `conf: command line: "nope": unknown directive`},
		{"no value", "", []string{"--port"}, `conf: command line: "port": wants exactly one value, got 0`},
		{"two values", "dir a b\n", nil, `conf: line 1: "dir": wants exactly one value, got 2`},
		{"not a flag", "", []string{"--port", "1", "--"}, `conf: argument "--": expected --directive`},
		{"unbalanced", "requirepass \"abc\n", nil, `conf: line 1: unbalanced quotes in configuration line`},
		{"quote then text", "requirepass \"abc\"x\n", nil, `conf: line 1: unbalanced quotes in configuration line`},
		{"size", "maxmemory 12x\n", nil, `conf: line 1: "maxmemory": "12x" is not a memory size (like 100, 1k, 1kb, 512mb, 1gb)`},
		{"size overflow", "maxmemory 9223372036854775807gb\n", nil, `conf: line 1: "maxmemory": "9223372036854775807gb" is too large`},
		{"bulk too small", "proto-max-bulk-len 1k\n", nil, `conf: line 1: "proto-max-bulk-len": "1k" is smaller than 1048576 bytes`},
		{"enum", "appendfsync sometimes\n", nil, `conf: line 1: "appendfsync": "sometimes" is not one of always|everysec|no`},
		{"databases", "databases 0\n", nil, `conf: line 1: "databases": 0 is out of range [1, 1048576]`},
		{"bind", "bind nowhere\n", nil, `conf: line 1: "bind": "nowhere" is not an IP address`},
		{"node id", "node-id 0\n", nil, `conf: line 1: "node-id": "0" is not a node id (a positive integer)`},
		{"raft addr", "raft-addr 1.2.3.4\n", nil, `conf: line 1: "raft-addr": "1.2.3.4" is not host:port`},
		{"cluster syntax", "cluster 1=a:1\n", nil, `conf: line 1: "cluster": member "1=a:1" is not id=raftaddr/clientaddr`},
		{"cluster id", "cluster x=a:1/a:2\n", nil, `conf: line 1: "cluster": member "x=a:1/a:2": "x" is not a node id (a positive integer)`},
		{"cluster dup id", "cluster 1=a:1/a:2,1=b:1/b:2\n", nil, `conf: line 1: "cluster": node id 1 appears twice`},
		{"cluster dup addr", "cluster 1=a:1/a:2,2=a:1/b:2\n", nil, `conf: line 1: "cluster": raft address "a:1" appears twice`},
		{"cluster bad port", "cluster 1=a:0/a:2\n", nil, `conf: line 1: "cluster": member "1=a:0/a:2": raft address: "a:0" has no valid port`},
		{"self not member", "node-id 3\ncluster 1=a:1/a:2\n", nil, `conf: "cluster": node-id 3 is not a member of "1=a:1/a:2"`},
		{"raft addr mismatch", "raft-addr a:9\ncluster 1=a:1/a:2\n", nil, `conf: "raft-addr": "a:9" differs from this node's entry "a:1" in cluster`},
		{"heartbeat", "heartbeat-interval 1000\n", nil, `conf: "heartbeat-interval": 1000 must be smaller than election-timeout 1000`},
		{"tick", "tick-interval 200\n", nil, `conf: "tick-interval": 200 must not exceed heartbeat-interval 100`},
		{"derived raft port", "port 60000\n", nil, `conf: "raft-addr": default port 70000 (port+10000) is out of range; set raft-addr`},
		{"metrics", "", []string{"--metrics-addr", "x"}, `conf: command line: "metrics-addr": "x" is not host:port`},
		{"read mode", "", []string{"--read-mode", "stale"}, `conf: command line: "read-mode": "stale" is not one of readindex|lease`},
		{"empty dir", "dir \"\"\n", nil, `conf: line 1: "dir": must not be empty`},
		{"join value", "join maybe\n", nil, `conf: line 1: "join": argument must be 'yes' or 'no'`},
		{"join alone", "", []string{"--join", "yes"}, `conf: "join": cluster must name the existing members to join besides node-id 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{writeFile(t, tc.file)}, args...)
			}
			_, err := Load(args)
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n got %q\nwant %q", err.Error(), tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	c, err := Load([]string{"--node-id", "4", "--cluster", "1=a:1/a:2,4=d:1/d:2", "--join", "YES"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Join || c.RaftAddr != "d:1" {
		t.Fatalf("join %t, raft-addr %q", c.Join, c.RaftAddr)
	}
	if got := c.Get("join"); len(got) != 1 || got[0][1] != "yes" {
		t.Fatalf("CONFIG GET join = %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load([]string{filepath.Join(t.TempDir(), "missing.conf")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		line string
		want []string
	}{
		{"port 6379", []string{"port", "6379"}},
		{"  a\t b  ", []string{"a", "b"}},
		{`requirepass "a b"`, []string{"requirepass", "a b"}},
		{`x "\n\r\t\b\a\\\"\x41"`, []string{"x", "\n\r\t\b\a\\\"A"}},
		{`x 'it\'s'`, []string{"x", "it's"}},
		{`x ''`, []string{"x", ""}},
		{`x "\xZZ"`, []string{"x", "xZZ"}},
	}
	for _, tc := range cases {
		got, err := splitArgs(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{`x "a`, `x 'a`, `x "a"b`, `x 'a'b`} {
		if _, err := splitArgs(bad); err == nil {
			t.Errorf("splitArgs(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"100", 100}, {"1k", 1000}, {"1kb", 1024}, {"1K", 1000}, {"1KB", 1024},
		{"2m", 2_000_000}, {"2mb", 2 << 20}, {"1g", 1_000_000_000}, {"1gb", 1 << 30}, {"5b", 5},
	}
	for _, tc := range cases {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-1", "1tb", "kb", "1.5mb"} {
		if _, err := ParseSize(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseSize(%q) err = %v, want ErrInvalidValue", bad, err)
		}
	}
}

func TestGet(t *testing.T) {
	c := Default()
	cases := []struct {
		pattern string
		want    [][2]string
	}{
		{"port", [][2]string{{"port", "6379"}}},
		{"PORT", [][2]string{{"port", "6379"}}},
		{"save", nil},
		{"max*", [][2]string{{"maxmemory", "0"}, {"maxmemory-policy", "noeviction"}, {"maxmemory-samples", "5"}, {"maxclients", "10000"}}},
		{"lfu-*", [][2]string{{"lfu-log-factor", "10"}, {"lfu-decay-time", "1"}}},
		{"proto-max-bulk-len", [][2]string{{"proto-max-bulk-len", "536870912"}}},
		{"d?r", [][2]string{{"dir", "./raftkv-data"}}},
		{"[", nil},
	}
	for _, tc := range cases {
		if got := c.Get(tc.pattern); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Get(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
	if n := len(c.Get("*")); n != len(directives) {
		t.Errorf("Get(*) returned %d directives, want %d", n, len(directives))
	}
}

func TestSet(t *testing.T) {
	cases := []struct {
		name, value string
		wantErr     error
		check       func(c *Config) bool
	}{
		{"maxclients", "5", nil, func(c *Config) bool { return c.MaxClients == 5 }},
		{"MaxClients", "6", nil, func(c *Config) bool { return c.MaxClients == 6 }},
		{"requirepass", "s3cret", nil, func(c *Config) bool { return c.RequirePass == "s3cret" }},
		{"timeout", "10", nil, func(c *Config) bool { return c.TimeoutSeconds == 10 }},
		{"proto-max-bulk-len", "1gb", nil, func(c *Config) bool { return c.ProtoMaxBulkLenBytes == 1<<30 }},
		{"loglevel", "debug", nil, func(c *Config) bool { return c.LogLevel == "debug" }},
		{"maxmemory", "100mb", nil, func(c *Config) bool { return c.MaxMemoryBytes == 100<<20 }},
		{"maxmemory", "1.5gb", ErrInvalidValue, func(c *Config) bool { return c.MaxMemoryBytes == 0 }},
		{"maxmemory-policy", "allkeys-lfu", nil, func(c *Config) bool { return c.MaxMemoryPolicy == "allkeys-lfu" }},
		{"maxmemory-policy", "lru", ErrInvalidValue, func(c *Config) bool { return c.MaxMemoryPolicy == "noeviction" }},
		{"maxmemory-samples", "10", nil, func(c *Config) bool { return c.MaxMemorySamples == 10 }},
		{"maxmemory-samples", "0", ErrInvalidValue, func(c *Config) bool { return c.MaxMemorySamples == 5 }},
		{"maxmemory-samples", "65", ErrInvalidValue, func(c *Config) bool { return c.MaxMemorySamples == 5 }},
		{"lfu-log-factor", "0", nil, func(c *Config) bool { return c.LFULogFactor == 0 }},
		{"lfu-log-factor", "-1", ErrInvalidValue, func(c *Config) bool { return c.LFULogFactor == 10 }},
		{"lfu-decay-time", "0", nil, func(c *Config) bool { return c.LFUDecayTimeMin == 0 }},
		{"maxclients", "x", ErrInvalidValue, func(c *Config) bool { return c.MaxClients == 10000 }},
		{"slowlog-log-slower-than", "0", nil, func(c *Config) bool { return c.SlowlogSlowerThanUs == 0 }},
		{"slowlog-log-slower-than", "-1", nil, func(c *Config) bool { return c.SlowlogSlowerThanUs == -1 }},
		{"slowlog-log-slower-than", "-2", ErrInvalidValue, func(c *Config) bool { return c.SlowlogSlowerThanUs == 10000 }},
		{"latency-monitor-threshold", "100", nil, func(c *Config) bool { return c.LatencyMonitorThresholdMs == 100 }},
		{"latency-monitor-threshold", "-1", ErrInvalidValue, func(c *Config) bool { return c.LatencyMonitorThresholdMs == 0 }},
		{"slowlog-max-len", "0", nil, func(c *Config) bool { return c.SlowlogMaxLen == 0 }},
		{"slowlog-max-len", "10001", ErrInvalidValue, func(c *Config) bool { return c.SlowlogMaxLen == 128 }},
		{"port", "7000", ErrNotLive, func(c *Config) bool { return c.Port == 6379 }},
		{"nope", "1", ErrUnknownDirective, func(c *Config) bool { return true }},
	}
	for _, tc := range cases {
		c := Default()
		err := c.Set(tc.name, tc.value)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("Set(%q, %q) = %v, want %v", tc.name, tc.value, err, tc.wantErr)
		}
		if !tc.check(c) {
			t.Errorf("Set(%q, %q): config not as expected: %+v", tc.name, tc.value, c)
		}
	}
	if got := LiveDirectives(); !reflect.DeepEqual(got, []string{"requirepass", "maxmemory", "maxmemory-policy", "maxmemory-samples", "lfu-log-factor", "lfu-decay-time", "timeout", "maxclients", "proto-max-bulk-len", "loglevel", "slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold"}) {
		t.Errorf("LiveDirectives() = %q", got)
	}
}

func TestFormatClusterRoundTrip(t *testing.T) {
	in := "1=127.0.0.1:17001/127.0.0.1:7001,2=[::1]:17002/[::1]:7002"
	peers, err := ParseCluster(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatCluster(peers); got != in {
		t.Fatalf("FormatCluster = %q, want %q", got, in)
	}
}
