package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/kvsm"
)

// Reply modes of CLIENT REPLY.
const (
	replyOn = iota
	replyOff
	replySkip
)

// client is one connection. Its goroutine owns every field; fields that
// CLIENT LIST and CLIENT KILL read from other connections are atomics or
// guarded by mu (written by the owner under mu, read by the owner freely).
type client struct {
	srv       *Server
	nc        net.Conn
	id        uint64
	addr      string
	laddr     string
	createdAt time.Time
	rd        *reader
	out       []byte

	lastInteractionNs atomic.Int64
	lastCmd           atomic.Int32 // command index + 1, 0 = none
	// multiQueued is the number of commands queued in MULTI, -1 outside
	// (CLIENT LIST's multi= and flag x, read by other connections).
	multiQueued atomic.Int32

	mu      sync.Mutex
	name    string
	libName string
	libVer  string
	db      int
	proto   int
	noEvict bool
	noTouch bool
	// readInterrupted is set by Shutdown; the owner must not re-arm the
	// read deadline after it.
	readInterrupted bool

	authed    bool
	replyMode int
	quit      bool

	// The current run of keyspace commands, sent as one Backend call.
	run         []kvsm.Command
	runSuppress []bool
	runFast     []bool // Redis's fast flag of each run command (LATENCY's event)
	runWrite    bool
	runBytes    int
	// runReplies is the reply buffer of read runs (ReaderInto), reused.
	runReplies []kvsm.Reply

	// MULTI state: queued commands own copies of their arguments.
	// multiLocal[i] is the connection command queued at i (nil for a
	// keyspace command); multiDB is the database the queued commands will
	// run in (a queued SELECT changes it for those after it).
	multi         bool
	multiDirty    bool
	multiCmds     []kvsm.Command
	multiLocal    []*command
	multiHasLocal bool
	multiDB       int
	multiWrite    bool
	multiDenyOOM  bool // a queued command is flagged denyoom
	multiBytes    int

	// WATCH: keys (own copies) with the versions WATCH read.
	watched      []kvsm.WatchedKey
	watchedBytes int

	// deadlineSet: a read deadline is armed (skip clearing it otherwise).
	deadlineSet bool

	// monitor is set by MONITOR: after the current batch the connection
	// only streams executed commands (monitor.go).
	monitor *monitor

	// tally holds the batch's command counts until flushTally adds them
	// to the server's counters (see commandTally).
	tally commandTally
}

// commandTally counts a batch's commands for INFO (total_commands_processed,
// commandstats) and CLIENT LIST (cmd=). The server's counters are shared
// by every connection: an atomic add per command on lines the other core
// keeps writing is a cache-line transfer per command, so a batch adds its
// counts once, per streak of the same command (a pipeline is usually one
// command repeated). flushTally runs before any connection command (INFO,
// CLIENT LIST, CONFIG RESETSTAT... see the batch's counts so far, as
// before) and at the end of the batch.
type commandTally struct {
	total  uint64
	streak *command // the command of the current streak, nil for none
	calls  uint64   // commands in the streak
}

// countCommand tallies one command of the batch (cmd nil: unknown).
func (c *client) countCommand(cmd *command) {
	t := &c.tally
	t.total++
	if cmd == nil {
		return
	}
	if cmd != t.streak {
		c.flushStreak()
		t.streak = cmd
	}
	t.calls++
}

func (c *client) flushStreak() {
	t := &c.tally
	if t.streak == nil {
		return
	}
	c.srv.calls[t.streak.index].Add(t.calls)
	c.lastCmd.Store(int32(t.streak.index + 1))
	t.streak, t.calls = nil, 0
}

// flushTally adds the batch's counts so far to the server's counters.
func (c *client) flushTally() {
	c.flushStreak()
	if c.tally.total > 0 {
		c.srv.totalCommands.Add(c.tally.total)
		c.tally.total = 0
	}
}

// Bounds of a transaction's queue: EXEC becomes one log entry, which must
// stay well below the peer transport's frame limit (64 MiB by default).
const (
	multiCommandsMax = 10_000
	multiBytesMax    = 32 << 20
)

