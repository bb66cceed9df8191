package conf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
)

// Defaults that other directives derive from.
const (
	DefaultPort = 6379
	DefaultBind = "127.0.0.1"
	// RaftPortOffset is added to the client port to get the default raft
	// port, like the Redis Cluster bus.
	RaftPortOffset = 10000
)

// SlowlogMaxLenMax bounds slowlog-max-len (Redis: LONG_MAX). An entry
// keeps at most 32 arguments of 128 bytes, about 5 KiB, so the slowlog
// stays under ~50 MiB.
const SlowlogMaxLenMax = 10_000

// Sentinel errors for callers that branch (CONFIG SET in resp).
var (
	// ErrUnknownDirective: no directive has that name.
	ErrUnknownDirective = errors.New("unknown directive")
	// ErrNotLive: the directive exists but cannot change while running.
	ErrNotLive = errors.New("cannot be changed while running")
	// ErrInvalidValue: the value does not parse or is out of range.
	ErrInvalidValue = errors.New("invalid value")
)

// Peer is one member of the initial cluster.
type Peer struct {
	ID         uint64
	RaftAddr   string // host:port where peers reach its Raft transport
	ClientAddr string // host:port where clients reach its RESP server
}

// Config is every setting of a raftkv node. Fields hold parsed values in
// base units (bytes, milliseconds, seconds as the name says). A Config is not
// safe for concurrent use: the RESP server serialises CONFIG GET/SET.
type Config struct {
	// File is the configuration file Load read, "" if none.
	File string

	Port                 int    // port: client (RESP) TCP port
	Bind                 string // bind: client listen address
	Dir                  string // dir: data directory (WAL, snapshots)
	RequirePass          string // requirepass: AUTH password, "" = none
	MaxMemoryBytes       int64  // maxmemory: 0 = no limit
	MaxMemoryPolicy      string // maxmemory-policy
	MaxMemorySamples     int    // maxmemory-samples: keys sampled per eviction pick
	LFULogFactor         int    // lfu-log-factor
	LFUDecayTimeMin      int    // lfu-decay-time: minutes per LFU counter decrement
	AppendFsync          string // appendfsync: always|everysec|no (see doc.go)
	Databases            int    // databases: number of SELECT-able databases
	TimeoutSeconds       int    // timeout: close idle clients after this, 0 = never
	MaxClients           int    // maxclients
	ProtoMaxBulkLenBytes int64  // proto-max-bulk-len: largest bulk string accepted
	LogLevel             string // loglevel: debug|verbose|notice|warning
	LogFile              string // logfile: "" = stderr
	// SlowlogSlowerThanUs is slowlog-log-slower-than: commands that take
	// at least this long (µs) enter SLOWLOG; 0 logs every command, -1 none.
	SlowlogSlowerThanUs int64
	SlowlogMaxLen       int // slowlog-max-len: entries SLOWLOG keeps (at most SlowlogMaxLenMax)
	// LatencyMonitorThresholdMs is latency-monitor-threshold: commands
	// that take at least this long (ms) are sampled for LATENCY; 0 = off.
	LatencyMonitorThresholdMs int64

	NodeID                   uint64 // node-id
	RaftAddr                 string // raft-addr: default bind:port+10000
	Cluster                  []Peer // cluster: initial membership; default just this node
	ClusterID                string // cluster-id: peers with another ID are refused
	ClusterSecret            string // cluster-secret: proof exchanged in the peer handshake
	Join                     bool   // join: start as a learner of the existing cluster named by cluster
	ElectionTimeoutMs        int    // election-timeout
	HeartbeatIntervalMs      int    // heartbeat-interval
	TickIntervalMs           int    // tick-interval: the consensus clock's resolution
	SnapshotThresholdEntries uint64 // snapshot-threshold: applied entries between snapshots
	ReadMode                 string // read-mode: readindex or lease
	MetricsAddr              string // metrics-addr: "" = no metrics endpoint
	RequestTimeoutMs         int    // request-timeout: how long a client waits for a commit

	// raftAddrSet and clusterSet say whether the user gave these, so that
	// their defaults can follow port and bind.
	raftAddrSet bool
	clusterSet  bool
}

