//go:build !raftkv_unsafe_reads

package server

import (
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
)

// unsafeLocalReads is false in every real build: reads go through ReadIndex.
// The jepsen harness builds with -tags raftkv_unsafe_reads (unsafe_reads.go)
// to check that it catches the stale reads that skipping ReadIndex allows.
const unsafeLocalReads = false

// localReads is empty in the real build: the state machine is the store
// itself and no read bypasses the log.
type localReads struct{}

// wrap returns the state machine the node applies to: the store.
func (*localReads) wrap(store *kvsm.Store) consensus.StateMachine { return store }

// read is never called when unsafeLocalReads is false.
func (*localReads) read(cmds []kvsm.Command) []kvsm.Reply { return nil }
