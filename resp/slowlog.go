package resp

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// Redis's bounds on what a slow log entry keeps of a command: at most
// slowlogArgsMax arguments (the last one then says how many more there
// were) and slowlogArgBytesMax bytes of each (then "... (N more bytes)").
const (
	slowlogArgsMax     = 32
	slowlogArgBytesMax = 128
)

// slowlogGetDefault is how many entries SLOWLOG GET returns without count.
const slowlogGetDefault = 10

// slowlogEntry is one command that took at least slowlog-log-slower-than.
// It owns copies of the (truncated) arguments, in buf, which args view: a
// command's arguments alias the connection's read buffer. When the ring is
// full, the oldest entry's args and buf are reused for the new one (under
// the slow log's lock), so that a loaded server, where every command of a
// slow run is logged, does not allocate per command.
type slowlogEntry struct {
	id         uint64
	unixSec    int64
	durationUs int64
	args       [][]byte
	buf        []byte
	clientAddr string
	clientName string
}

// slowlog is a bounded ring of the latest slow commands, newest last.
// slowerThanUs is read on every command without a lock; the rest is
// guarded by mu, which only a slow command, SLOWLOG and CONFIG SET take.
type slowlog struct {
	slowerThanUs atomic.Int64 // < 0: off

	mu      sync.Mutex
	entries []slowlogEntry // ring of at most maxLen entries
	head    int            // index of the oldest entry when len(entries) == maxLen
	maxLen  int
	nextID  uint64
}

// configure applies slowlog-log-slower-than and slowlog-max-len; a
// smaller max drops the oldest entries, as in Redis.
func (l *slowlog) configure(slowerThanUs int64, maxLen int) {
	l.slowerThanUs.Store(slowerThanUs)
	l.mu.Lock()
	defer l.mu.Unlock()
	if maxLen == l.maxLen {
		return
	}
	kept := l.inOrderLocked()
	if len(kept) > maxLen {
		kept = kept[len(kept)-maxLen:]
	}
	l.entries = append(make([]slowlogEntry, 0, min(maxLen, 64)), kept...)
	l.head = 0
	l.maxLen = maxLen
}

// timing reports whether commands must be timed now.
func (l *slowlog) timing() bool { return l.slowerThanUs.Load() >= 0 }

// observe logs a command that ran for d if d reaches the threshold. It
// does not allocate otherwise.
func (l *slowlog) observe(c *client, args [][]byte, start time.Time, d time.Duration) {
	threshold := l.slowerThanUs.Load()
	us := d.Microseconds()
	if threshold < 0 || us < threshold {
		return
	}
	c.mu.Lock()
	name := c.name
	c.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextID
	l.nextID++
	var e *slowlogEntry
	switch {
	case l.maxLen == 0:
		return
	case len(l.entries) < l.maxLen:
		l.entries = append(l.entries, slowlogEntry{})
		e = &l.entries[len(l.entries)-1]
	default:
		e = &l.entries[l.head] // the oldest: its storage is reused
		l.head = (l.head + 1) % l.maxLen
	}
	e.id, e.unixSec, e.durationUs = id, start.Unix(), us
	e.clientAddr, e.clientName = c.addr, name
	e.args, e.buf = appendSlowlogArgs(e.args[:0], e.buf[:0], args)
}

// appendSlowlogArgs copies args as Redis's slow log keeps them, with
// AUTH's and HELLO AUTH's secrets redacted as Redis 7 does: their bytes
// are appended to buf and out views them.
func appendSlowlogArgs(out [][]byte, buf []byte, args [][]byte) ([][]byte, []byte) {
	n := min(len(args), slowlogArgsMax)
	var ends [slowlogArgsMax]int
	for i := range n {
		a := args[i]
		switch {
		case i == slowlogArgsMax-1 && len(args) > slowlogArgsMax:
			buf = append(buf, "... ("...)
			buf = strconv.AppendInt(buf, int64(len(args)-slowlogArgsMax+1), 10)
			buf = append(buf, " more arguments)"...)
		case redacted(args, i):
			buf = append(buf, "(redacted)"...)
		case len(a) > slowlogArgBytesMax:
			buf = append(buf, a[:slowlogArgBytesMax]...)
			buf = append(buf, "... ("...)
			buf = strconv.AppendInt(buf, int64(len(a)-slowlogArgBytesMax), 10)
			buf = append(buf, " more bytes)"...)
		default:
			buf = append(buf, a...)
		}
		ends[i] = len(buf)
	}
	// Views are cut once buf has stopped growing (append may move it).
	from := 0
	for i := range n {
		out = append(out, buf[from:ends[i]:ends[i]])
		from = ends[i]
	}
	return out, buf
}