func newClient(s *Server, nc net.Conn) *client {
	c := &client{
		srv:       s,
		nc:        nc,
		id:        s.nextClientID.Add(1),
		addr:      nc.RemoteAddr().String(),
		laddr:     nc.LocalAddr().String(),
		createdAt: time.Now(),
		rd:        newReader(nc),
		proto:     proto2,
		authed:    *s.requirePass.Load() == "",
	}
	c.lastInteractionNs.Store(c.createdAt.UnixNano())
	c.multiQueued.Store(-1)
	return c
}

// interruptRead wakes the owner from a blocking read (Shutdown).
func (c *client) interruptRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readInterrupted = true
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
}

// armRead sets the idle deadline before a read; false when shutting down.
func (c *client) armRead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readInterrupted {
		return false
	}
	if t := c.srv.idleTimeoutNs.Load(); t > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Duration(t)))
		c.deadlineSet = true
	} else if c.deadlineSet {
		_ = c.nc.SetReadDeadline(time.Time{})
		c.deadlineSet = false
	}
	return true
}

func (c *client) limits() limits {
	return limits{
		bulkBytesMax:  c.srv.bulkBytesMax.Load(),
		queryBytesMax: c.srv.cfg.QueryBytesMax,
		unauth:        !c.authed,
		batchMax:      c.srv.cfg.BatchCommandsMax,
	}
}

// serve is the connection's loop: take every complete command the client
// has sent, execute them as a batch, write every reply with one write.
func (c *client) serve() {
	log := c.srv.log
	for {
		if c.srv.closing.Load() || !c.armRead() {
			return
		}
		reqs, err := c.rd.readBatch(c.limits())
		if err != nil {
			var pe *ProtocolError
			switch {
			case errors.As(err, &pe):
				log.Debug("protocol error", "client", c.addr, "err", pe.Msg)
				c.out = c.out[:0]
				c.replyError("ERR " + pe.Error())
				_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.nc.Write(c.out)
			case errors.Is(err, errQueryBufferLimit):
				log.Warn("closing client over query buffer limit", "client", c.addr)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.srv.closing.Load():
			default:
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					log.Debug("closing idle client", "client", c.addr)
				} else {
					log.Debug("read", "client", c.addr, "err", err)
				}
			}
			return
		}
		c.lastInteractionNs.Store(time.Now().UnixNano())
		c.out = c.out[:0]
		c.execBatch(reqs)
		if len(c.out) > 0 {
			if _, err := c.nc.Write(c.out); err != nil {
				log.Debug("write", "client", c.addr, "err", err)
				return
			}
		}
		if cap(c.out) > outBufBytesRetainMax {
			c.out = nil
		}
		if c.quit {
			return
		}
		if c.monitor != nil {
			c.streamMonitor()
			return
		}
	}
}

// execBatch executes a pipeline in order. Consecutive keyspace commands
// form a run that goes to the Backend as one call (a Read if all are
// read-only, else a Write carrying them all in order); any other command
// first sends the pending run, so replies stay in request order.
func (c *client) execBatch(reqs []request) {
	s := c.srv
	for i := range reqs {
		if c.quit {
			break
		}
		args := reqs[i].args
		suppress := c.replyMode != replyOn
		if c.replyMode == replySkip {
			c.replyMode = replyOn
		}
		cmd := s.lookup(args[0])
		c.countCommand(cmd)
		// Fast path: a keyspace command outside MULTI joins the run.
		if cmd != nil && cmd.keyspace && !c.multi && c.authed && arityOK(cmd.spec.arity, len(args)) {
			if cmd.denyOOM && c.refusedOOM() {
				c.flushRun() // the replies before this one go first
				if !suppress {
					c.replyError(OOMErrorText)
				}
				continue
			}
			size := argsBytes(args)
			if len(c.run) > 0 && c.runBytes+size > s.cfg.RunBytesMax {
				// Keep each log entry small: a pipeline is not atomic, so
				// splitting it changes nothing but the number of entries.
				c.flushRun()
			}
			c.runBytes += size
			s.monitors.feed(c, c.db, args)
			c.run = append(c.run, kvsm.Command{DB: c.db, Args: args})
			c.runSuppress = append(c.runSuppress, suppress)
			c.runFast = append(c.runFast, cmd.fast)
			c.runWrite = c.runWrite || cmd.write
			continue
		}
		c.flushTally()
		c.flushRun()
		mark := len(c.out)
		// Only a command that runs now enters the slow log: not one that
		// is refused (unknown, arity, auth) or queued in MULTI.
		var start time.Time
		timed := s.timing() && cmd != nil && !cmd.skipSlowlog && arityOK(cmd.spec.arity, len(args)) &&
			(c.authed || cmd.noAuth) && (!c.multi || runsInMulti(cmd))
		if timed {
			start = time.Now()
		}
		c.execOne(cmd, args)
		if timed {
			s.observeCommand(c, cmd.fast, args, start, time.Since(start))
		}
		if cmd != nil && arityOK(cmd.spec.arity, len(args)) {
			s.monitors.feed(c, c.db, args)
		}
		if suppress && !c.forceReply(cmd, args) {
			c.out = c.out[:mark]
		}
	}
	c.flushTally()
	c.flushRun()
}