// directive describes one configuration name: how to set it from text, how
// to show it for CONFIG GET, and whether CONFIG SET may change it.
type directive struct {
	name string
	def  string
	live bool
	set  func(c *Config, v string) error
	get  func(c *Config) string
}

// directives is in the order CONFIG GET lists them.
var directives = []directive{
	{name: "port", def: strconv.Itoa(DefaultPort), set: func(c *Config, v string) error { return parsePort(v, &c.Port) }, get: func(c *Config) string { return strconv.Itoa(c.Port) }},
	{name: "bind", def: DefaultBind, set: setBind, get: func(c *Config) string { return c.Bind }},
	{name: "dir", def: "./raftkv-data", set: func(c *Config, v string) error { return setNonEmpty(v, &c.Dir) }, get: func(c *Config) string { return c.Dir }},
	{name: "requirepass", def: "", live: true, set: func(c *Config, v string) error { c.RequirePass = v; return nil }, get: func(c *Config) string { return c.RequirePass }},
	{name: "maxmemory", def: "0", live: true, set: func(c *Config, v string) error { return parseSize(v, &c.MaxMemoryBytes, 0) }, get: func(c *Config) string { return strconv.FormatInt(c.MaxMemoryBytes, 10) }},
	{name: "maxmemory-policy", def: "noeviction", live: true, set: func(c *Config, v string) error {
		// In Redis's order, which its CONFIG SET error lists.
		return parseEnum(v, &c.MaxMemoryPolicy, "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")
	}, get: func(c *Config) string { return c.MaxMemoryPolicy }},
	{name: "maxmemory-samples", def: "5", live: true, set: func(c *Config, v string) error { return parseInt(v, &c.MaxMemorySamples, 1, 64) }, get: func(c *Config) string { return strconv.Itoa(c.MaxMemorySamples) }},
	{name: "lfu-log-factor", def: "10", live: true, set: func(c *Config, v string) error { return parseInt(v, &c.LFULogFactor, 0, 1<<31-1) }, get: func(c *Config) string { return strconv.Itoa(c.LFULogFactor) }},
	{name: "lfu-decay-time", def: "1", live: true, set: func(c *Config, v string) error { return parseInt(v, &c.LFUDecayTimeMin, 0, 1<<31-1) }, get: func(c *Config) string { return strconv.Itoa(c.LFUDecayTimeMin) }},
	{name: "appendfsync", def: "always", set: func(c *Config, v string) error { return parseEnum(v, &c.AppendFsync, "always", "everysec", "no") }, get: func(c *Config) string { return c.AppendFsync }},
	{name: "databases", def: "16", set: func(c *Config, v string) error { return parseInt(v, &c.Databases, 1, 1<<20) }, get: func(c *Config) string { return strconv.Itoa(c.Databases) }},
	{name: "timeout", def: "0", live: true, set: func(c *Config, v string) error { return parseInt(v, &c.TimeoutSeconds, 0, 1<<31-1) }, get: func(c *Config) string { return strconv.Itoa(c.TimeoutSeconds) }},
	{name: "maxclients", def: "10000", live: true, set: func(c *Config, v string) error { return parseInt(v, &c.MaxClients, 1, 1<<31-1) }, get: func(c *Config) string { return strconv.Itoa(c.MaxClients) }},
	{name: "proto-max-bulk-len", def: "512mb", live: true, set: func(c *Config, v string) error { return parseSize(v, &c.ProtoMaxBulkLenBytes, 1024*1024) }, get: func(c *Config) string { return strconv.FormatInt(c.ProtoMaxBulkLenBytes, 10) }},
	{name: "loglevel", def: "notice", live: true, set: func(c *Config, v string) error {
		return parseEnum(v, &c.LogLevel, "debug", "verbose", "notice", "warning")
	}, get: func(c *Config) string { return c.LogLevel }},
	{name: "slowlog-log-slower-than", def: "10000", live: true, set: func(c *Config, v string) error {
		n := int(c.SlowlogSlowerThanUs)
		if err := parseInt(v, &n, -1, math.MaxInt); err != nil {
			return err
		}
		c.SlowlogSlowerThanUs = int64(n)
		return nil
	}, get: func(c *Config) string { return strconv.FormatInt(c.SlowlogSlowerThanUs, 10) }},
	{name: "slowlog-max-len", def: "128", live: true, set: func(c *Config, v string) error { return parseInt(v, &c.SlowlogMaxLen, 0, SlowlogMaxLenMax) }, get: func(c *Config) string { return strconv.Itoa(c.SlowlogMaxLen) }},
	{name: "latency-monitor-threshold", def: "0", live: true, set: func(c *Config, v string) error {
		n := int(c.LatencyMonitorThresholdMs)
		if err := parseInt(v, &n, 0, math.MaxInt); err != nil {
			return err
		}
		c.LatencyMonitorThresholdMs = int64(n)
		return nil
	}, get: func(c *Config) string { return strconv.FormatInt(c.LatencyMonitorThresholdMs, 10) }},
	{name: "logfile", def: "", set: func(c *Config, v string) error { c.LogFile = v; return nil }, get: func(c *Config) string { return c.LogFile }},

	{name: "node-id", def: "1", set: func(c *Config, v string) error { return parseNodeID(v, &c.NodeID) }, get: func(c *Config) string { return strconv.FormatUint(c.NodeID, 10) }},
	{name: "raft-addr", def: "", set: setRaftAddr, get: func(c *Config) string { return c.RaftAddr }},
	{name: "cluster", def: "", set: setCluster, get: func(c *Config) string { return FormatCluster(c.Cluster) }},
	{name: "cluster-id", def: "raftkv", set: func(c *Config, v string) error { return setNonEmpty(v, &c.ClusterID) }, get: func(c *Config) string { return c.ClusterID }},
	{name: "cluster-secret", def: "", set: func(c *Config, v string) error { c.ClusterSecret = v; return nil }, get: func(c *Config) string { return c.ClusterSecret }},
	{name: "join", def: "no", set: func(c *Config, v string) error { return parseYesNo(v, &c.Join) }, get: func(c *Config) string { return yesNo(c.Join) }},
	{name: "election-timeout", def: "1000", set: func(c *Config, v string) error { return parseInt(v, &c.ElectionTimeoutMs, 1, 3_600_000) }, get: func(c *Config) string { return strconv.Itoa(c.ElectionTimeoutMs) }},
	{name: "heartbeat-interval", def: "100", set: func(c *Config, v string) error { return parseInt(v, &c.HeartbeatIntervalMs, 1, 3_600_000) }, get: func(c *Config) string { return strconv.Itoa(c.HeartbeatIntervalMs) }},
	{name: "tick-interval", def: "10", set: func(c *Config, v string) error { return parseInt(v, &c.TickIntervalMs, 1, 60_000) }, get: func(c *Config) string { return strconv.Itoa(c.TickIntervalMs) }},
	{name: "snapshot-threshold", def: "100000", set: func(c *Config, v string) error { return parseUint(v, &c.SnapshotThresholdEntries, 1) }, get: func(c *Config) string { return strconv.FormatUint(c.SnapshotThresholdEntries, 10) }},
	{name: "read-mode", def: "readindex", set: func(c *Config, v string) error {
		return parseEnum(v, &c.ReadMode, "readindex", "lease")
	}, get: func(c *Config) string { return c.ReadMode }},
	{name: "metrics-addr", def: "", set: func(c *Config, v string) error { return setOptionalAddr(v, &c.MetricsAddr) }, get: func(c *Config) string { return c.MetricsAddr }},
	{name: "request-timeout", def: "5000", set: func(c *Config, v string) error { return parseInt(v, &c.RequestTimeoutMs, 1, 3_600_000) }, get: func(c *Config) string { return strconv.Itoa(c.RequestTimeoutMs) }},
}