// redacted says whether args[i] is a secret: every argument of AUTH, and
// the user and password after HELLO's AUTH.
func redacted(args [][]byte, i int) bool {
	switch {
	case i == 0:
		return false
	case equalFold(args[0], "auth"):
		return true
	case equalFold(args[0], "hello"):
		for j := 2; j < i && j < len(args); j++ {
			if equalFold(args[j], "auth") && i <= j+2 {
				return true
			}
		}
	}
	return false
}

// inOrderLocked returns the entries oldest first (a new slice).
func (l *slowlog) inOrderLocked() []slowlogEntry {
	out := make([]slowlogEntry, 0, len(l.entries))
	out = append(out, l.entries[l.head:]...)
	return append(out, l.entries[:l.head]...)
}

func (c *client) cmdSlowlog(args [][]byte) {
	l := &c.srv.slowlog
	sub := args[1]
	switch {
	case equalFold(sub, "get") && len(args) <= 3:
		count := int64(slowlogGetDefault)
		if len(args) == 3 {
			n, ok := parseInt(args[2])
			if !ok || n < -1 {
				c.replyError("ERR count should be greater than or equal to -1")
				return
			}
			count = n
		}
		// Encoded under the lock: a new slow command reuses the oldest
		// entry's storage in place.
		l.mu.Lock()
		defer l.mu.Unlock()
		entries := l.inOrderLocked()
		if count < 0 || count > int64(len(entries)) {
			count = int64(len(entries))
		}
		c.out = redcon.AppendArray(c.out, int(count))
		for i := len(entries) - 1; i >= len(entries)-int(count); i-- {
			e := &entries[i]
			c.out = redcon.AppendArray(c.out, 6)
			c.out = redcon.AppendUint(c.out, e.id)
			c.out = redcon.AppendInt(c.out, e.unixSec)
			c.out = redcon.AppendInt(c.out, e.durationUs)
			c.out = redcon.AppendArray(c.out, len(e.args))
			for _, a := range e.args {
				c.out = redcon.AppendBulk(c.out, a)
			}
			c.out = redcon.AppendBulkString(c.out, e.clientAddr)
			c.out = redcon.AppendBulkString(c.out, e.clientName)
		}
	case equalFold(sub, "get"):
		c.replyError("ERR unknown subcommand or wrong number of arguments for '" + truncate(sub, 128) + "'. Try SLOWLOG HELP.")
	case equalFold(sub, "len") && len(args) == 2:
		l.mu.Lock()
		n := len(l.entries)
		l.mu.Unlock()
		c.out = redcon.AppendInt(c.out, int64(n))
	case equalFold(sub, "reset") && len(args) == 2:
		l.mu.Lock()
		clear(l.entries)
		l.entries, l.head = l.entries[:0], 0
		l.mu.Unlock()
		c.out = append(c.out, "+OK\r\n"...)
	case equalFold(sub, "help") && len(args) == 2:
		c.appendHelp("SLOWLOG", []string{
			"GET [<count>]",
			"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
			"    Entries are made of:",
			"    id, timestamp, time in microseconds, arguments array, client IP and port,",
			"    client name",
			"LEN",
			"    Return the length of the slowlog.",
			"RESET",
			"    Reset the slowlog.",
		})
	default:
		c.subcommandError("slowlog", sub, "get", "len", "reset", "help")
	}
}