// forceReply: CLIENT REPLY ON answers even though replies were off.
func (c *client) forceReply(cmd *command, args [][]byte) bool {
	return cmd != nil && cmd.spec.name == "client" && c.replyMode == replyOn && len(args) == 3 &&
		equalFold(args[1], "reply") && equalFold(args[2], "on")
}

func arityOK(arity, n int) bool {
	if arity >= 0 {
		return n == arity
	}
	return n >= -arity
}

// execOne answers one command that is not part of a run.
func (c *client) execOne(cmd *command, args [][]byte) {
	if cmd == nil {
		if c.multi {
			c.multiDirty = true
		}
		c.replyError(unknownCommandText(args))
		return
	}
	if !arityOK(cmd.spec.arity, len(args)) {
		if c.multi {
			c.multiDirty = true
		}
		c.replyError("ERR wrong number of arguments for '" + cmd.spec.name + "' command")
		return
	}
	if !c.authed && !cmd.noAuth {
		c.replyError("NOAUTH Authentication required.")
		return
	}
	if c.multi && !runsInMulti(cmd) {
		// As Redis: over maxmemory, queuing anything could grow
		// memory without bound, so every queued command is refused.
		if c.refusedOOM() {
			c.multiDirty = true
			c.replyError(OOMErrorText)
			return
		}
		if !c.queueMulti(cmd, args) {
			c.multiDirty = true
			c.replyError("ERR MULTI queue is full (at most " + itoa(multiCommandsMax) + " commands, " + itoa(multiBytesMax) + " bytes)")
			return
		}
		c.out = append(c.out, "+QUEUED\r\n"...)
		return
	}
	if cmd.keyspace {
		// Unreachable: execBatch's fast path takes every keyspace command
		// that passed the checks above. Kept so a future change cannot
		// call a nil handler.
		c.replyError("ERR internal error: keyspace command not routed")
		return
	}
	cmd.handler(c, args)
}

// runsInMulti says whether cmd runs at once inside MULTI rather than being
// queued.
func runsInMulti(cmd *command) bool {
	switch cmd.spec.name {
	case "exec", "discard", "multi", "quit", "watch", "reset":
		return true
	}
	return false
}

// refusedOOM reports whether a command that may grow memory must be
// refused now (maxmemory reached and nothing can be evicted). When the
// leader's evictor can make room it first sends the pending run, so that
// replies keep their order, and waits for it (bounded).
func (c *client) refusedOOM() bool {
	g := c.srv.memGuard
	if g == nil {
		return false
	}
	switch g.Admission() {
	case kvsm.Admit:
		return false
	case kvsm.RefuseOOM:
		return true
	}
	c.flushRun()
	return !g.WaitForRoom(c.srv.ctx)
}

