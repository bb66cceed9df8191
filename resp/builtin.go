package resp

import (
	"crypto/subtle"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/raftkv/raftkv/kvsm"
	"github.com/tidwall/redcon"
)

// Error texts of Redis 7 that several handlers share.
const (
	errTextSyntax      = "ERR syntax error"
	errTextNotInteger  = "ERR value is not an integer or out of range"
	errTextWrongPass   = "WRONGPASS invalid username-password pair or user is disabled."
	errTextNoPassword  = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errTextHelloNoAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	errTextClientName  = "ERR Client names cannot contain spaces, newlines or special characters."
)

func (s *Server) localHandlers() map[string]func(c *client, args [][]byte) {
	return map[string]func(c *client, args [][]byte){
		"ping":      (*client).cmdPing,
		"echo":      (*client).cmdEcho,
		"quit":      (*client).cmdQuit,
		"select":    (*client).cmdSelect,
		"hello":     (*client).cmdHello,
		"auth":      (*client).cmdAuth,
		"client":    (*client).cmdClient,
		"command":   (*client).cmdCommand,
		"info":      (*client).cmdInfo,
		"config":    (*client).cmdConfig,
		"time":      (*client).cmdTime,
		"multi":     (*client).cmdMulti,
		"exec":      (*client).cmdExec,
		"discard":   (*client).cmdDiscard,
		"watch":     (*client).cmdWatch,
		"unwatch":   (*client).cmdUnwatch,
		"reset":     (*client).cmdReset,
		"readonly":  (*client).cmdReadOnly,
		"readwrite": (*client).cmdReadOnly,
		"lastsave":  (*client).cmdLastSave,
		"save":      (*client).cmdSave,
		"monitor":   (*client).cmdMonitor,
		"bgsave":    (*client).cmdBgSave,
		"wait":      (*client).cmdWait,
		"role":      (*client).cmdRole,
		"slowlog":   (*client).cmdSlowlog,
		"latency":   (*client).cmdLatency,

		"raft.addnode":    (*client).cmdRaftAddNode,
		"raft.promote":    (*client).cmdRaftPromote,
		"raft.removenode": (*client).cmdRaftRemoveNode,
		"raft.transfer":   (*client).cmdRaftTransfer,
		"raft.status":     (*client).cmdRaftStatus,
	}
}

func (c *client) cmdPing(args [][]byte) {
	switch len(args) {
	case 1:
		c.out = append(c.out, "+PONG\r\n"...)
	case 2:
		c.out = redcon.AppendBulk(c.out, args[1])
	default:
		c.replyError("ERR wrong number of arguments for 'ping' command")
	}
}

func (c *client) cmdEcho(args [][]byte) { c.out = redcon.AppendBulk(c.out, args[1]) }

func (c *client) cmdQuit(args [][]byte) {
	c.out = append(c.out, "+OK\r\n"...)
	c.quit = true
}

func (c *client) cmdSelect(args [][]byte) {
	n, ok := parseInt(args[1])
	if !ok || n < -1<<31 || n > 1<<31-1 {
		c.replyError(errTextNotInteger)
		return
	}
	if n < 0 || n >= int64(c.srv.databases) {
		c.replyError("ERR DB index is out of range")
		return
	}
	c.mu.Lock()
	c.db = int(n)
	c.mu.Unlock()
	c.out = append(c.out, "+OK\r\n"...)
}

// checkPassword authenticates user/pass against requirepass as Redis's
// default user: with no requirepass any password is accepted for "default".
func (c *client) checkPassword(user, pass []byte) bool {
	if user != nil && string(user) != "default" {
		return false
	}
	want := *c.srv.requirePass.Load()
	if want == "" {
		return true
	}
	return subtle.ConstantTimeCompare(pass, []byte(want)) == 1
}

func (c *client) cmdAuth(args [][]byte) {
	var user, pass []byte
	switch len(args) {
	case 2:
		pass = args[1]
		if *c.srv.requirePass.Load() == "" {
			c.replyError(errTextNoPassword)
			return
		}
	case 3:
		user, pass = args[1], args[2]
	default:
		c.replyError(errTextSyntax)
		return
	}
	if !c.checkPassword(user, pass) {
		c.replyError(errTextWrongPass)
		return
	}
	c.authed = true
	c.out = append(c.out, "+OK\r\n"...)
}

