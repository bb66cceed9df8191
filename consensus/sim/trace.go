package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/raftkv/raftkv/consensus"
)

// eventKind says what a trace event records.
type eventKind uint8

const (
	evSend eventKind = iota
	evDeliver
	evDrop
	evNote // faults, role changes, client outcomes: carries text
)

// traceEvent is one line of the trace. Messages are kept as the few fields
// worth reading rather than as text: formatting thousands of messages per
// seed only to throw them away would dominate the run time.
type traceEvent struct {
	step    int64
	kind    eventKind
	node    consensus.NodeID
	typ     consensus.MessageType
	from    consensus.NodeID
	to      consensus.NodeID
	term    uint64
	index   uint64
	logTerm uint64
	commit  uint64
	entries int
	reject  bool
	context uint64
	verdict sendVerdict
	text    string
}

// tracer keeps the last len(ring) events and, when live is non-nil, writes
// every event to it as it happens (the -trace flag).
type tracer struct {
	ring  []traceEvent
	next  int
	total uint64
	live  io.Writer
}

func newTracer(capacity int, live io.Writer) *tracer {
	if capacity < 1 {
		capacity = 1
	}
	return &tracer{ring: make([]traceEvent, capacity), live: live}
}

func (t *tracer) add(ev traceEvent) {
	t.ring[t.next] = ev
	t.next = (t.next + 1) % len(t.ring)
	t.total++
	if t.live != nil {
		fmt.Fprintln(t.live, ev.String())
	}
}

func (t *tracer) message(step int64, kind eventKind, m *consensus.Message, verdict sendVerdict) {
	node := m.From
	if kind == evDeliver {
		node = m.To
	}
	t.add(traceEvent{
		step: step, kind: kind, node: node, typ: m.Type, from: m.From, to: m.To,
		term: m.Term, index: m.Index, logTerm: m.LogTerm, commit: m.Commit,
		entries: len(m.Entries), reject: m.Reject, context: m.Context, verdict: verdict,
	})
}

func (t *tracer) note(step int64, node consensus.NodeID, format string, args ...any) {
	t.add(traceEvent{step: step, kind: evNote, node: node, text: fmt.Sprintf(format, args...)})
}

// dump returns the kept events, oldest first, one per line.
func (t *tracer) dump() string {
	var b strings.Builder
	n := len(t.ring)
	if t.total < uint64(n) {
		n = int(t.total)
	}
	start := (t.next - n + len(t.ring)) % len(t.ring)
	for i := 0; i < n; i++ {
		b.WriteString(t.ring[(start+i)%len(t.ring)].String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (ev traceEvent) String() string {
	switch ev.kind {
	case evNote:
		return fmt.Sprintf("%6d n%d  %s", ev.step, ev.node, ev.text)
	case evDeliver:
		return fmt.Sprintf("%6d n%d  <- %s", ev.step, ev.node, ev.msgText())
	case evDrop:
		return fmt.Sprintf("%6d n%d  xx %s (receiver down)", ev.step, ev.node, ev.msgText())
	}
	fate := ""
	switch ev.verdict {
	case verdictLost:
		fate = " LOST"
	case verdictCut:
		fate = " CUT"
	case verdictFull:
		fate = " QUEUE-FULL"
	case verdictDuplicated:
		fate = " DUP"
	}
	return fmt.Sprintf("%6d n%d  -> %s%s", ev.step, ev.node, ev.msgText(), fate)
}

func (ev traceEvent) msgText() string {
	s := fmt.Sprintf("%s %d->%d t%d", ev.typ, ev.from, ev.to, ev.term)
	switch ev.typ {
	case consensus.MsgApp:
		s += fmt.Sprintf(" prev=%d/t%d n=%d commit=%d", ev.index, ev.logTerm, ev.entries, ev.commit)
	case consensus.MsgAppResp:
		s += fmt.Sprintf(" idx=%d", ev.index)
	case consensus.MsgVote, consensus.MsgPreVote:
		s += fmt.Sprintf(" last=%d/t%d", ev.index, ev.logTerm)
	case consensus.MsgHeartbeat:
		s += fmt.Sprintf(" commit=%d ctx=%d", ev.commit, ev.context)
	case consensus.MsgHeartbeatResp, consensus.MsgReadIndex:
		s += fmt.Sprintf(" ctx=%d", ev.context)
	case consensus.MsgReadIndexResp, consensus.MsgPropResp:
		s += fmt.Sprintf(" ctx=%d idx=%d", ev.context, ev.index)
	case consensus.MsgProp:
		s += fmt.Sprintf(" ctx=%d n=%d", ev.context, ev.entries)
	}
	if ev.reject {
		s += " REJECT"
	}
	return s
}
