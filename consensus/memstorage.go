package consensus

import (
	"fmt"
	"slices"
	"sync"
)

// MemoryStorage is an in-memory LogStorage and StateStorage for tests and
// the simulator. It keeps a dummy entry at position 0 that holds the index
// and term of the last compacted entry (the snapshot's), so that
// Term(FirstIndex-1) needs no special case. It copies entries on Append
// and hands out slices that callers must not modify. It is safe for
// concurrent use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	ents      []Entry // ents[0] is the dummy
}

var (
	_ LogStorage   = (*MemoryStorage)(nil)
	_ StateStorage = (*MemoryStorage)(nil)
)

// NewMemoryStorage returns an empty log starting at index 1.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

func (s *MemoryStorage) offset() uint64 { return s.ents[0].Index }
func (s *MemoryStorage) last() uint64   { return s.ents[0].Index + uint64(len(s.ents)) - 1 }

// FirstIndex returns the index of the first entry held.
func (s *MemoryStorage) FirstIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset() + 1
}

// LastIndex returns the index of the last entry (FirstIndex-1 when empty).
func (s *MemoryStorage) LastIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last()
}

// LastTerm returns the term of the last entry.
func (s *MemoryStorage) LastTerm() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ents[len(s.ents)-1].Term
}

// Term returns the term at index, FirstIndex-1 included.
func (s *MemoryStorage) Term(index uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case index < s.offset():
		return 0, fmt.Errorf("memory storage: term of %d (first %d): %w", index, s.offset()+1, ErrCompacted)
	case index > s.last():
		return 0, fmt.Errorf("memory storage: term of %d (last %d): %w", index, s.last(), ErrUnavailable)
	}
	return s.ents[index-s.offset()].Term, nil
}

// Entry returns the entry at index.
func (s *MemoryStorage) Entry(index uint64) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case index <= s.offset():
		return Entry{}, fmt.Errorf("memory storage: entry %d (first %d): %w", index, s.offset()+1, ErrCompacted)
	case index > s.last():
		return Entry{}, fmt.Errorf("memory storage: entry %d (last %d): %w", index, s.last(), ErrUnavailable)
	}
	return s.ents[index-s.offset()], nil
}

// Entries returns [lo, hi) limited to maxBytes of Data (at least one).
func (s *MemoryStorage) Entries(lo, hi uint64, maxBytes int) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case lo <= s.offset():
		return nil, fmt.Errorf("memory storage: entries from %d (first %d): %w", lo, s.offset()+1, ErrCompacted)
	case hi > s.last()+1:
		return nil, fmt.Errorf("memory storage: entries to %d (last %d): %w", hi-1, s.last(), ErrUnavailable)
	case lo >= hi:
		return nil, nil
	}
	ents := s.ents[lo-s.offset() : hi-s.offset()]
	n := len(ents)
	if maxBytes > 0 {
		n = limitBytes(ents, 0, uint64(maxBytes), true)
	}
	return ents[:n:n], nil
}

// Append adds entries, replacing the suffix from entries[0].Index on.
// Entries before FirstIndex are skipped (already compacted).
func (s *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("memory storage: append: index %d follows %d", entries[i].Index, entries[i-1].Index)
		}
	}
	first := entries[0].Index
	if first > s.last()+1 {
		return fmt.Errorf("memory storage: append at %d leaves a gap after %d: %w", first, s.last(), ErrUnavailable)
	}
	if last := entries[len(entries)-1].Index; last <= s.offset() {
		return nil
	}
	if first <= s.offset() {
		entries = entries[s.offset()+1-first:]
		first = s.offset() + 1
	}
	// A fresh array when truncating: slices handed out stay intact.
	keep := s.ents[:first-s.offset()]
	if first <= s.last() {
		keep = slices.Clone(keep)
	}
	s.ents = append(keep, entries...)
	return nil
}

// TruncateSuffix removes entries from index `from` on.
func (s *MemoryStorage) TruncateSuffix(from uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from <= s.offset() {
		return fmt.Errorf("memory storage: truncate suffix from %d (first %d): %w", from, s.offset()+1, ErrCompacted)
	}
	if from > s.last() {
		return nil
	}
	s.ents = slices.Clone(s.ents[:from-s.offset()])
	return nil
}

// TruncatePrefix removes entries up to and including upTo, which becomes the
// dummy with upToTerm. upTo past the last entry empties the log, which then
// starts at upTo+1 (a snapshot install).
func (s *MemoryStorage) TruncatePrefix(upTo, upToTerm uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if upTo <= s.offset() {
		return nil
	}
	// Keep the entries after upTo only if the log holds upTo with upToTerm
	// (LogStorage's contract); otherwise the log disagrees with the
	// snapshot and goes whole.
	var rest []Entry
	if upTo < s.last() && s.ents[upTo-s.offset()].Term == upToTerm {
		rest = s.ents[upTo-s.offset()+1:]
	}
	ents := make([]Entry, 1, 1+len(rest))
	ents[0] = Entry{Index: upTo, Term: upToTerm}
	s.ents = append(ents, rest...)
	return nil
}

// ApplySnapshot resets the log to start after meta.Index, as the loop does
// when it installs a snapshot received from the leader.
func (s *MemoryStorage) ApplySnapshot(meta SnapshotMeta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ents = []Entry{{Index: meta.Index, Term: meta.Term}}
}

// SaveHardState stores hs.
func (s *MemoryStorage) SaveHardState(hs HardState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hardState = hs
	return nil
}

// HardState returns the stored HardState.
func (s *MemoryStorage) HardState() (HardState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hardState, nil
}

// MemorySnapshots is an in-memory SnapshotSource holding the latest
// snapshot. It is safe for concurrent use.
type MemorySnapshots struct {
	mu   sync.Mutex
	meta SnapshotMeta
	data []byte
	ok   bool
}

var _ SnapshotSource = (*MemorySnapshots)(nil)

// Save makes (meta, data) the latest snapshot. data is kept, not copied.
func (s *MemorySnapshots) Save(meta SnapshotMeta, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta, s.data, s.ok = meta, data, true
}

// Latest returns the latest snapshot's metadata.
func (s *MemorySnapshots) Latest() (SnapshotMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta, s.ok
}

// Data returns the latest snapshot's bytes (not a copy).
func (s *MemorySnapshots) Data() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// ReadChunk returns up to maxBytes of snapshot index from offset.
func (s *MemorySnapshots) ReadChunk(index, offset uint64, maxBytes int) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ok || s.meta.Index != index {
		return nil, false, fmt.Errorf("memory snapshots: snapshot %d not held (latest %d): %w", index, s.meta.Index, ErrCompacted)
	}
	if offset > uint64(len(s.data)) {
		return nil, false, fmt.Errorf("memory snapshots: offset %d past the end (%d bytes)", offset, len(s.data))
	}
	end := uint64(len(s.data))
	if maxBytes > 0 && end-offset > uint64(maxBytes) {
		end = offset + uint64(maxBytes)
	}
	return s.data[offset:end:end], end == uint64(len(s.data)), nil
}
