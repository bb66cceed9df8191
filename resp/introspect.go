package resp

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/redcon"
)

func (c *client) cmdClient(args [][]byte) {
	sub := args[1]
	switch {
	case equalFold(sub, "id") && len(args) == 2:
		c.out = redcon.AppendInt(c.out, int64(c.id))
	case equalFold(sub, "getname") && len(args) == 2:
		if c.name == "" {
			c.out = appendNil(c.out, c.proto)
		} else {
			c.out = redcon.AppendBulkString(c.out, c.name)
		}
	case equalFold(sub, "setname") && len(args) == 3:
		if !validClientName(args[2]) {
			c.replyError(errTextClientName)
			return
		}
		c.mu.Lock()
		c.name = string(args[2])
		c.mu.Unlock()
		c.out = append(c.out, "+OK\r\n"...)
	case equalFold(sub, "setinfo") && len(args) == 4:
		c.clientSetInfo(args[2], args[3])
	case equalFold(sub, "info") && len(args) == 2:
		c.out = appendVerbatim(c.out, c.appendInfoLine(nil, time.Now()), c.proto)
	case equalFold(sub, "list"):
		c.clientList(args[2:])
	case equalFold(sub, "kill") && len(args) >= 3:
		c.clientKill(args[2:])
	case (equalFold(sub, "no-evict") || equalFold(sub, "no-touch")) && len(args) == 3:
		var on bool
		switch {
		case equalFold(args[2], "on"):
			on = true
		case equalFold(args[2], "off"):
		default:
			c.replyError(errTextSyntax)
			return
		}
		c.mu.Lock()
		if equalFold(sub, "no-evict") {
			c.noEvict = on
		} else {
			c.noTouch = on
		}
		c.mu.Unlock()
		c.out = append(c.out, "+OK\r\n"...)
	case equalFold(sub, "reply") && len(args) == 3:
		switch {
		case equalFold(args[2], "on"):
			c.replyMode = replyOn
			c.out = append(c.out, "+OK\r\n"...)
		case equalFold(args[2], "off"):
			c.replyMode = replyOff
		case equalFold(args[2], "skip"):
			c.replyMode = replySkip
		default:
			c.replyError(errTextSyntax)
		}
	case equalFold(sub, "help") && len(args) == 2:
		c.appendHelp("CLIENT", []string{
			"GETNAME", "    Return the name of the current connection.",
			"ID", "    Return the ID of the current connection.",
			"INFO", "    Return information about the current client connection.",
			"KILL <ip:port> | KILL <option> <value> [<option> <value> [...]]", "    Kill connections: ID, ADDR, LADDR, SKIPME.",
			"LIST [ID <id> [<id> ...]]", "    Return information about client connections.",
			"NO-EVICT (ON|OFF)", "    Protect the current client connection from eviction.",
			"NO-TOUCH (ON|OFF)", "    Will not touch LRU/LFU stats when this mode is on.",
			"REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
			"SETNAME <name>", "    Assign the name <name> to the current connection.",
			"SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client meta attributes.",
		})
	default:
		c.subcommandError("client", sub, "id", "getname", "setname", "setinfo", "info", "list", "kill", "no-evict", "no-touch", "reply", "help")
	}
}

// subcommandError answers a subcommand that did not match: Redis's arity
// error when the name is known (so the argument count was wrong), else
// "unknown subcommand".
func (c *client) subcommandError(command string, sub []byte, known ...string) {
	for _, name := range known {
		if equalFold(sub, name) {
			c.replyError("ERR wrong number of arguments for '" + command + "|" + name + "' command")
			return
		}
	}
	c.replyError("ERR unknown subcommand '" + truncate(sub, 128) + "'. Try " + strings.ToUpper(command) + " HELP.")
}

func (c *client) clientSetInfo(attr, value []byte) {
	var field *string
	var label string
	switch {
	case equalFold(attr, "lib-name"):
		field, label = &c.libName, "lib-name"
	case equalFold(attr, "lib-ver"):
		field, label = &c.libVer, "lib-ver"
	default:
		c.replyError("ERR Unrecognized option '" + truncate(attr, 128) + "'")
		return
	}
	if !validClientName(value) {
		c.replyError("ERR " + label + " cannot contain spaces, newlines or special characters.")
		return
	}
	c.mu.Lock()
	*field = string(value)
	c.mu.Unlock()
	c.out = append(c.out, "+OK\r\n"...)
}

