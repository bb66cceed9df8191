package consensus

import (
	"bytes"
	"fmt"
	"io"
)

// SnapshotSpool keeps a snapshot arriving from the leader (the loop's side
// of Ready.SnapshotChunks) until it is complete, then makes it durable. The
// node loop calls it from its own goroutine only.
type SnapshotSpool interface {
	// WriteSnapshotChunk appends c to the spool. A chunk at offset 0
	// starts a new spool and discards any partial one; any other chunk
	// continues the spool of the same snapshot exactly where it ends.
	WriteSnapshotChunk(c SnapshotChunk) error
	// CommitSnapshot makes the complete spool for meta durable and visible
	// as a local snapshot (a restart starts from it) and returns a reader
	// of its body, for the state machine's Restore; the caller closes it.
	CommitSnapshot(meta SnapshotMeta) (io.ReadCloser, error)
}

// memorySpool is the spool of a node configured without one (tests): the
// body in memory, nothing durable.
type memorySpool struct {
	meta SnapshotMeta
	body []byte
}

func (s *memorySpool) WriteSnapshotChunk(c SnapshotChunk) error {
	if c.Offset == 0 {
		s.meta, s.body = c.Meta, s.body[:0]
	}
	if !sameSnapshot(s.meta, c.Meta) || c.Offset != uint64(len(s.body)) {
		return fmt.Errorf("consensus: chunk of snapshot %d/%d at %d does not continue the spool of %d/%d (%d bytes)",
			c.Meta.Index, c.Meta.Term, c.Offset, s.meta.Index, s.meta.Term, len(s.body))
	}
	s.body = append(s.body, c.Data...)
	return nil
}

func (s *memorySpool) CommitSnapshot(meta SnapshotMeta) (io.ReadCloser, error) {
	if !sameSnapshot(s.meta, meta) {
		return nil, fmt.Errorf("consensus: commit of snapshot %d/%d, the spool holds %d/%d", meta.Index, meta.Term, s.meta.Index, s.meta.Term)
	}
	body := s.body
	s.body = nil // the next snapshot gets its own array: the applier reads this one
	return io.NopCloser(bytes.NewReader(body)), nil
}

func sameSnapshot(a, b SnapshotMeta) bool { return a.Index == b.Index && a.Term == b.Term }