func lookup(name string) (*directive, bool) {
	name = strings.ToLower(name)
	for i := range directives {
		if directives[i].name == name {
			return &directives[i], true
		}
	}
	return nil, false
}

// LiveDirectives lists the directives CONFIG SET may change while running.
func LiveDirectives() []string {
	var names []string
	for _, d := range directives {
		if d.live {
			names = append(names, d.name)
		}
	}
	return names
}

// Default returns a Config with every directive at its default value: a
// single-node server on 127.0.0.1:6379.
func Default() *Config {
	c := &Config{}
	for _, d := range directives {
		// The defaults are constants that TestDefaults checks; none fails.
		_ = d.set(c, d.def)
	}
	c.raftAddrSet, c.clusterSet = false, false
	c.derive()
	return c
}

// Load builds a Config the way redis-server does: defaults, then the file
// named by an optional first argument that does not start with "--", then
// "--directive value..." arguments in order. A directive given twice takes
// the last value. The error is one line naming the place and the directive.
func Load(args []string) (*Config, error) {
	c := Default()
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		c.File = args[0]
		text, err := os.ReadFile(args[0])
		if err != nil {
			return nil, fmt.Errorf("conf: %w", err)
		}
		if err := c.parseFile(string(text)); err != nil {
			return nil, err
		}
		args = args[1:]
	}
	if err := c.parseFlags(args); err != nil {
		return nil, err
	}
	c.derive()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse applies the directives in text (redis.conf syntax) on top of the