// snapshotClients returns the connected clients ordered by id.
func (s *Server) snapshotClients() []*client {
	s.mu.Lock()
	list := make([]*client, 0, len(s.clients))
	for _, other := range s.clients {
		list = append(list, other)
	}
	s.mu.Unlock()
	// Insertion sort: lists are short and this keeps sort imports out.
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].id < list[j-1].id; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	return list
}

func (c *client) clientList(filter [][]byte) {
	var ids map[uint64]bool
	if len(filter) > 0 {
		if !equalFold(filter[0], "id") || len(filter) < 2 {
			if equalFold(filter[0], "type") && len(filter) == 2 {
				filter = nil // every client is "normal"
			} else {
				c.replyError(errTextSyntax)
				return
			}
		} else {
			ids = make(map[uint64]bool)
			for _, f := range filter[1:] {
				n, ok := parseInt(f)
				if !ok || n <= 0 {
					c.replyError("ERR Invalid client ID")
					return
				}
				ids[uint64(n)] = true
			}
		}
	}
	now := time.Now()
	var text []byte
	for _, other := range c.srv.snapshotClients() {
		if ids != nil && !ids[other.id] {
			continue
		}
		text = other.appendInfoLine(text, now)
	}
	c.out = appendVerbatim(c.out, text, c.proto)
}

// appendInfoLine appends the client's CLIENT LIST line, in Redis 7's field
// order; fields we have no equivalent for are reported as zero.
func (c *client) appendInfoLine(b []byte, now time.Time) []byte {
	c.mu.Lock()
	name, libName, libVer, db, proto := c.name, c.libName, c.libVer, c.db, c.proto
	flags := ""
	multi := c.multiQueued.Load()
	if multi >= 0 {
		flags += "x"
	}
	if c.noEvict {
		flags += "e"
	}
	if c.noTouch {
		flags += "T"
	}
	if flags == "" {
		flags = "N"
	}
	c.mu.Unlock()
	cmd := "NULL"
	if i := c.lastCmd.Load(); i > 0 {
		cmd = commandSpecs[i-1].name
	}
	idle := now.Sub(time.Unix(0, c.lastInteractionNs.Load())) / time.Second
	age := now.Sub(c.createdAt) / time.Second
	b = append(b, "id="...)
	b = strconv.AppendUint(b, c.id, 10)
	b = append(b, " addr="...)
	b = append(b, c.addr...)
	b = append(b, " laddr="...)
	b = append(b, c.laddr...)
	b = append(b, " fd=-1 name="...)
	b = append(b, name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(age), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, int64(idle), 10)
	b = append(b, " flags="...)
	b = append(b, flags...)
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, " sub=0 psub=0 ssub=0 multi="...)
	b = strconv.AppendInt(b, int64(multi), 10)
	b = append(b, " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="...)
	b = append(b, cmd...)
	b = append(b, " user=default redir=-1 resp="...)
	b = strconv.AppendInt(b, int64(proto), 10)
	b = append(b, " lib-name="...)
	b = append(b, libName...)
	b = append(b, " lib-ver="...)
	b = append(b, libVer...)
	return append(b, '\n')
}

// clientKill implements both forms: CLIENT KILL addr (+OK or an error) and
// CLIENT KILL <filter> <value>... (the number of clients killed).
func (c *client) clientKill(args [][]byte) {
	if len(args) == 1 {
		n := c.killMatching(func(o *client) bool { return o.addr == string(args[0]) }, false)
		if n == 0 {
			c.replyError("ERR No such client")
			return
		}
		c.out = append(c.out, "+OK\r\n"...)
		return
	}
	if len(args)%2 != 0 {
		c.replyError(errTextSyntax)
		return
	}
	var preds []func(o *client) bool
	skipMe := true
	for i := 0; i < len(args); i += 2 {
		value := string(args[i+1])
		switch {
		case equalFold(args[i], "id"):
			n, ok := parseInt(args[i+1])
			if !ok || n <= 0 {
				c.replyError("ERR client-id should be greater than 0")
				return
			}
			preds = append(preds, func(o *client) bool { return o.id == uint64(n) })
		case equalFold(args[i], "addr"):
			preds = append(preds, func(o *client) bool { return o.addr == value })
		case equalFold(args[i], "laddr"):
			preds = append(preds, func(o *client) bool { return o.laddr == value })
		case equalFold(args[i], "skipme"):
			switch {
			case equalFold(args[i+1], "yes"):
				skipMe = true
			case equalFold(args[i+1], "no"):
				skipMe = false
			default:
				c.replyError(errTextSyntax)
				return
			}
		default:
			c.replyError(errTextSyntax)
			return
		}
	}
	n := c.killMatching(func(o *client) bool {
		for _, p := range preds {
			if !p(o) {
				return false
			}
		}
		return true
	}, skipMe)
	c.out = redcon.AppendInt(c.out, int64(n))
}

