package kvsm

import (
	"context"
	"fmt"

	"github.com/tidwall/btree"
)

// Compaction rebuilds the key trees with their nodes packed (see doc.go,
// "Key tree compaction"). It is made in three steps so that the applier
// only pays O(databases): StartCompaction and FinishCompaction on the
// applier goroutine, Build in between on any goroutine.
type Compaction struct {
	applied uint64
	src     []*btree.BTreeG[item] // the live trees at the start (identity check)
	frozen  []*btree.BTreeG[item] // copy-on-write views of them, read by Build
	built   []*btree.BTreeG[item] // nil where a database was empty
}

// StartCompaction takes a copy-on-write view of every key tree, as
// Snapshot does. Applier goroutine only.
func (s *Store) StartCompaction() *Compaction {
	c := &Compaction{
		applied: s.applied.Load(),
		src:     make([]*btree.BTreeG[item], len(s.dbs)),
		frozen:  make([]*btree.BTreeG[item], len(s.dbs)),
		built:   make([]*btree.BTreeG[item], len(s.dbs)),
	}
	// Copy marks the tree's nodes shared, which shared readers must not
	// overlap (as in Snapshot).
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range s.dbs {
		c.src[i] = d.keys
		if d.keys.Len() > 0 {
			c.frozen[i] = d.keys.Copy()
		}
	}
	return c
}

// Build makes the packed trees; it costs O(keys) and allocates about the
// packed size of the trees twice over, transiently. Any goroutine, once.
func (c *Compaction) Build(ctx context.Context) error {
	for i, frozen := range c.frozen {
		if frozen == nil {
			continue
		}
		loaded := newKeyTree()
		frozen.Scan(func(it item) bool {
			loaded.Load(it) // in order: appends to the last leaf
			return ctx.Err() == nil
		})
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kvsm: compaction: %w", err)
		}
		// A split leaves its left half in the front of the full node's
		// array and the right half in the back, so each array is kept
		// alive, at its appended capacity, by the nodes cut from it. A
		// copy gives every node an array of its own, exactly as long as
		// the node's capacity (the left halves: exactly their length).
		packed := loaded.Copy()
		packed.ScanMut(func(item) bool { return true })
		c.frozen[i], c.built[i] = nil, packed
	}
	return nil
}

// FinishCompaction installs the trees Build made if nothing was applied
// since StartCompaction (every change to a key tree is an applied entry or
// a Restore, which replaces the trees), and reports whether it did; if not,
// the work is dropped. Applier goroutine only.
func (s *Store) FinishCompaction(c *Compaction) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applied.Load() != c.applied || len(s.dbs) != len(c.src) {
		return false
	}
	for i, d := range s.dbs {
		if d.keys != c.src[i] || (c.built[i] == nil && d.keys.Len() > 0) {
			return false
		}
	}
	for i, d := range s.dbs {
		if c.built[i] != nil {
			d.keys = c.built[i]
		}
	}
	return true
}
