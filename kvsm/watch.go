package kvsm

import "strconv"

// WATCH support. A key's version is the log index of the entry that last
// wrote it (item.modIndex), so that "did this key change since WATCH?" is
// a question every replica answers the same way at the same log position.
//
//   - WATCH reads the versions with the read-only internal command
//     WatchVersionsCommand (through a ReadIndex, so on any node): 0 for a
//     missing (or expired) key, modIndex+1 for a live one.
//   - EXEC proposes its transaction as one entry led by the internal
//     command WatchGuardCommand, which carries (db, key, version) triples
//     and the number of commands it guards. Apply recomputes each version
//     at that entry; if any differs, the guard answers 0 and the guarded
//     commands are skipped (nil replies): the client gets EXEC's null
//     reply. Otherwise it answers 1 and they run.
//
// A write that stores a key stamps it, even one that leaves the value as
// it was (SET k v over v), as Redis's signalModifiedKey does; one that
// changes nothing (HDEL of a missing field) does not. A key deleted and
// recreated reads as a new version; a key created and deleted again
// between WATCH and EXEC reads as unchanged (Redis aborts then).

const (
	watchVersionsName = "watchversions"
	watchGuardName    = "watchguard"
)

// WatchVersionsCommand returns the read-only command whose reply is an
// array with one integer version per key of db.
func WatchVersionsCommand(db int, keys [][]byte) Command {
	args := make([][]byte, 0, len(keys)+1)
	args = append(args, []byte(watchVersionsName))
	args = append(args, keys...)
	return Command{DB: db, Args: args}
}

// WatchedKey is one key a connection watches, with the version WATCH read.
type WatchedKey struct {
	DB      int
	Key     []byte
	Version int64
}

// WatchGuardCommand returns the command that must lead a watched
// transaction of guarded commands in the same entry.
func WatchGuardCommand(guarded int, keys []WatchedKey) Command {
	args := make([][]byte, 0, 2+3*len(keys))
	args = append(args, []byte(watchGuardName), strconv.AppendInt(nil, int64(guarded), 10))
	for _, k := range keys {
		args = append(args, strconv.AppendInt(nil, int64(k.DB), 10), k.Key, strconv.AppendInt(nil, k.Version, 10))
	}
	return Command{Args: args}
}

// GuardPassed reports whether a guard's reply let the transaction run.
func GuardPassed(r Reply) bool { return r.Kind == ReplyInt && r.Int == 1 }

func (c *execCtx) version(d *database, key []byte) int64 {
	it, ok := c.lookupIn(d, key)
	if !ok {
		return 0
	}
	return int64(it.modIndex) + 1
}

func cmdWatchVersions(c *execCtx, args [][]byte) Reply {
	elems := make([]Reply, len(args)-1)
	for i, k := range args[1:] {
		elems[i] = IntReply(c.version(c.db, k))
	}
	return Reply{Kind: ReplyArray, Elems: elems}
}

// cmdWatchGuard answers 1 when every watched key still has its version,
// else 0; an error when its arguments are malformed.
func cmdWatchGuard(c *execCtx, args [][]byte) Reply {
	if _, ok := parseInt(args[1]); !ok || (len(args)-2)%3 != 0 {
		return ErrorReply(errSyntax)
	}
	passed := true
	for i := 2; i+2 < len(args); i += 3 {
		db, ok1 := parseInt(args[i])
		want, ok2 := parseInt(args[i+2])
		if !ok1 || !ok2 || db < 0 || db >= int64(len(c.s.dbs)) {
			return ErrorReply(errSyntax)
		}
		// Every key is looked up (not stopping at the first change) so
		// that expired keys are deleted the same way on every replica.
		if c.version(c.s.dbs[db], args[i+1]) != want {
			passed = false
		}
	}
	if passed {
		return IntReply(1)
	}
	return IntReply(0)
}

// guardFailed reports whether args is a watch guard that did not pass (a
// malformed guard counts as failed), and how many commands it guards.
func guardFailed(args [][]byte, r *Reply) (int, bool) {
	if len(args) < 2 || !eqFold(args[0], watchGuardName) {
		return 0, false
	}
	if r.Kind == ReplyInt && r.Int == 1 {
		return 0, false
	}
	n, ok := parseInt(args[1])
	if !ok || n < 0 {
		return 0, true
	}
	return int(min(n, 1<<30)), true
}