func (c *client) killMatching(match func(o *client) bool, skipMe bool) int {
	n := 0
	for _, o := range c.srv.snapshotClients() {
		if !match(o) || (skipMe && o == c) {
			continue
		}
		n++
		if o == c {
			c.quit = true // after this batch's replies are written
			continue
		}
		o.nc.Close()
	}
	return n
}

func (c *client) cmdCommand(args [][]byte) {
	if len(args) == 1 {
		c.out = redcon.AppendArray(c.out, len(c.srv.cmdList))
		for _, cmd := range c.srv.cmdList {
			c.appendCommandInfo(cmd)
		}
		return
	}
	sub := args[1]
	switch {
	case equalFold(sub, "count") && len(args) == 2:
		c.out = redcon.AppendInt(c.out, int64(len(c.srv.cmdList)))
	case equalFold(sub, "list"):
		c.out = redcon.AppendArray(c.out, len(c.srv.cmdList))
		for _, cmd := range c.srv.cmdList {
			c.out = redcon.AppendBulkString(c.out, cmd.spec.name)
		}
	case equalFold(sub, "info"):
		names := args[2:]
		if len(names) == 0 {
			c.out = redcon.AppendArray(c.out, len(c.srv.cmdList))
			for _, cmd := range c.srv.cmdList {
				c.appendCommandInfo(cmd)
			}
			return
		}
		c.out = redcon.AppendArray(c.out, len(names))
		for _, name := range names {
			if cmd := c.srv.lookup(name); cmd != nil {
				c.appendCommandInfo(cmd)
			} else {
				c.out = appendNil(c.out, c.proto) // Redis sends a null bulk here
			}
		}
	case equalFold(sub, "docs"):
		c.commandDocs(args[2:])
	case equalFold(sub, "help") && len(args) == 2:
		c.appendHelp("COMMAND", []string{
			"(no subcommand)", "    Return details about all commands.",
			"COUNT", "    Return the total number of commands in this server.",
			"LIST", "    Return a list of all commands in this server.",
			"INFO [<command-name> ...]", "    Return details about multiple commands.",
			"DOCS [<command-name> ...]", "    Return documentation details about multiple commands.",
		})
	default:
		c.subcommandError("command", sub, "count", "list", "info", "docs", "help")
	}
}

// commandDocs answers COMMAND DOCS: redis-server's own documents for our
// commands (docs.go), all of them or those named; unknown names are left
// out, as Redis does.
func (c *client) commandDocs(names [][]byte) {
	var list []*command
	if len(names) == 0 {
		list = c.srv.cmdList
	} else {
		for _, n := range names {
			if cmd := c.srv.lookup(n); cmd != nil {
				list = append(list, cmd)
			}
		}
	}
	found := 0
	for _, cmd := range list {
		if _, ok := c.srv.docs[cmd.spec.name]; ok {
			found++
		}
	}
	c.out = appendMapHeader(c.out, found, c.proto)
	for _, cmd := range list {
		doc, ok := c.srv.docs[cmd.spec.name]
		if !ok {
			continue
		}
		c.out = redcon.AppendBulkString(c.out, cmd.spec.name)
		c.out = appendReply(c.out, &doc, c.proto)
	}
}

// appendCommandInfo appends one COMMAND INFO entry in Redis 7's ten-field
// form (tips, key specs and subcommands empty).
func (c *client) appendCommandInfo(cmd *command) {
	sp := cmd.spec
	b := redcon.AppendArray(c.out, 10)
	b = redcon.AppendBulkString(b, sp.name)
	b = redcon.AppendInt(b, int64(sp.arity))
	b = appendSetHeader(b, len(sp.flags), c.proto)
	for _, f := range sp.flags {
		b = appendStatus(b, f)
	}
	b = redcon.AppendInt(b, int64(sp.firstKey))
	b = redcon.AppendInt(b, int64(sp.lastKey))
	b = redcon.AppendInt(b, int64(sp.keyStep))
	b = appendSetHeader(b, len(sp.categories), c.proto)
	for _, cat := range sp.categories {
		b = appendStatus(b, cat)
	}
	b = appendSetHeader(b, 0, c.proto)
	b = redcon.AppendArray(b, 0)
	c.out = redcon.AppendArray(b, 0)
}

