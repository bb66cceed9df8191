package sim

import (
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/consensus"
)

// ErrViolation marks a broken safety or liveness property; the message names
// the property, the nodes and the indexes involved.
var ErrViolation = errors.New("sim: property violated")

func violation(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrViolation, fmt.Sprintf(format, args...))
}

// logEntryInfo is what the checker remembers of one entry of one node's log:
// its term and a hash over the entry and every entry before it. Equal chain
// hashes at an index mean equal logs up to that index, which turns the Log
// Matching property into one comparison per entry instead of a walk.
type logEntryInfo struct {
	term   uint64
	chain  uint64
	timeMs int64
}

type entryID struct {
	index, term uint64
}

// committedInfo is the entry known committed at an index, and the lowest
// term in which any node was seen to know it committed (an upper bound on
// the term in which it was committed: Leader Completeness holds for leaders
// of later terms).
type committedInfo struct {
	term       uint64
	chain      uint64
	commitTerm uint64
	timeMs     int64
}

// checker holds Raft's safety properties (Raft paper, Figure 3) over a whole
// run; the simulator reports every relevant event to it as it happens, so a
// violation is caught at the step that causes it.
type checker struct {
	// leaders maps each term to the node that led it (Election Safety).
	leaders map[uint64]consensus.NodeID
	// chains maps every (index, term) ever written anywhere to its chain
	// hash (Log Matching, across nodes and across time).
	chains map[entryID]uint64
	// logs[id] mirrors node id's written log; logs[id][0] is unused.
	logs [][]logEntryInfo
	// committed[i] is the entry committed at index i (zero: none known).
	committed []committedInfo
	// skipStamps turns off the monotonic TimeMs check.
	skipStamps bool
}

func newChecker(nodes int, skipStamps bool) *checker {
	logs := make([][]logEntryInfo, nodes+1)
	for i := range logs {
		logs[i] = make([]logEntryInfo, 1, 64)
	}
	return &checker{
		leaders:    map[uint64]consensus.NodeID{},
		chains:     map[entryID]uint64{},
		logs:       logs,
		committed:  make([]committedInfo, 1, 64),
		skipStamps: skipStamps,
	}
}

// entryHash folds one entry into the chain hash of its predecessor: a
// multiply-xorshift step per field and FNV-1a over the data, inlined so that
// hashing allocates nothing. TimeMs is left out: it is the leader's stamp,
// replicated as is, and adds nothing to identity.
func entryHash(prev uint64, e *consensus.Entry) uint64 {
	const prime = 0x100000001b3
	const mul = 0x9e3779b97f4a7c15
	h := prev ^ 0xcbf29ce484222325
	mix := func(v uint64) {
		h = (h ^ v) * mul
		h ^= h >> 29
	}
	mix(e.Term)
	mix(e.Index)
	mix(uint64(e.Type)<<32 | uint64(len(e.Data)))
	for _, b := range e.Data {
		h ^= uint64(b)
		h *= prime
	}
	return h
}

// resetLog forgets node id's log (a crash); restore rebuilds it from the
// durable entries through appendEntries.
func (c *checker) resetLog(id consensus.NodeID) {
	c.logs[id] = c.logs[id][:1]
}

// appendEntries records entries written to node id's log. The first entry
// may replace a suffix, never leave a gap.
func (c *checker) appendEntries(id consensus.NodeID, entries []consensus.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	log := c.logs[id]
	first := entries[0].Index
	if first == 0 || first > uint64(len(log)) {
		return violation("log of n%d: entries start at index %d but the log ends at %d (gap)", id, first, len(log)-1)
	}
	// A node may hold a stale entry where another was committed (it
	// missed the commit); what it must never do is drop or replace an
	// entry that is the committed one.
	old := log
	holdsCommitted := func(i uint64) bool {
		return i < uint64(len(old)) && i < uint64(len(c.committed)) &&
			c.committed[i].term != 0 && old[i].chain == c.committed[i].chain
	}
	end := first + uint64(len(entries))
	for i := end; i < uint64(len(old)); i++ {
		if holdsCommitted(i) {
			return violation("state machine safety: n%d truncates committed index %d (term %d) when writing %d..%d",
				id, i, c.committed[i].term, first, end-1)
		}
	}
	var replaced []logEntryInfo
	if first < uint64(len(old)) {
		// Keep what is about to be overwritten, to compare with.
		replaced = append(replaced, old[first:min(end, uint64(len(old)))]...)
	}
	log = log[:first]
	for k := range entries {
		e := &entries[k]
		if e.Index != first+uint64(k) {
			return violation("log of n%d: entry %d of a batch starting at %d has index %d", id, k, first, e.Index)
		}
		if e.Term < log[len(log)-1].term {
			return violation("log of n%d: term goes down at index %d (%d after %d)", id, e.Index, e.Term, log[len(log)-1].term)
		}
		chain := entryHash(log[len(log)-1].chain, e)
		key := entryID{index: e.Index, term: e.Term}
		if prev, ok := c.chains[key]; !ok {
			c.chains[key] = chain
		} else if prev != chain {
			c.logs[id] = log
			return violation("log matching: n%d has an entry at index %d term %d whose content or prefix differs from another log's entry at the same index and term", id, e.Index, e.Term)
		}
		if k < len(replaced) && e.Index < uint64(len(c.committed)) {
			if ci := c.committed[e.Index]; ci.term != 0 && replaced[k].chain == ci.chain && chain != ci.chain {
				c.logs[id] = log
				return violation("state machine safety: n%d overwrites committed index %d (term %d) with an entry of term %d",
					id, e.Index, ci.term, e.Term)
			}
		}
		if prev := log[len(log)-1]; !c.skipStamps && e.Index > 1 && e.TimeMs < prev.timeMs {
			c.logs[id] = log
			return violation("entry stamps: n%d's entry %d (term %d) is stamped %d ms, before entry %d's %d ms; expiry would run backwards",
				id, e.Index, e.Term, e.TimeMs, e.Index-1, prev.timeMs)
		}
		log = append(log, logEntryInfo{term: e.Term, chain: chain, timeMs: e.TimeMs})
	}
	c.logs[id] = log
	return nil
}

