package resp

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/raftkv/raftkv/kvsm"
)

// errorPrefixesMax bounds the distinct error prefixes INFO errorstats
// tracks, as Redis's ERRORSTATS_LIMIT: a backend or client that produced
// endless new prefixes must not grow the table without bound. Errors with
// a prefix past the limit still count in total_error_replies.
const errorPrefixesMax = 128

// errorPrefixBytesMax is how far Redis looks for the space that ends an
// error's prefix; an error without one within it counts as ERR.
const errorPrefixBytesMax = 32

// commonErrorPrefixes are the prefixes raftkv itself sends. They get a
// fixed atomic counter each, so counting them takes no lock; any other
// prefix (a state machine's, say) goes to the bounded map.
var commonErrorPrefixes = [...]string{"ERR", "WRONGTYPE", "OOM", "CLUSTERDOWN", "TRYAGAIN", "TIMEOUT", "MASTERDOWN", "NOAUTH", "WRONGPASS", "EXECABORT", "NOPROTO"}

// errorStats counts error replies by prefix for INFO errorstats and
// total_error_replies, since start or CONFIG RESETSTAT.
type errorStats struct {
	total  atomic.Uint64
	common [len(commonErrorPrefixes)]atomic.Uint64

	mu    sync.Mutex
	other map[string]uint64 // guarded by mu; at most errorPrefixesMax - len(common) keys
}

// errorPrefix is the part of an error text before its first space (within
// errorPrefixBytesMax bytes), "" when there is none (counted as ERR, as
// Redis does).
func errorPrefix[T ~string | ~[]byte](msg T) T {
	if len(msg) > 0 && msg[0] == '-' {
		msg = msg[1:]
	}
	for i := 1; i < min(len(msg), errorPrefixBytesMax); i++ {
		if msg[i] == ' ' {
			return msg[:i]
		}
	}
	return msg[:0]
}

// countError records one error reply whose text (without the leading '-')
// is msg. It takes no lock and does not allocate for a common prefix, and
// allocates only the first time an uncommon one is seen.
func countError[T ~string | ~[]byte](e *errorStats, msg T) {
	e.total.Add(1)
	p := errorPrefix(msg)
	if len(p) == 0 {
		e.common[0].Add(1) // ERR
		return
	}
	for i, c := range commonErrorPrefixes {
		if string(p) == c {
			e.common[i].Add(1)
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, ok := e.other[string(p)]; ok {
		e.other[string(p)] = n + 1
		return
	}
	if len(e.other) >= errorPrefixesMax-len(commonErrorPrefixes) {
		return
	}
	if e.other == nil {
		e.other = make(map[string]uint64)
	}
	e.other[string(p)] = 1
}

// countReply counts the errors of a state-machine reply, nested ones
// included (EXEC's array holds one reply per queued command, as Redis
// counts each of them). Depth is bounded as in appendReplyDepth.
func (e *errorStats) countReply(r *kvsm.Reply) {
	e.countReplyDepth(r, 0)
}

func (e *errorStats) countReplyDepth(r *kvsm.Reply, depth int) {
	switch {
	case r.Kind == kvsm.ReplyError:
		countError(e, r.Str)
	case depth > replyDepthMax:
		countError(e, "ERR reply nested too deeply")
	default:
		for i := range r.Elems {
			e.countReplyDepth(&r.Elems[i], depth+1)
		}
	}
}

func (e *errorStats) reset() {
	e.total.Store(0)
	for i := range e.common {
		e.common[i].Store(0)
	}
	e.mu.Lock()
	clear(e.other)
	e.mu.Unlock()
}

// appendInfo writes INFO's "# Errorstats" section: one line per prefix
// seen, sorted by prefix as Redis's radix tree lists them.
func (e *errorStats) appendInfo(b []byte) []byte {
	type stat struct {
		prefix string
		n      uint64
	}
	var stats []stat
	for i := range e.common {
		if n := e.common[i].Load(); n > 0 {
			stats = append(stats, stat{commonErrorPrefixes[i], n})
		}
	}
	e.mu.Lock()
	for p, n := range e.other {
		stats = append(stats, stat{p, n})
	}
	e.mu.Unlock()
	slices.SortFunc(stats, func(a, b stat) int { return strings.Compare(a.prefix, b.prefix) })
	b = append(b, "# Errorstats\r\n"...)
	for _, s := range stats {
		b = append(b, "errorstat_"...)
		b = append(b, s.prefix...)
		b = append(b, ":count="...)
		b = strconv.AppendUint(b, s.n, 10)
		b = append(b, '\r', '\n')
	}
	return b
}

// replyError appends an error reply to the connection's output and counts
// it in INFO errorstats.
func (c *client) replyError(msg string) {
	c.out = appendError(c.out, msg)
	countError(&c.srv.errors, msg)
}