// infoSections lists INFO's sections in Redis 7.0's order, with ours
// (raft) before keyspace; "all" and "everything" show them all, "default"
// (and INFO alone) all but commandstats, as Redis does.
var infoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "commandstats", "errorstats", "cluster", "raft", "keyspace"}

func (c *client) cmdInfo(args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := want["all"] || want["everything"]
	byDefault := len(want) == 0 || want["default"]
	var text []byte
	st := c.srv.backend.Status()
	for _, sec := range infoSections {
		if !all && !want[sec] && !(byDefault && sec != "commandstats") {
			continue
		}
		if len(text) > 0 {
			text = append(text, "\r\n"...)
		}
		text = c.srv.appendInfoSection(text, sec, &st)
	}
	c.out = appendVerbatim(c.out, text, c.proto)
}

func appendField(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = append(b, value...)
	return append(b, '\r', '\n')
}

func appendUintField(b []byte, key string, v uint64) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '\r', '\n')
}

func (s *Server) appendInfoSection(b []byte, section string, st *ClusterStatus) []byte {
	switch section {
	case "server":
		b = s.appendServerInfo(b)
	case "clients":
		s.mu.Lock()
		n := len(s.clients)
		s.mu.Unlock()
		b = append(b, "# Clients\r\n"...)
		b = appendField(b, "connected_clients", strconv.Itoa(n))
		b = appendField(b, "cluster_connections", "0")
		b = appendField(b, "maxclients", itoa(s.maxClients.Load()))
		b = appendField(b, "client_recent_max_input_buffer", "0")
		b = appendField(b, "client_recent_max_output_buffer", "0")
		b = appendField(b, "blocked_clients", "0")
		b = appendField(b, "tracking_clients", "0")
		b = appendField(b, "clients_in_timeout_table", "0")
	case "memory":
		// used_memory is the keyspace's accounted memory (the same on
		// every replica, what maxmemory bounds); the process's real
		// footprint is used_memory_rss, and Go's heap go_heap_alloc.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss := processRSSBytes()
		if rss == 0 {
			rss = ms.Sys
		}
		s.confMu.Lock()
		maxMem, policy := s.cfg.Config.MaxMemoryBytes, s.cfg.Config.MaxMemoryPolicy
		s.confMu.Unlock()
		used := uint64(max(st.UsedMemoryBytes, 0))
		b = append(b, "# Memory\r\n"...)
		b = appendUintField(b, "used_memory", used)
		b = appendField(b, "used_memory_human", humanBytes(used))
		b = appendUintField(b, "used_memory_rss", rss)
		b = appendField(b, "used_memory_rss_human", humanBytes(rss))
		b = appendUintField(b, "used_memory_dataset", uint64(max(st.DatasetBytes, 0)))
		b = appendUintField(b, "go_heap_alloc", ms.HeapAlloc)
		b = appendField(b, "maxmemory", itoa(maxMem))
		b = appendField(b, "maxmemory_human", humanBytes(uint64(max(maxMem, 0))))
		b = appendField(b, "maxmemory_policy", policy)
		ratio := 0.0
		if used > 0 {
			ratio = float64(rss) / float64(used)
		}
		b = appendField(b, "mem_fragmentation_ratio", strconv.FormatFloat(ratio, 'f', 2, 64))
		b = appendField(b, "mem_allocator", "go-"+runtime.Version())
	case "persistence":
		// Our durability is the Raft log, fsynced per appendfsync: it is
		// reported as an always-on AOF, and there are no RDB saves.
		s.confMu.Lock()
		fsync := s.cfg.Config.AppendFsync
		s.confMu.Unlock()
		b = append(b, "# Persistence\r\n"...)
		b = appendField(b, "loading", "0")
		b = appendField(b, "async_loading", "0")
		b = appendField(b, "rdb_changes_since_last_save", "0")
		st := s.backend.Status()
		b = appendField(b, "rdb_bgsave_in_progress", boolDigit(st.SaveInProgress))
		b = appendField(b, "rdb_last_save_time", itoa(s.lastSaveUnix(st)))
		b = appendField(b, "rdb_last_bgsave_status", "ok")
		b = appendField(b, "aof_enabled", "1")
		b = appendField(b, "aof_rewrite_in_progress", "0")
		b = appendField(b, "aof_last_write_status", "ok")
		b = appendField(b, "aof_fsync", fsync)
	case "stats":
		b = append(b, "# Stats\r\n"...)
		b = appendUintField(b, "total_connections_received", s.totalConns.Load())
		b = appendUintField(b, "total_commands_processed", s.totalCommands.Load())
		b = appendField(b, "instantaneous_ops_per_sec", "0")
		b = appendUintField(b, "rejected_connections", s.rejected.Load())
		b = appendUintField(b, "expired_keys", st.ExpiredKeys)
		b = appendUintField(b, "evicted_keys", st.EvictedKeys)
		b = appendUintField(b, "keyspace_hits", st.KeyspaceHits)
		b = appendUintField(b, "keyspace_misses", st.KeyspaceMisses)
		b = appendField(b, "pubsub_channels", "0")
		b = appendField(b, "pubsub_patterns", "0")
		b = appendUintField(b, "total_error_replies", s.errors.total.Load())
	case "replication":
		b = s.appendReplicationInfo(b, st)
	case "cpu":
		b = append(b, "# CPU\r\n"...)
		sys, user := cpuSeconds()
		b = appendField(b, "used_cpu_sys", strconv.FormatFloat(sys, 'f', 6, 64))
		b = appendField(b, "used_cpu_user", strconv.FormatFloat(user, 'f', 6, 64))
		b = appendField(b, "used_cpu_sys_children", "0.000000")
		b = appendField(b, "used_cpu_user_children", "0.000000")
	case "modules":
		b = append(b, "# Modules\r\n"...)
	case "commandstats":
		// Calls per command since start or CONFIG RESETSTAT, in command
		// table order. Time, rejected and failed calls are not measured
		// (a clock read per command on the hot path): they read 0.
		b = append(b, "# Commandstats\r\n"...)
		for _, cmd := range s.cmdList {
			if n := s.calls[cmd.index].Load(); n > 0 {
				b = append(b, "cmdstat_"...)
				b = append(b, cmd.spec.name...)
				b = append(b, ":calls="...)
				b = strconv.AppendUint(b, n, 10)
				b = append(b, ",usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n"...)
			}
		}
	case "errorstats":
		b = s.errors.appendInfo(b)
	case "cluster":
		// raftkv is not a Redis Cluster: clients must not try cluster
		// routing (every node serves the whole keyspace).
		b = append(b, "# Cluster\r\n"...)
		b = appendField(b, "cluster_enabled", "0")
	case "raft":
		b = append(b, "# Raft\r\n"...)
		b = appendUintField(b, "raft_node_id", st.NodeID)
		b = appendField(b, "raft_role", st.Role)
		b = appendUintField(b, "raft_term", st.Term)
		b = appendUintField(b, "raft_leader_id", st.LeaderID)
		b = appendField(b, "raft_leader_addr", st.LeaderClientAddr)
		b = appendUintField(b, "raft_commit_index", st.CommitIndex)
		b = appendUintField(b, "raft_applied_index", st.AppliedIndex)
		b = appendField(b, "raft_peers", strconv.Itoa(len(st.Peers)))
		for i, p := range st.Peers {
			b = append(b, "raft_peer"...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ":id="...)
			b = strconv.AppendUint(b, p.ID, 10)
			b = append(b, ",raft_addr="...)
			b = append(b, p.RaftAddr...)
			b = append(b, ",client_addr="...)
			b = append(b, p.ClientAddr...)
			b = append(b, ",match_index="...)
			b = strconv.AppendUint(b, p.MatchIndex, 10)
			b = append(b, ",voter="...)
			b = strconv.AppendBool(b, p.Voter)
			b = append(b, '\r', '\n')
		}
	case "keyspace":
		b = append(b, "# Keyspace\r\n"...)
		for _, db := range st.Keyspace {
			if db.Keys == 0 {
				continue
			}
			b = append(b, "db"...)
			b = strconv.AppendInt(b, int64(db.DB), 10)
			b = append(b, ":keys="...)
			b = strconv.AppendInt(b, db.Keys, 10)
			b = append(b, ",expires="...)
			b = strconv.AppendInt(b, db.Expires, 10)
			b = append(b, ",avg_ttl=0\r\n"...)
		}
	}
	return b
}