// installSnapshot replaces node id's log with a snapshot through index:
// entries it covers are the committed ones, so the mirror takes them from
// the committed record, and the rest of the log is gone.
func (c *checker) installSnapshot(id consensus.NodeID, index, term uint64) error {
	if index >= uint64(len(c.committed)) {
		return violation("n%d installs a snapshot through index %d, but only %d entries are known committed", id, index, len(c.committed)-1)
	}
	log := c.logs[id][:1]
	for i := uint64(1); i <= index; i++ {
		ci := c.committed[i]
		if ci.term == 0 {
			return violation("n%d installs a snapshot through index %d, which covers index %d that no node applied", id, index, i)
		}
		log = append(log, logEntryInfo{term: ci.term, chain: ci.chain, timeMs: ci.timeMs})
	}
	if log[index].term != term {
		return violation("n%d installs a snapshot of index %d term %d, but the entry committed there has term %d", id, index, term, log[index].term)
	}
	c.logs[id] = log
	return nil
}

// leaderMessage checks Election Safety from the wire: only the leader of a
// term sends AppendEntries, heartbeats, snapshots and TimeoutNow in it. This
// sees a leadership that began and ended between two Readies, which the
// SoftState never shows.
func (c *checker) leaderMessage(m *consensus.Message) error {
	switch m.Type {
	case consensus.MsgApp, consensus.MsgHeartbeat, consensus.MsgSnap, consensus.MsgTimeoutNow:
	default:
		return nil
	}
	if other, ok := c.leaders[m.Term]; ok && other != m.From {
		return violation("election safety: n%d sends %s in term %d, which n%d leads", m.From, m.Type, m.Term, other)
	} else if !ok {
		c.leaders[m.Term] = m.From
	}
	return nil
}

// becameLeader checks Election Safety and Leader Completeness when node id
// reports leadership of term.
func (c *checker) becameLeader(id consensus.NodeID, term uint64) error {
	if other, ok := c.leaders[term]; ok && other != id {
		return violation("election safety: n%d and n%d both lead term %d", other, id, term)
	}
	c.leaders[term] = id
	log := c.logs[id]
	for i := 1; i < len(c.committed); i++ {
		ci := c.committed[i]
		if ci.term == 0 || ci.commitTerm >= term {
			continue
		}
		if i >= len(log) || log[i].chain != ci.chain {
			have := "nothing"
			if i < len(log) {
				have = fmt.Sprintf("term %d", log[i].term)
			}
			return violation("leader completeness: n%d leads term %d but lacks index %d (term %d, committed by term %d); it has %s",
				id, term, i, ci.term, ci.commitTerm, have)
		}
	}
	return nil
}

// applied records that node id, in term nodeTerm, applied entry e as
// committed. It checks State Machine Safety: nobody applies a different
// entry at an index.
func (c *checker) applied(id consensus.NodeID, nodeTerm uint64, e *consensus.Entry) error {
	log := c.logs[id]
	if e.Index >= uint64(len(log)) || log[e.Index].term != e.Term {
		return violation("n%d applies index %d term %d, which is not in its log", id, e.Index, e.Term)
	}
	chain := log[e.Index].chain
	for uint64(len(c.committed)) <= e.Index {
		c.committed = append(c.committed, committedInfo{})
	}
	ci := &c.committed[e.Index]
	if ci.term == 0 {
		*ci = committedInfo{term: e.Term, chain: chain, commitTerm: nodeTerm, timeMs: e.TimeMs}
		return nil
	}
	if ci.chain != chain {
		return violation("state machine safety: n%d applies index %d term %d but index %d was committed with term %d",
			id, e.Index, e.Term, e.Index, ci.term)
	}
	if nodeTerm < ci.commitTerm {
		ci.commitTerm = nodeTerm
	}
	return nil
}

// committedTerm returns the term of the entry known committed at index (0: none known).
func (c *checker) committedTerm(index uint64) uint64 {
	if index >= uint64(len(c.committed)) {
		return 0
	}
	return c.committed[index].term
}

// logTerm returns the term of node id's entry at index (0: none).
func (c *checker) logTerm(id consensus.NodeID, index uint64) uint64 {
	if index >= uint64(len(c.logs[id])) {
		return 0
	}
	return c.logs[id][index].term
}

func (c *checker) lastIndex(id consensus.NodeID) uint64 {
	return uint64(len(c.logs[id]) - 1)
}
