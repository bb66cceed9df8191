package consensus

import (
	"errors"
	"fmt"
)

// raftLog is the core's view of the log: the durable prefix read from
// LogStorage, followed by entries the core has accepted but the node loop
// has not yet confirmed durable (unstable, dropped here on stableTo). Of
// the unstable entries, those up to inProgress were already handed out in
// a Ready.Entries (a write is in flight: with Config.AsyncStorageWrites the
// core goes on while the loop's persister syncs them) and are not handed
// out again; the rest go out in the next Ready. A snapshot received from
// the leader but not yet installed by the loop (pendingSnap) hides the
// storage beneath it.
//
// The unstable slice may be aliased by messages already handed out (the
// leader sends MsgApp straight from it), so it is only ever appended to or
// resliced from the front; a truncation copies into a fresh array.
type raftLog struct {
	storage        LogStorage
	unstable       []Entry
	unstableOffset uint64 // index of unstable[0] (or of the next entry)
	// inProgress is the last index handed out in a Ready.Entries and not
	// yet confirmed durable (unstableOffset-1 when none is in flight).
	inProgress  uint64
	pendingSnap *IncomingSnapshot

	committed uint64
	// applying is the last index handed out in Ready.CommittedEntries,
	// applied the last one the loop confirmed with Advance.
	applying, applied uint64
}

func (l *raftLog) firstIndex() uint64 {
	if l.pendingSnap != nil {
		return l.pendingSnap.Meta.Index + 1
	}
	return l.storage.FirstIndex()
}

func (l *raftLog) lastIndex() uint64 {
	if n := len(l.unstable); n > 0 {
		return l.unstable[n-1].Index
	}
	if l.pendingSnap != nil {
		return l.pendingSnap.Meta.Index
	}
	return l.unstableOffset - 1
}

// stableIndex is the last index known durable and part of this log.
func (l *raftLog) stableIndex() uint64 { return l.unstableOffset - 1 }

// hasUnsent reports whether unstable entries wait to be handed out.
func (l *raftLog) hasUnsent() bool {
	return l.inProgress+1 < l.unstableOffset+uint64(len(l.unstable))
}

// nextUnsent returns the unstable entries not yet handed out and marks them
// in progress. The slice's capacity is its length: the caller cannot
// append into the core's array.
func (l *raftLog) nextUnsent() []Entry {
	if !l.hasUnsent() {
		return nil
	}
	u := l.unstable[l.inProgress+1-l.unstableOffset:]
	l.inProgress = l.lastIndex()
	return u[:len(u):len(u)]
}

// term returns the term of the entry at i (for firstIndex-1, the snapshot's
// term), ErrCompacted or ErrUnavailable.
func (l *raftLog) term(i uint64) (uint64, error) {
	if i >= l.unstableOffset {
		if k := i - l.unstableOffset; k < uint64(len(l.unstable)) {
			return l.unstable[k].Term, nil
		}
		return 0, fmt.Errorf("term of %d (last %d): %w", i, l.lastIndex(), ErrUnavailable)
	}
	if ps := l.pendingSnap; ps != nil {
		if i == ps.Meta.Index {
			return ps.Meta.Term, nil
		}
		return 0, fmt.Errorf("term of %d (snapshot at %d): %w", i, ps.Meta.Index, ErrCompacted)
	}
	return l.storage.Term(i)
}

func (l *raftLog) lastTerm() uint64 {
	t, _ := l.term(l.lastIndex())
	return t
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	got, err := l.term(i)
	return err == nil && got == t
}

// isUpToDate reports whether a log ending at (lastIndex, lastTerm) is at
// least as up to date as ours (Raft §5.4.1).
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	ourTerm := l.lastTerm()
	return lastTerm > ourTerm || (lastTerm == ourTerm && lastIndex >= l.lastIndex())
}

// entries returns entries [lo, hi) limited to maxBytes of Data (at least one
// entry). The result may alias internal arrays: callers must not modify it.
func (l *raftLog) entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	if first := l.firstIndex(); lo < first {
		return nil, fmt.Errorf("entries from %d (first %d): %w", lo, first, ErrCompacted)
	}
	if last := l.lastIndex(); hi > last+1 {
		return nil, fmt.Errorf("entries to %d (last %d): %w", hi-1, last, ErrUnavailable)
	}
	var stored []Entry
	var storedBytes uint64
	if lo < l.unstableOffset {
		storedHi := min(hi, l.unstableOffset)
		var err error
		stored, err = l.storage.Entries(lo, storedHi, int(min(maxBytes, 1<<62)))
		if err != nil {
			return nil, fmt.Errorf("entries [%d,%d) from storage: %w", lo, storedHi, err)
		}
		if uint64(len(stored)) < storedHi-lo || storedHi == hi {
			return stored, nil
		}
		storedBytes = entriesBytes(stored)
	}
	from := max(lo, l.unstableOffset) - l.unstableOffset
	u := l.unstable[from : hi-l.unstableOffset]
	n := limitBytes(u, storedBytes, maxBytes, len(stored) == 0)
	if len(stored) == 0 {
		return u[:n:n], nil
	}
	out := make([]Entry, 0, len(stored)+n)
	out = append(out, stored...)
	return append(out, u[:n]...), nil
}