func (c *client) cmdHello(args [][]byte) {
	proto := c.proto
	if len(args) >= 2 {
		n, ok := parseInt(args[1])
		if !ok || n < -1<<31 || n > 1<<31-1 {
			c.replyError("ERR Protocol version is not an integer or out of range")
			return
		}
		if n != proto2 && n != proto3 {
			c.replyError("NOPROTO unsupported protocol version")
			return
		}
		proto = int(n)
	}
	var user, pass, name []byte
	haveAuth, haveName := false, false
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case equalFold(args[i], "auth") && more >= 2:
			user, pass, haveAuth = args[i+1], args[i+2], true
			i += 2
		case equalFold(args[i], "setname") && more >= 1:
			name, haveName = args[i+1], true
			i++
		default:
			c.replyError("ERR Syntax error in HELLO option '" + string(args[i]) + "'")
			return
		}
	}
	if haveAuth {
		if !c.checkPassword(user, pass) {
			c.replyError(errTextWrongPass)
			return
		}
		c.authed = true
	}
	if !c.authed {
		c.replyError(errTextHelloNoAuth)
		return
	}
	if haveName && !validClientName(name) {
		c.replyError(errTextClientName)
		return
	}
	c.mu.Lock()
	c.proto = proto
	if haveName {
		c.name = string(name)
	}
	c.mu.Unlock()
	role := "master"
	if !c.srv.backend.Status().IsLeader() {
		role = "replica"
	}
	b := appendMapHeader(c.out, 7, proto)
	b = redcon.AppendBulkString(b, "server")
	b = redcon.AppendBulkString(b, "redis")
	b = redcon.AppendBulkString(b, "version")
	b = redcon.AppendBulkString(b, RedisVersion)
	b = redcon.AppendBulkString(b, "proto")
	b = redcon.AppendInt(b, int64(proto))
	b = redcon.AppendBulkString(b, "id")
	b = redcon.AppendInt(b, int64(c.id))
	b = redcon.AppendBulkString(b, "mode")
	b = redcon.AppendBulkString(b, "standalone")
	b = redcon.AppendBulkString(b, "role")
	b = redcon.AppendBulkString(b, role)
	b = redcon.AppendBulkString(b, "modules")
	c.out = redcon.AppendArray(b, 0)
}