// defaults, without flags; it is Load for a file already in memory.
func Parse(text string) (*Config, error) {
	c := Default()
	if err := c.parseFile(text); err != nil {
		return nil, err
	}
	c.derive()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) parseFile(text string) error {
	for i, line := range strings.Split(text, "\n") {
		lineNo := i + 1
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		words, err := splitArgs(line)
		if err != nil {
			return fmt.Errorf("conf: line %d: %w", lineNo, err)
		}
		if len(words) == 0 {
			continue
		}
		if err := c.apply(words[0], words[1:]); err != nil {
			return fmt.Errorf("conf: line %d: %w", lineNo, err)
		}
	}
	return nil
}

func (c *Config) parseFlags(args []string) error {
	for i := 0; i < len(args); {
		arg := args[i]
		if !strings.HasPrefix(arg, "--") || len(arg) == 2 {
			return fmt.Errorf("conf: argument %q: expected --directive", arg)
		}
		name := arg[2:]
		j := i + 1
		for j < len(args) && !strings.HasPrefix(args[j], "--") {
			j++
		}
		if err := c.apply(name, args[i+1:j]); err != nil {
			return fmt.Errorf("conf: command line: %w", err)
		}
		i = j
	}
	return nil
}

// apply sets one directive from its words; the error starts with the quoted
// directive name so that callers only prefix the place.
func (c *Config) apply(name string, values []string) error {
	d, ok := lookup(name)
	if !ok {
		return fmt.Errorf("%q: %w", name, ErrUnknownDirective)
	}
	if len(values) != 1 {
		return fmt.Errorf("%q: %w", d.name, invalid("wants exactly one value, got %d", len(values)))
	}
	if err := d.set(c, values[0]); err != nil {
		return fmt.Errorf("%q: %w", d.name, err)
	}
	return nil
}

// derive fills the defaults that follow other directives.
func (c *Config) derive() {
	if !c.raftAddrSet {
		c.RaftAddr = net.JoinHostPort(c.Bind, strconv.Itoa(c.Port+RaftPortOffset))
	}
	if !c.clusterSet {
		c.Cluster = []Peer{{ID: c.NodeID, RaftAddr: c.RaftAddr, ClientAddr: c.ClientAddr()}}
	}
}