// limitBytes returns how many of ents fit in maxBytes (0: no limit) after
// used bytes; at least one when atLeastOne.
func limitBytes(ents []Entry, used, maxBytes uint64, atLeastOne bool) int {
	if maxBytes == 0 {
		return len(ents)
	}
	for i := range ents {
		used += uint64(len(ents[i].Data))
		if used > maxBytes && (i > 0 || !atLeastOne) {
			return i
		}
	}
	return len(ents)
}

func entriesBytes(ents []Entry) uint64 {
	var n uint64
	for i := range ents {
		n += uint64(len(ents[i].Data))
	}
	return n
}

// findConflict returns the index of the first entry of ents that is not in
// the log (a term mismatch, or past the end), or 0 when all are present.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	last := l.lastIndex()
	for i := range ents {
		if ents[i].Index > last || !l.matchTerm(ents[i].Index, ents[i].Term) {
			return ents[i].Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index at most index whose term is
// at most term, and that term: the best guess for where two logs may match
// (thesis §5.3 fast back-off). Compacted entries stop the search.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// append adds ents (contiguous, starting at most at lastIndex+1) to the
// unstable log, replacing any suffix they overlap.
func (l *raftLog) append(ents []Entry) {
	if len(ents) == 0 {
		return
	}
	after := ents[0].Index - 1
	switch {
	case after == l.unstableOffset+uint64(len(l.unstable))-1:
		l.unstable = append(l.unstable, ents...)
	case after < l.unstableOffset:
		// Replaces durable entries too: the loop's Append overwrites them.
		l.unstableOffset = after + 1
		l.unstable = append([]Entry(nil), ents...)
	default:
		keep := l.unstable[:after+1-l.unstableOffset]
		fresh := make([]Entry, 0, len(keep)+len(ents))
		fresh = append(fresh, keep...)
		l.unstable = append(fresh, ents...)
	}
	// A write in flight for the replaced suffix no longer stands for this
	// log: the new entries go out in the next Ready, and the loop's write
	// of them (ordered after the one in flight) overwrites it.
	l.inProgress = min(l.inProgress, after)
	l.inProgress = max(l.inProgress, l.unstableOffset-1)
}

// stableTo drops the unstable entries up to (i, t): the loop made them
// durable. It reports false when the log changed meanwhile.
func (l *raftLog) stableTo(i, t uint64) bool {
	if i < l.unstableOffset {
		return false
	}
	k := i - l.unstableOffset
	if k >= uint64(len(l.unstable)) || l.unstable[k].Term != t {
		return false
	}
	l.unstable = l.unstable[k+1:]
	l.unstableOffset = i + 1
	l.inProgress = max(l.inProgress, i)
	if len(l.unstable) == 0 {
		// Let the old array go (messages may still hold parts of it).
		l.unstable = nil
	}
	return true
}

func (l *raftLog) commitTo(i uint64) {
	if i > l.committed {
		l.committed = i
	}
}

// hasNextCommitted reports whether committed entries wait to be handed out.
func (l *raftLog) hasNextCommitted() bool {
	return l.pendingSnap == nil && l.committed > max(l.applying, l.firstIndex()-1)
}

// nextCommitted returns the committed entries not yet handed out, up to
// maxBytes (at least one).
func (l *raftLog) nextCommitted(maxBytes uint64) ([]Entry, error) {
	if !l.hasNextCommitted() {
		return nil, nil
	}
	lo := max(l.applying, l.firstIndex()-1) + 1
	return l.entries(lo, l.committed+1, maxBytes)
}

// restore resets the log to start after a snapshot received from the
// leader; the loop installs it (Ready.Snapshot) before Advance.
func (l *raftLog) restore(snap *IncomingSnapshot) {
	l.pendingSnap = snap
	l.unstable = nil
	l.unstableOffset = snap.Meta.Index + 1
	l.inProgress = snap.Meta.Index
	l.committed = snap.Meta.Index
}

// snapshotInstalled is the loop's confirmation that it restored snap.
func (l *raftLog) snapshotInstalled(meta SnapshotMeta) {
	if l.pendingSnap != nil && l.pendingSnap.Meta.Index == meta.Index {
		l.pendingSnap = nil
	}
	l.applied = max(l.applied, meta.Index)
	l.applying = max(l.applying, meta.Index)
}

// errLogCorrupt is wrapped when the log contradicts itself.
var errLogCorrupt = errors.New("consensus: log inconsistent")
