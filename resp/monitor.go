package resp

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MONITOR: every command this server executes, as Redis prints it
// ("<unix.micros> [<db> <addr>] "arg" ...), streamed to monitoring
// connections. Each monitor has a bounded queue; one that falls behind by
// monitorQueueMax lines is disconnected, as Redis does with its output
// buffer limit, so a slow monitor never slows the server.

const monitorQueueMax = 4096

// monitor is one monitoring connection's queue.
type monitor struct {
	lines  chan []byte
	closed atomic.Bool // set when the queue overflowed
	once   sync.Once
	gone   chan struct{} // closed on overflow: the owner disconnects
}

// monitors is the server's set of monitoring connections. count lets the
// command path skip all work while nobody monitors.
type monitors struct {
	count atomic.Int32
	mu    sync.Mutex
	set   map[*monitor]struct{}
}

func (ms *monitors) add() *monitor {
	m := &monitor{lines: make(chan []byte, monitorQueueMax), gone: make(chan struct{})}
	ms.mu.Lock()
	if ms.set == nil {
		ms.set = make(map[*monitor]struct{})
	}
	ms.set[m] = struct{}{}
	ms.count.Store(int32(len(ms.set)))
	ms.mu.Unlock()
	return m
}

func (ms *monitors) remove(m *monitor) {
	ms.mu.Lock()
	delete(ms.set, m)
	ms.count.Store(int32(len(ms.set)))
	ms.mu.Unlock()
}

// feed sends one executed command to every monitor. c is the connection
// that ran it, db the database it ran in.
func (ms *monitors) feed(c *client, db int, args [][]byte) {
	if ms.count.Load() == 0 || len(args) == 0 {
		return
	}
	name := args[0]
	if equalFold(name, "monitor") {
		return
	}
	now := time.Now()
	line := make([]byte, 0, 64)
	line = append(line, '+')
	line = strconv.AppendInt(line, now.Unix(), 10)
	line = append(line, '.')
	us := now.Nanosecond() / 1000
	for d := 100000; d > 1 && us < d; d /= 10 {
		line = append(line, '0')
	}
	line = strconv.AppendInt(line, int64(us), 10)
	line = append(line, " ["...)
	line = strconv.AppendInt(line, int64(db), 10)
	line = append(line, ' ')
	line = append(line, c.addr...)
	line = append(line, ']')
	for i, a := range args {
		line = append(line, ' ')
		if i > 0 && redactedArg(name, args, i) {
			line = append(line, `"(redacted)"`...)
			continue
		}
		line = appendRepr(line, a)
	}
	line = append(line, "\r\n"...)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for m := range ms.set {
		select {
		case m.lines <- line:
		default:
			if m.closed.CompareAndSwap(false, true) {
				close(m.gone)
			}
		}
	}
}

// redactedArg hides passwords: every argument of AUTH, and HELLO's AUTH
// username and password.
func redactedArg(name []byte, args [][]byte, i int) bool {
	switch {
	case equalFold(name, "auth"):
		return true
	case equalFold(name, "hello"):
		for j := 2; j+2 < len(args)+1 && j < len(args); j++ {
			if equalFold(args[j], "auth") && (i == j+1 || i == j+2) {
				return true
			}
		}
	}
	return false
}

// appendRepr quotes b as Redis's sdscatrepr does.
func appendRepr(dst, b []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, ch := range b {
		switch ch {
		case '\\', '"':
			dst = append(dst, '\\', ch)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\a':
			dst = append(dst, '\\', 'a')
		case '\b':
			dst = append(dst, '\\', 'b')
		default:
			if ch >= 0x20 && ch < 0x7f {
				dst = append(dst, ch)
			} else {
				dst = append(dst, '\\', 'x', hex[ch>>4], hex[ch&0xf])
			}
		}
	}
	return append(dst, '"')
}

// cmdMonitor turns this connection into a monitor once the current batch
// is answered (serve sees c.monitor and streams from then on).
func (c *client) cmdMonitor(args [][]byte) {
	if c.multi {
		c.replyError("ERR MONITOR isn't allowed in a transaction")
		return
	}
	if c.monitor == nil {
		c.monitor = c.srv.monitors.add()
	}
	c.out = append(c.out, "+OK\r\n"...)
}

// streamMonitor writes monitor lines until the connection closes, the
// queue overflows or the server shuts down. Input from the client is read
// and dropped (Redis ignores commands from a monitor but QUIT/RESET).
func (c *client) streamMonitor() {
	m := c.monitor
	defer c.srv.monitors.remove(m)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 4096)
		for {
			_ = c.nc.SetReadDeadline(time.Time{})
			if _, err := c.nc.Read(buf); err != nil {
				return
			}
		}
	}()
	defer func() {
		_ = c.nc.Close()
		<-readerDone
	}()
	for {
		select {
		case line := <-m.lines:
			_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.nc.Write(line); err != nil {
				return
			}
		case <-m.gone:
			c.srv.log.Warn("closing a monitor that fell behind", "client", c.addr)
			return
		case <-readerDone:
			return
		case <-c.srv.ctx.Done():
			return
		}
	}
}