// ClientAddr is the host:port the RESP server listens on.
func (c *Config) ClientAddr() string { return net.JoinHostPort(c.Bind, strconv.Itoa(c.Port)) }

// Validate checks the rules that involve more than one directive.
func (c *Config) Validate() error {
	if c.HeartbeatIntervalMs >= c.ElectionTimeoutMs {
		return fmt.Errorf("conf: \"heartbeat-interval\": %d must be smaller than election-timeout %d", c.HeartbeatIntervalMs, c.ElectionTimeoutMs)
	}
	if c.TickIntervalMs > c.HeartbeatIntervalMs {
		return fmt.Errorf("conf: \"tick-interval\": %d must not exceed heartbeat-interval %d", c.TickIntervalMs, c.HeartbeatIntervalMs)
	}
	if !c.raftAddrSet && c.Port+RaftPortOffset > 65535 {
		return fmt.Errorf("conf: \"raft-addr\": default port %d (port+%d) is out of range; set raft-addr", c.Port+RaftPortOffset, RaftPortOffset)
	}
	self := -1
	for i, p := range c.Cluster {
		if p.ID == c.NodeID {
			self = i
		}
	}
	if self < 0 {
		return fmt.Errorf("conf: \"cluster\": node-id %d is not a member of %q", c.NodeID, FormatCluster(c.Cluster))
	}
	if c.raftAddrSet && c.clusterSet && c.Cluster[self].RaftAddr != c.RaftAddr {
		return fmt.Errorf("conf: \"raft-addr\": %q differs from this node's entry %q in cluster", c.RaftAddr, c.Cluster[self].RaftAddr)
	}
	if c.Join && len(c.Cluster) < 2 {
		return fmt.Errorf("conf: \"join\": cluster must name the existing members to join besides node-id %d", c.NodeID)
	}
	if !c.raftAddrSet && c.clusterSet {
		// The cluster line already says where this node's transport listens.
		c.RaftAddr = c.Cluster[self].RaftAddr
	}
	return nil
}

// Get returns the directives whose names match the glob pattern (as CONFIG
// GET: *, ?, [...]; case-insensitive), as name/value pairs in table order.
func (c *Config) Get(pattern string) [][2]string {
	pattern = strings.ToLower(pattern)
	var out [][2]string
	for _, d := range directives {
		if ok, err := path.Match(pattern, d.name); err == nil && ok {
			out = append(out, [2]string{d.name, d.get(c)})
		}
	}
	return out
}

// Settable says whether CONFIG SET may change the directive name: nil, or
// ErrUnknownDirective or ErrNotLive (wrapped). CONFIG SET checks every name
// before it parses any value, as redis-server does.
func Settable(name string) error {
	d, ok := lookup(name)
	if !ok {
		return fmt.Errorf("conf: %q: %w", name, ErrUnknownDirective)
	}
	if !d.live {
		return fmt.Errorf("conf: %q: %w", d.name, ErrNotLive)
	}
	return nil
}

// Set changes one live directive (CONFIG SET). It fails with ErrUnknownDirective,
// ErrNotLive or ErrInvalidValue (wrapped with the reason), leaving c unchanged.
func (c *Config) Set(name, value string) error {
	d, ok := lookup(name)
	if !ok {
		return fmt.Errorf("conf: %q: %w", name, ErrUnknownDirective)
	}
	if !d.live {
		return fmt.Errorf("conf: %q: %w", d.name, ErrNotLive)
	}
	next := *c
	if err := d.set(&next, value); err != nil {
		return fmt.Errorf("conf: %q: %w", d.name, err)
	}
	*c = next
	return nil
}

// FormatCluster is the inverse of the cluster directive's syntax.
func FormatCluster(peers []Peer) string {
	var b strings.Builder
	for i, p := range peers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(p.ID, 10))
		b.WriteByte('=')
		b.WriteString(p.RaftAddr)
		b.WriteByte('/')
		b.WriteString(p.ClientAddr)
	}
	return b.String()
}
