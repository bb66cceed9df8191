package resp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// latencySamplesMax is how many per-second samples an event keeps, as
// Redis's LATENCY_TS_LEN.
const latencySamplesMax = 160

// The events raftkv measures, as Redis names them: a command's execution,
// split by its fast flag. Redis's other events (fork, aof-fsync-always,
// expire-cycle...) have no equivalent here or are not measured.
const (
	latencyEventCommand = iota
	latencyEventFastCommand
	latencyEvents
)

var latencyEventNames = [latencyEvents]string{"command", "fast-command"}

type latencySample struct {
	unixSec int64
	ms      int64
}

// latencySeries is one event's history: a ring of per-second samples (the
// largest latency of that second) and the largest ever seen.
type latencySeries struct {
	samples [latencySamplesMax]latencySample
	n       int // samples held
	next    int // where the next second's sample goes
	maxMs   int64
}

// latencyMonitor is LATENCY's data: samples of commands that took at least
// latency-monitor-threshold ms (0 = off, as Redis). thresholdMs is read on
// every command without a lock; series are guarded by mu, taken only for a
// sample and by LATENCY.
type latencyMonitor struct {
	thresholdMs atomic.Int64

	mu     sync.Mutex
	series [latencyEvents]latencySeries
}

// timing reports whether commands must be timed: for SLOWLOG or LATENCY.
func (s *Server) timing() bool { return s.slowlog.timing() || s.latency.on() }

// observeCommand hands a command's execution time to SLOWLOG and LATENCY.
func (s *Server) observeCommand(c *client, fast bool, args [][]byte, start time.Time, d time.Duration) {
	s.slowlog.observe(c, args, start, d)
	s.latency.observe(fast, start, d)
}

func (m *latencyMonitor) on() bool { return m.thresholdMs.Load() > 0 }

// observe records a command's time if it reaches the threshold.
func (m *latencyMonitor) observe(fast bool, start time.Time, d time.Duration) {
	threshold := m.thresholdMs.Load()
	ms := d.Milliseconds()
	if threshold <= 0 || ms < threshold {
		return
	}
	event := latencyEventCommand
	if fast {
		event = latencyEventFastCommand
	}
	now := start.Add(d).Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &m.series[event]
	s.maxMs = max(s.maxMs, ms)
	if s.n > 0 {
		last := &s.samples[(s.next+latencySamplesMax-1)%latencySamplesMax]
		if last.unixSec == now {
			last.ms = max(last.ms, ms)
			return
		}
	}
	s.samples[s.next] = latencySample{unixSec: now, ms: ms}
	s.next = (s.next + 1) % latencySamplesMax
	s.n = min(s.n+1, latencySamplesMax)
}

// history returns a series' samples, oldest first (mu held).
func (s *latencySeries) history() []latencySample {
	out := make([]latencySample, 0, s.n)
	for i := s.n; i > 0; i-- {
		out = append(out, s.samples[(s.next+latencySamplesMax-i)%latencySamplesMax])
	}
	return out
}

func latencyEventIndex(name []byte) int {
	for i, n := range latencyEventNames {
		if equalFold(name, n) {
			return i
		}
	}
	return -1
}

func (c *client) cmdLatency(args [][]byte) {
	m := &c.srv.latency
	sub := args[1]
	switch {
	case equalFold(sub, "latest") && len(args) == 2:
		m.mu.Lock()
		defer m.mu.Unlock()
		n := 0
		for i := range m.series {
			if m.series[i].n > 0 {
				n++
			}
		}
		c.out = redcon.AppendArray(c.out, n)
		for i := range m.series {
			s := &m.series[i]
			if s.n == 0 {
				continue
			}
			last := s.samples[(s.next+latencySamplesMax-1)%latencySamplesMax]
			c.out = redcon.AppendArray(c.out, 4)
			c.out = redcon.AppendBulkString(c.out, latencyEventNames[i])
			c.out = redcon.AppendInt(c.out, last.unixSec)
			c.out = redcon.AppendInt(c.out, last.ms)
			c.out = redcon.AppendInt(c.out, s.maxMs)
		}
	case equalFold(sub, "history") && len(args) == 3:
		i := latencyEventIndex(args[2])
		if i < 0 {
			c.out = redcon.AppendArray(c.out, 0)
			return
		}
		m.mu.Lock()
		samples := m.series[i].history()
		m.mu.Unlock()
		c.out = redcon.AppendArray(c.out, len(samples))
		for _, s := range samples {
			c.out = redcon.AppendArray(c.out, 2)
			c.out = redcon.AppendInt(c.out, s.unixSec)
			c.out = redcon.AppendInt(c.out, s.ms)
		}
	case equalFold(sub, "reset"):
		// Counts the events that had samples, as Redis.
		m.mu.Lock()
		defer m.mu.Unlock()
		reset := 0
		for i := range m.series {
			named := len(args) == 2
			for _, a := range args[2:] {
				named = named || equalFold(a, latencyEventNames[i])
			}
			if named && m.series[i].n > 0 {
				m.series[i] = latencySeries{}
				reset++
			}
		}
		c.out = redcon.AppendInt(c.out, int64(reset))
	case equalFold(sub, "help") && len(args) == 2:
		c.appendHelp("LATENCY", []string{
			"HISTORY <event>",
			"    Return time-latency samples for the <event> class.",
			"LATEST",
			"    Return the latest latency samples for all events.",
			"RESET [<event> ...]",
			"    Reset latency data of one or more <event> classes.",
			"    (default: reset all data for all event classes)",
		})
	default:
		c.subcommandError("latency", sub, "latest", "history", "help")
	}
}
