//go:build raftkv_unsafe_reads

package server

import (
	"io"
	"sync"
	"time"

	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
)

// unsafeLocalReads makes this a deliberately BROKEN build: reads skip
// ReadIndex and answer from whatever this node has applied, so an isolated
// old leader or a lagging follower serves stale values. It exists only so
// that the jepsen harness can prove it detects such a bug
// (TestBrokenBuildIsCaught); never ship a binary built with this tag.
const unsafeLocalReads = true

// localReads serialises local reads with the applier: the store is not safe
// for concurrent use, and the broken build must return stale values, not
// crash on a data race.
type localReads struct {
	mu    sync.Mutex
	store *kvsm.Store
}

// wrap returns the store behind a lock that local reads share.
func (l *localReads) wrap(store *kvsm.Store) consensus.StateMachine {
	l.store = store
	return &lockedStore{l: l}
}

// read executes read-only cmds on the local state, whatever its age.
func (l *localReads) read(cmds []kvsm.Command) []kvsm.Reply {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().UnixMilli()
	replies := make([]kvsm.Reply, len(cmds))
	for i, c := range cmds {
		replies[i] = l.store.Exec(c, now)
	}
	return replies
}

// lockedStore is the store with Apply, Snapshot and Restore under the lock.
type lockedStore struct{ l *localReads }

func (s *lockedStore) Apply(entries []consensus.Entry) []consensus.Result {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.l.store.Apply(entries)
}

func (s *lockedStore) Snapshot() (consensus.SnapshotReader, error) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.l.store.Snapshot()
}

func (s *lockedStore) Restore(r io.Reader) error {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.l.store.Restore(r)
}
