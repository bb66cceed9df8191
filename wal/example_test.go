package wal_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/wal"
)

func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(filepath.Join(dir, "raft"), wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// Persist a Ready: hard state, then the entries (one fsync).
	if err := l.SaveHardState(consensus.HardState{Term: 2, Vote: 1}); err != nil {
		log.Fatal(err)
	}
	err = l.Append([]consensus.Entry{
		{Term: 2, Index: 1, Type: consensus.EntryNoop},
		{Term: 2, Index: 2, Data: []byte("set k v")},
	})
	if err != nil {
		log.Fatal(err)
	}

	// Snapshot the state machine at index 2, then compact the log.
	snaps, err := wal.OpenSnapshots(filepath.Join(dir, "snap"))
	if err != nil {
		log.Fatal(err)
	}
	meta := consensus.SnapshotMeta{Index: 2, Term: 2, ConfState: consensus.ConfState{Voters: []consensus.NodeID{1}}}
	if err := snaps.Save(meta, func(w io.Writer) error {
		_, err := io.Copy(w, strings.NewReader("k=v"))
		return err
	}); err != nil {
		log.Fatal(err)
	}
	if err := l.TruncatePrefix(meta.Index, meta.Term); err != nil {
		log.Fatal(err)
	}
	term, _ := l.Term(l.FirstIndex() - 1)
	latest, _ := snaps.Latest()
	fmt.Println(l.FirstIndex(), l.LastIndex(), term, latest.Index)
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}
	// Output: 3 2 2 2
}