// validClientName is Redis's rule: printable ASCII without spaces.
func validClientName(name []byte) bool {
	for _, ch := range name {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func (c *client) cmdTime(args [][]byte) {
	now := time.Now()
	var tmp [20]byte
	c.out = redcon.AppendArray(c.out, 2)
	c.out = redcon.AppendBulk(c.out, strconv.AppendInt(tmp[:0], now.Unix(), 10))
	c.out = redcon.AppendBulk(c.out, strconv.AppendInt(tmp[:0], int64(now.Nanosecond()/1000), 10))
}

func (c *client) cmdMulti(args [][]byte) {
	if c.multi {
		c.replyError("ERR MULTI calls can not be nested")
		return
	}
	c.multi, c.multiDirty, c.multiWrite, c.multiBytes = true, false, false, 0
	c.multiCmds, c.multiLocal, c.multiHasLocal, c.multiDB = c.multiCmds[:0], c.multiLocal[:0], false, c.db
	c.multiQueued.Store(0)
	c.out = append(c.out, "+OK\r\n"...)
}

func (c *client) endMulti() {
	clear(c.multiCmds)
	clear(c.multiLocal)
	c.multi, c.multiDirty, c.multiWrite, c.multiBytes = false, false, false, 0
	c.multiDenyOOM = false
	c.multiCmds, c.multiLocal, c.multiHasLocal = c.multiCmds[:0], c.multiLocal[:0], false
	c.multiQueued.Store(-1)
}

func (c *client) cmdDiscard(args [][]byte) {
	if !c.multi {
		c.replyError("ERR DISCARD without MULTI")
		return
	}
	c.endMulti()
	c.unwatch()
	c.out = append(c.out, "+OK\r\n"...)
}

// cmdExec sends the queued commands as one Backend call: a transaction is
// one log entry, applied atomically on every replica.
func (c *client) cmdExec(args [][]byte) {
	if !c.multi {
		c.replyError("ERR EXEC without MULTI")
		return
	}
	defer c.endMulti()
	defer c.unwatch()
	if c.multiDirty {
		c.replyError("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	if c.multiDenyOOM && c.refusedOOM() {
		c.replyError("EXECABORT Transaction discarded because of: " + OOMErrorText)
		return
	}
	keyspace, write := c.multiCmds, c.multiWrite
	if c.multiHasLocal {
		keyspace = make([]kvsm.Command, 0, len(c.multiCmds))
		for i := range c.multiCmds {
			if c.multiLocal[i] == nil {
				keyspace = append(keyspace, c.multiCmds[i])
			}
		}
	}
	cmds := keyspace
	if len(c.watched) > 0 {
		// The guard leads the transaction in the same log entry; the
		// state machine skips the rest when a watched key changed.
		cmds = append(make([]kvsm.Command, 0, 1+len(keyspace)), kvsm.WatchGuardCommand(len(keyspace), c.watched))
		cmds = append(cmds, keyspace...)
		write = true
	}
	var replies []kvsm.Reply
	if len(cmds) > 0 {
		var err error
		start := time.Now()
		replies, err = c.callBackend(cmds, write)
		// EXEC itself is not logged (skip_slowlog) but its commands are,
		// each with the transaction's time: they ran as one entry.
		d := time.Since(start)
		for i := range keyspace {
			cmd := c.srv.lookup(keyspace[i].Args[0])
			c.srv.observeCommand(c, cmd != nil && cmd.fast, keyspace[i].Args, start, d)
		}
		if err != nil {
			c.replyError(backendErrorText(err, write))
			return
		}
	}
	if len(c.watched) > 0 {
		if !kvsm.GuardPassed(replies[0]) {
			c.out = appendNilArray(c.out, c.proto)
			return
		}
		replies = replies[1:]
	}
	// Replies in queue order: the state machine's for keyspace commands,
	// the connection commands run now, in their place.
	c.out = redcon.AppendArray(c.out, len(c.multiCmds))
	next := 0
	for i := range c.multiCmds {
		if local := c.multiLocal[i]; local != nil {
			local.handler(c, c.multiCmds[i].Args)
			continue
		}
		c.srv.errors.countReply(&replies[next])
		c.out = appendReply(c.out, &replies[next], c.proto)
		next++
	}
}

func (c *client) cmdConfig(args [][]byte) {
	sub := args[1]
	switch {
	case equalFold(sub, "get"):
		if len(args) < 3 {
			c.replyError("ERR wrong number of arguments for 'config|get' command")
			return
		}
		var pairs [][2]string
		seen := make(map[string]bool)
		for _, pattern := range args[2:] {
			for _, kv := range c.srv.configGet(string(pattern)) {
				if !seen[kv[0]] {
					seen[kv[0]] = true
					pairs = append(pairs, kv)
				}
			}
			// redis-benchmark reads these at start-up; we have no RDB
			// snapshots and our log is always on.
			for _, kv := range [][2]string{{"save", ""}, {"appendonly", "yes"}} {
				if ok, _ := path.Match(strings.ToLower(string(pattern)), kv[0]); ok && !seen[kv[0]] {
					seen[kv[0]] = true
					pairs = append(pairs, kv)
				}
			}
		}
		c.out = appendMapHeader(c.out, len(pairs), c.proto)
		for _, kv := range pairs {
			c.out = redcon.AppendBulkString(c.out, kv[0])
			c.out = redcon.AppendBulkString(c.out, kv[1])
		}
	case equalFold(sub, "set"):
		if len(args) < 4 || len(args)%2 != 0 {
			c.replyError("ERR wrong number of arguments for 'config|set' command")
			return
		}
		if err := c.srv.configSet(args[2:]); err != nil {
			text := err.Error()
			if cse, ok := err.(*configSetError); ok {
				text = cse.redisText()
			}
			c.replyError(text)
			return
		}
		c.out = append(c.out, "+OK\r\n"...)
	case equalFold(sub, "resetstat") && len(args) == 2:
		for i := range c.srv.calls {
			c.srv.calls[i].Store(0)
		}
		c.srv.totalCommands.Store(0)
		c.srv.totalConns.Store(0)
		c.srv.rejected.Store(0)
		c.srv.errors.reset()
		c.out = append(c.out, "+OK\r\n"...)
	case equalFold(sub, "rewrite") && len(args) == 2:
		c.replyError("ERR CONFIG REWRITE is not supported by raftkv; edit the configuration file")
	case equalFold(sub, "help") && len(args) == 2:
		c.appendHelp("CONFIG", []string{
			"GET <pattern> [<pattern> ...]", "    Return parameters matching the glob-like <pattern> and their values.",
			"SET <directive> <value> [<directive> <value> ...]", "    Set the configuration <directive> to <value> (live directives only).",
			"RESETSTAT", "    Reset statistics reported by the INFO command.",
		})
	default:
		c.subcommandError("config", sub, "get", "set", "resetstat", "rewrite", "help")
	}
}

func (c *client) appendHelp(name string, lines []string) {
	all := append([]string{name + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"}, lines...)
	all = append(all, "HELP", "    Prints this help.")
	c.out = redcon.AppendArray(c.out, len(all))
	for _, l := range all {
		c.out = appendStatus(c.out, l)
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