// flushRun sends the pending run to the Backend and appends its replies.
func (c *client) flushRun() {
	if len(c.run) == 0 {
		return
	}
	var start time.Time
	timed := c.srv.timing()
	if timed {
		start = time.Now()
	}
	replies, err := c.callBackend(c.run, c.runWrite)
	if timed {
		// The run executed as one Backend call (one log entry for a
		// write): each of its commands took that call's time.
		d := time.Since(start)
		for i := range c.run {
			c.srv.observeCommand(c, c.runFast[i], c.run[i].Args, start, d)
		}
	}
	// Errors count in INFO errorstats even when replies are off, as in
	// Redis.
	var errText string
	if err != nil {
		errText = backendErrorText(err, c.runWrite)
	}
	for i := range c.run {
		if err != nil {
			countError(&c.srv.errors, errText)
		} else {
			c.srv.errors.countReply(&replies[i])
		}
		if c.runSuppress[i] {
			continue
		}
		if err != nil {
			c.out = appendError(c.out, errText)
		} else {
			c.out = appendReply(c.out, &replies[i], c.proto)
		}
	}
	// Drop references to the read buffer and to stored values.
	clear(c.run)
	clear(c.runReplies[:min(len(c.run), len(c.runReplies))])
	c.run = c.run[:0]
	c.runSuppress = c.runSuppress[:0]
	c.runFast = c.runFast[:0]
	c.runWrite = false
	c.runBytes = 0
}

func argsBytes(args [][]byte) int {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return n
}

func (c *client) callBackend(cmds []kvsm.Command, write bool) ([]kvsm.Reply, error) {
	var replies []kvsm.Reply
	var err error
	switch {
	case write:
		replies, err = c.srv.backend.Write(c.srv.ctx, cmds)
	case c.srv.readerInto != nil:
		if cap(c.runReplies) < len(cmds) {
			c.runReplies = make([]kvsm.Reply, len(cmds))
		}
		replies = c.runReplies[:len(cmds)]
		if err = c.srv.readerInto.ReadInto(c.srv.ctx, cmds, replies); err != nil {
			replies = nil
		}
	default:
		replies, err = c.srv.backend.Read(c.srv.ctx, cmds)
	}
	if err == nil && len(replies) != len(cmds) {
		err = fmt.Errorf("backend returned %d replies for %d commands", len(replies), len(cmds))
	}
	if err != nil {
		c.srv.log.Debug("backend", "write", write, "commands", len(cmds), "err", err)
	}
	return replies, err
}

// queueMulti copies a command's arguments (they alias the read buffer,
// which the next batch overwrites) into the transaction.
func (c *client) queueMulti(cmd *command, args [][]byte) bool {
	size := argsBytes(args)
	if len(c.multiCmds) >= multiCommandsMax || c.multiBytes+size > multiBytesMax {
		return false
	}
	c.multiBytes += size
	backing := make([]byte, 0, size)
	owned := make([][]byte, len(args))
	for i, a := range args {
		backing = append(backing, a...)
		owned[i] = backing[len(backing)-len(a) : len(backing) : len(backing)]
	}
	c.multiCmds = append(c.multiCmds, kvsm.Command{DB: c.multiDB, Args: owned})
	c.multiQueued.Store(int32(len(c.multiCmds)))
	c.multiDenyOOM = c.multiDenyOOM || cmd.denyOOM
	if cmd.keyspace {
		c.multiLocal = append(c.multiLocal, nil)
		c.multiWrite = c.multiWrite || cmd.write
		return true
	}
	// A connection command runs at EXEC, in its place among the others.
	c.multiLocal = append(c.multiLocal, cmd)
	c.multiHasLocal = true
	if cmd.spec.name == "select" {
		if n, ok := parseInt(args[1]); ok && n >= 0 && n < int64(c.srv.databases) {
			c.multiDB = int(n)
		}
	}
	return true
}

// unknownCommandText is Redis 7's error for an unknown command: the name
// and the first arguments, at most 128 bytes of each, newlines as spaces.
func unknownCommandText(args [][]byte) string {
	const partBytesMax = 128
	b := make([]byte, 0, 96)
	b = append(b, "ERR unknown command '"...)
	b = append(b, cString(args[0][:min(len(args[0]), partBytesMax)])...)
	b = append(b, "', with args beginning with: "...)
	listed := 0
	for _, a := range args[1:] {
		if listed >= partBytesMax {
			break
		}
		// Redis prints each argument with "'%.*s' ", at most the room left
		// of 128 bytes and up to its first NUL, and counts what it printed.
		printed := cString(a[:min(len(a), partBytesMax-listed)])
		b = append(b, '\'')
		b = append(b, printed...)
		b = append(b, '\'', ' ')
		listed += len(printed) + 3
	}
	return string(b)
}

// cString cuts b at its first NUL byte: Redis formats these arguments
// with printf's %s, which stops there.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		ch := b[i]
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}