// appendServerInfo writes "# Server" with Redis 7.0's fields in its order
// (values we have no equivalent for are Redis's neutral ones), plus
// raftkv_version and go_version.
func (s *Server) appendServerInfo(b []byte) []byte {
	now := time.Now()
	up := now.Sub(s.startTime)
	b = append(b, "# Server\r\n"...)
	b = appendField(b, "redis_version", RedisVersion)
	b = appendField(b, "redis_git_sha1", "00000000")
	b = appendField(b, "redis_git_dirty", "0")
	b = appendField(b, "redis_build_id", "0")
	b = appendField(b, "redis_mode", "standalone")
	b = appendField(b, "os", runtime.GOOS+" "+runtime.GOARCH)
	b = appendField(b, "arch_bits", strconv.Itoa(strconv.IntSize))
	b = appendField(b, "monotonic_clock", "POSIX clock_gettime")
	b = appendField(b, "multiplexing_api", "go-netpoll")
	b = appendField(b, "atomicvar_api", "go-sync/atomic")
	b = appendField(b, "gcc_version", "0.0.0")
	b = appendField(b, "process_id", strconv.Itoa(os.Getpid()))
	b = appendField(b, "process_supervised", "no")
	b = appendField(b, "run_id", s.runID)
	if addr := s.Addr(); addr != nil {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			b = appendField(b, "tcp_port", port)
		}
	}
	b = appendField(b, "server_time_usec", itoa(now.UnixMicro()))
	b = appendField(b, "uptime_in_seconds", itoa(int64(up/time.Second)))
	b = appendField(b, "uptime_in_days", itoa(int64(up/(24*time.Hour))))
	b = appendField(b, "hz", "10")
	b = appendField(b, "configured_hz", "10")
	b = appendField(b, "lru_clock", itoa(now.Unix()&(1<<24-1)))
	exe, _ := os.Executable()
	b = appendField(b, "executable", exe)
	b = appendField(b, "config_file", "")
	b = appendField(b, "io_threads_active", "0")
	b = appendField(b, "raftkv_version", s.cfg.Version)
	b = appendField(b, "go_version", runtime.Version())
	return b
}

