package resp

import (
	"errors"
	"strings"

	"github.com/raftkv/raftkv/kvsm"
	"github.com/tidwall/redcon"
)

// Bounds of a connection's watched keys: they travel in the EXEC entry's
// guard, which must stay small next to the transaction itself.
const (
	watchKeysMax  = 10_000
	watchBytesMax = 1 << 20
)

// cmdWatch reads the watched keys' versions at a linearizable point (any
// node can: the versions are replicated state) and remembers them; EXEC
// sends them in a guard that the state machine checks when it applies the
// transaction, so every replica decides the same. See kvsm/watch.go.
func (c *client) cmdWatch(args [][]byte) {
	if c.multi {
		c.replyError("ERR WATCH inside MULTI is not allowed")
		return
	}
	keys := args[1:]
	size := 0
	for _, k := range keys {
		size += len(k)
	}
	if len(c.watched)+len(keys) > watchKeysMax || c.watchedBytes+size > watchBytesMax {
		c.replyError("ERR too many watched keys (at most " + itoa(watchKeysMax) + " keys, " + itoa(watchBytesMax) + " bytes)")
		return
	}
	replies, err := c.callBackend([]kvsm.Command{kvsm.WatchVersionsCommand(c.db, keys)}, false)
	if err != nil {
		c.replyError(backendErrorText(err, false))
		return
	}
	r := replies[0]
	if r.Kind != kvsm.ReplyArray || len(r.Elems) != len(keys) {
		c.replyError("ERR internal error: unexpected reply to a watch")
		return
	}
	for i, k := range keys {
		if c.isWatched(c.db, k) {
			continue // Redis keeps the first WATCH of a key
		}
		owned := append([]byte(nil), k...)
		c.watched = append(c.watched, kvsm.WatchedKey{DB: c.db, Key: owned, Version: r.Elems[i].Int})
		c.watchedBytes += len(k)
	}
	c.out = append(c.out, "+OK\r\n"...)
}

func (c *client) isWatched(db int, key []byte) bool {
	for _, w := range c.watched {
		if w.DB == db && string(w.Key) == string(key) {
			return true
		}
	}
	return false
}

func (c *client) unwatch() {
	clear(c.watched)
	c.watched = c.watched[:0]
	c.watchedBytes = 0
}

func (c *client) cmdUnwatch(args [][]byte) {
	c.unwatch()
	c.out = append(c.out, "+OK\r\n"...)
}

// cmdReset returns the connection to its state after connect, as Redis's
// RESET: no transaction, no watched keys, database 0, RESP2, replies on,
// no name, and authenticated only if no password is required.
func (c *client) cmdReset(args [][]byte) {
	c.endMulti()
	c.unwatch()
	c.replyMode = replyOn
	c.authed = *c.srv.requirePass.Load() == ""
	c.mu.Lock()
	c.db = 0
	c.proto = proto2
	c.name = ""
	c.noEvict, c.noTouch = false, false
	c.mu.Unlock()
	c.out = append(c.out, "+RESET\r\n"...)
}

// cmdReadOnly and cmdReadWrite are Redis Cluster's replica-read switches.
// Clients configured for replica reads send READONLY on connect; every
// raftkv node serves linearizable reads anyway, so both are accepted.
func (c *client) cmdReadOnly(args [][]byte) { c.out = append(c.out, "+OK\r\n"...) }

// cmdLastSave answers when this node last made a snapshot durable, or the
// server's start time when it has made none: its log is durable as it is
// written, so that is when it last held everything on disk as well.
func (c *client) cmdLastSave(args [][]byte) {
	c.out = redcon.AppendInt(c.out, c.srv.lastSaveUnix(c.srv.backend.Status()))
}

// lastSaveUnix is LASTSAVE's and INFO's rdb_last_save_time.
func (s *Server) lastSaveUnix(st ClusterStatus) int64 {
	if st.LastSaveUnix != 0 {
		return st.LastSaveUnix
	}
	return s.startTime.Unix()
}

// cmdSave snapshots the state machine (a Raft snapshot, then log
// compaction) and answers when it is durable: Redis's SAVE, for a server
// whose "RDB" is its snapshot.
func (c *client) cmdSave(args [][]byte) {
	saver, ok := c.srv.backend.(Saver)
	if !ok {
		c.replyError("ERR SAVE is not supported by this server")
		return
	}
	if err := saver.Save(c.srv.ctx); err != nil {
		if errors.Is(err, ErrSaveInProgress) {
			c.replyError("ERR " + ErrSaveInProgress.Error())
			return
		}
		c.replyError("ERR " + err.Error())
		return
	}
	c.out = append(c.out, "+OK\r\n"...)
}

// cmdBgSave starts a snapshot in the background. BGSAVE SCHEDULE is
// accepted and behaves as BGSAVE (there is no child process to wait for).
func (c *client) cmdBgSave(args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !strings.EqualFold(string(args[1]), "schedule")) {
		c.replyError("ERR syntax error")
		return
	}
	saver, ok := c.srv.backend.(Saver)
	if !ok {
		c.replyError("ERR BGSAVE is not supported by this server")
		return
	}
	if err := saver.BackgroundSave(); err != nil {
		c.replyError("ERR " + err.Error())
		return
	}
	if len(args) == 2 {
		c.out = append(c.out, "+Background saving scheduled\r\n"...)
		return
	}
	c.out = append(c.out, "+Background saving started\r\n"...)
}

// cmdWait answers at once with the number of replicas known to hold every
// committed write, which includes every write this client was acknowledged:
// on the leader, the voters whose match index has reached the commit
// index; elsewhere a majority minus this node (what commit guarantees).
// It never blocks, so a client asking for more replicas than that gets the
// smaller number right away rather than after its timeout.
func (c *client) cmdWait(args [][]byte) {
	if _, ok := parseInt(args[1]); !ok {
		c.replyError(errTextNotInteger)
		return
	}
	timeout, ok := parseInt(args[2])
	if !ok {
		c.replyError("ERR timeout is not an integer or out of range")
		return
	}
	if timeout < 0 {
		c.replyError("ERR timeout is negative")
		return
	}
	c.out = redcon.AppendInt(c.out, int64(replicasHoldingCommitted(c.srv.backend.Status())))
}

func replicasHoldingCommitted(st ClusterStatus) int {
	voters := 1
	for _, p := range st.Peers {
		if p.Voter {
			voters++
		}
	}
	if !st.IsLeader() {
		return voters / 2
	}
	n := 0
	for _, p := range st.Peers {
		if p.Voter && p.MatchIndex >= st.CommitIndex {
			n++
		}
	}
	return max(n, voters/2)
}

// boolDigit is INFO's 0/1.
func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
