package kvsm

import (
	"bytes"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// applyTx applies a watched transaction (guard + cmds) as one entry and
// returns the guard's reply and the others.
func (ts *testStore) applyTx(watched []WatchedKey, cmds ...string) (Reply, []Reply) {
	ts.t.Helper()
	batch := []Command{WatchGuardCommand(len(cmds), watched)}
	for _, c := range cmds {
		batch = append(batch, Command{Args: splitArgs(c)})
	}
	ts.index++
	res := ts.s.Apply([]consensus.Entry{{Term: 1, Index: ts.index, TimeMs: ts.nowMs, Data: AppendBatch(nil, batch)}})
	replies := res[0].([]Reply)
	return replies[0], replies[1:]
}

// versions reads keys' versions on the read path, as WATCH does.
func (ts *testStore) versions(db int, keys ...string) []WatchedKey {
	ts.t.Helper()
	var bs [][]byte
	for _, k := range keys {
		bs = append(bs, []byte(k))
	}
	r := ts.s.Exec(WatchVersionsCommand(db, bs), ts.nowMs)
	if r.Kind != ReplyArray || len(r.Elems) != len(keys) {
		ts.t.Fatalf("watchversions reply %s", fmtReply(r, false))
	}
	out := make([]WatchedKey, len(keys))
	for i := range keys {
		out[i] = WatchedKey{DB: db, Key: bs[i], Version: r.Elems[i].Int}
	}
	return out
}

func TestWatchGuard(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string // before WATCH
		watch   []string
		between []string // after WATCH, before EXEC (other clients)
		pass    bool
	}{
		{"untouched", []string{"SET k v"}, []string{"k"}, []string{"SET other v"}, true},
		{"missing and still missing", nil, []string{"k"}, []string{"SET other v"}, true},
		{"overwritten with the same value", []string{"SET k v"}, []string{"k"}, []string{"SET k v"}, false},
		{"created", nil, []string{"k"}, []string{"SET k v"}, false},
		{"deleted", []string{"SET k v"}, []string{"k"}, []string{"DEL k"}, false},
		{"deleted and recreated", []string{"SET k v"}, []string{"k"}, []string{"DEL k", "SET k v"}, false},
		{"expire set", []string{"SET k v"}, []string{"k"}, []string{"EXPIRE k 100"}, false},
		{"hash field changed in place", []string{"HSET h f 1"}, []string{"h"}, []string{"HINCRBY h f 1"}, false},
		{"flushed", []string{"SET k v"}, []string{"k"}, []string{"FLUSHALL"}, false},
		{"flushed but was missing", nil, []string{"k"}, []string{"FLUSHALL"}, true},
		{"swapped away", []string{"SET k v"}, []string{"k"}, []string{"SWAPDB 0 1"}, false},
		{"one of two changed", []string{"SET a 1", "SET b 1"}, []string{"a", "b"}, []string{"INCR b"}, false},
		{"hdel of a missing field changes nothing", []string{"HSET h f 1"}, []string{"h"}, []string{"HDEL h nofield"}, true},
		{"hdel of a field", []string{"HSET h f 1 g 2"}, []string{"h"}, []string{"HDEL h f"}, false},
		{"hsetnx on an existing field changes nothing", []string{"HSET h f 1"}, []string{"h"}, []string{"HSETNX h f 2"}, true},
		{"failed hincrby changes nothing", []string{"HSET h f x"}, []string{"h"}, []string{"HINCRBY h f 1"}, true},
		{"read only in between", []string{"SET k v"}, []string{"k"}, []string{"GET k", "GETRANGE k 0 1"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestStore(t)
			for _, c := range tc.setup {
				ts.do(c)
			}
			watched := ts.versions(0, tc.watch...)
			for _, c := range tc.between {
				ts.do(c)
			}
			guard, replies := ts.applyTx(watched, "SET k mine", "INCR counter")
			if GuardPassed(guard) != tc.pass {
				t.Fatalf("guard %s, want passed=%v", fmtReply(guard, false), tc.pass)
			}
			got := ts.s.Exec(Command{Args: splitArgs("GET counter")}, ts.nowMs)
			if tc.pass {
				if fmtReply(replies[0], false) != "+OK" || fmtReply(got, false) != "$1" {
					t.Fatalf("transaction did not run: %s, counter %s", fmtReply(replies[0], false), fmtReply(got, false))
				}
			} else if got.Kind != ReplyNil || replies[0].Kind != ReplyNil {
				t.Fatalf("transaction ran after a failed guard: %s, counter %s", fmtReply(replies[0], false), fmtReply(got, false))
			}
		})
	}
}

// TestWatchGuardSkipsOnlyItsCommands: commands after the guarded ones in
// the same entry still run, and a malformed guard fails safe.
func TestWatchGuardSkipsOnlyItsCommands(t *testing.T) {
	ts := newTestStore(t)
	ts.do("SET k v")
	watched := ts.versions(0, "k")
	ts.do("SET k changed")
	batch := []Command{WatchGuardCommand(1, watched), {Args: splitArgs("SET a 1")}, {Args: splitArgs("SET b 1")},
		{Args: splitArgs("watchguard x")}, {Args: splitArgs("SET c 1")}}
	ts.index++
	res := ts.s.Apply([]consensus.Entry{{Term: 1, Index: ts.index, TimeMs: ts.nowMs, Data: AppendBatch(nil, batch)}})
	replies := res[0].([]Reply)
	want := []string{":0", "(nil)", "+OK", "-ERR syntax error", "+OK"}
	for i, w := range want {
		if got := fmtReply(replies[i], false); got != w {
			t.Errorf("reply %d = %s, want %s", i, got, w)
		}
	}
}

// TestWatchVersionsSurviveSnapshot: a replica restored from a snapshot
// decides a guard as the one that applied the entries.
func TestWatchVersionsSurviveSnapshot(t *testing.T) {
	ts := newTestStore(t)
	ts.do("SET k v")
	ts.do("HSET h f v")
	watched := ts.versions(0, "k", "h", "missing")
	restored, err := NewStore(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(bytes.NewReader(snapshotBytes(t, ts.s))); err != nil {
		t.Fatal(err)
	}
	other := &testStore{t: t, s: restored, index: ts.index, nowMs: ts.nowMs}
	again := other.versions(0, "k", "h", "missing")
	for i := range watched {
		if watched[i].Version != again[i].Version {
			t.Errorf("key %s: version %d before the snapshot, %d after", watched[i].Key, watched[i].Version, again[i].Version)
		}
	}
	if watched[0].Version == 0 || watched[2].Version != 0 {
		t.Errorf("versions %+v: want live keys > 0, missing 0", watched)
	}
}