// appendReplicationInfo writes "# Replication" as Redis does for a master
// with replicas (the leader and its peers) or for a replica (a follower and
// its leader), so that tools that read role and slaveN lines work. Offsets
// are log indexes: the commit index on the leader, each peer's match index,
// the applied index on a follower.
func (s *Server) appendReplicationInfo(b []byte, st *ClusterStatus) []byte {
	b = append(b, "# Replication\r\n"...)
	if st.IsLeader() {
		b = appendField(b, "role", "master")
		b = appendField(b, "connected_slaves", strconv.Itoa(len(st.Peers)))
		for i, p := range st.Peers {
			host, port, err := net.SplitHostPort(p.ClientAddr)
			if err != nil {
				host, port = p.ClientAddr, "0"
			}
			b = append(b, "slave"...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ":ip="...)
			b = append(b, host...)
			b = append(b, ",port="...)
			b = append(b, port...)
			b = append(b, ",state=online,offset="...)
			b = strconv.AppendUint(b, p.MatchIndex, 10)
			b = append(b, ",lag=0\r\n"...)
		}
		b = appendField(b, "master_failover_state", "no-failover")
		b = appendField(b, "master_replid", s.runID)
		b = appendUintField(b, "master_repl_offset", st.CommitIndex)
		return b
	}
	b = appendField(b, "role", "slave")
	if host, port, err := net.SplitHostPort(st.LeaderClientAddr); err == nil {
		b = appendField(b, "master_host", host)
		b = appendField(b, "master_port", port)
		b = appendField(b, "master_link_status", "up")
	} else {
		b = appendField(b, "master_link_status", "down")
	}
	b = appendField(b, "master_sync_in_progress", "0")
	b = appendUintField(b, "slave_repl_offset", st.AppliedIndex)
	b = appendField(b, "slave_priority", "100")
	b = appendField(b, "slave_read_only", "0")
	b = appendField(b, "connected_slaves", "0")
	b = appendField(b, "master_failover_state", "no-failover")
	b = appendField(b, "master_replid", s.runID)
	b = appendUintField(b, "master_repl_offset", st.AppliedIndex)
	return b
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + "G"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) + "M"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 2, 64) + "K"
	}
	return strconv.FormatUint(n, 10) + "B"
}
