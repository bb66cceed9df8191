package resp

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/raftkv/raftkv/kvsm"
)

// memBackend is a Backend for tests: a map per database, a handful of
// string commands, a record of every call, optional injected errors and an
// optional gate that holds Write calls until the test releases them.
type memBackend struct {
	mu       sync.Mutex
	dbs      map[int]map[string]string
	calls    []backendCall
	err      error         // returned by every call when set
	gate     chan struct{} // when set, Write waits for a receive... of a value
	entered  chan struct{} // when set, Write signals here before waiting on gate
	status   ClusterStatus
	statusMu sync.Mutex
}

type backendCall struct {
	write bool
	names []string // lower-case command names in order
}

func newMemBackend() *memBackend {
	return &memBackend{
		dbs:    map[int]map[string]string{},
		status: ClusterStatus{NodeID: 1, Role: "leader", Term: 3, LeaderID: 1, LeaderClientAddr: "127.0.0.1:7001", CommitIndex: 10, AppliedIndex: 9},
	}
}

func (m *memBackend) record(write bool, cmds []kvsm.Command) {
	call := backendCall{write: write}
	for _, c := range cmds {
		call.names = append(call.names, strings.ToLower(string(c.Args[0])))
	}
	m.calls = append(m.calls, call)
}

func (m *memBackend) Calls() []backendCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]backendCall(nil), m.calls...)
}

func (m *memBackend) Write(ctx context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	if m.entered != nil {
		m.entered <- struct{}{}
	}
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m.exec(true, cmds)
}

func (m *memBackend) Read(ctx context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	return m.exec(false, cmds)
}

func (m *memBackend) Status() ClusterStatus {
	m.statusMu.Lock()
	defer m.statusMu.Unlock()
	return m.status
}

func (m *memBackend) exec(write bool, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record(write, cmds)
	if m.err != nil {
		return nil, m.err
	}
	replies := make([]kvsm.Reply, len(cmds))
	for i, c := range cmds {
		replies[i] = m.execOne(c)
	}
	return replies, nil
}

func (m *memBackend) execOne(c kvsm.Command) kvsm.Reply {
	db := m.dbs[c.DB]
	if db == nil {
		db = map[string]string{}
		m.dbs[c.DB] = db
	}
	a := c.Args
	switch strings.ToLower(string(a[0])) {
	case "get":
		v, ok := db[string(a[1])]
		if !ok {
			return kvsm.ReplyNilValue
		}
		return kvsm.BulkReply([]byte(v))
	case "set":
		db[string(a[1])] = string(a[2])
		return kvsm.ReplyOK
	case "del":
		n := 0
		for _, k := range a[1:] {
			if _, ok := db[string(k)]; ok {
				delete(db, string(k))
				n++
			}
		}
		return kvsm.IntReply(int64(n))
	case "incr":
		n, err := strconv.ParseInt(db[string(a[1])], 10, 64)
		if err != nil && db[string(a[1])] != "" {
			return kvsm.ErrorReply("ERR value is not an integer or out of range")
		}
		n++
		db[string(a[1])] = strconv.FormatInt(n, 10)
		return kvsm.IntReply(n)
	case "dbsize":
		return kvsm.IntReply(int64(len(db)))
	case "mget":
		out := kvsm.Reply{Kind: kvsm.ReplyArray}
		for _, k := range a[1:] {
			if v, ok := db[string(k)]; ok {
				out.Elems = append(out.Elems, kvsm.BulkReply([]byte(v)))
			} else {
				out.Elems = append(out.Elems, kvsm.ReplyNilValue)
			}
		}
		return out
	case "hgetall":
		return kvsm.Reply{Kind: kvsm.ReplyMap, Elems: []kvsm.Reply{kvsm.BulkReply([]byte("f")), kvsm.BulkReply([]byte("v"))}}
	}
	return kvsm.ErrorReply("ERR fake backend does not implement '" + string(a[0]) + "'")
}

// staticBackend answers every command with the same reply without
// allocating, to measure the server's own costs in benchmarks.
type staticBackend struct {
	reply   kvsm.Reply
	replies []kvsm.Reply
}

func (s *staticBackend) answer(cmds []kvsm.Command) ([]kvsm.Reply, error) {
	for len(s.replies) < len(cmds) {
		s.replies = append(s.replies, s.reply)
	}
	return s.replies[:len(cmds)], nil
}

func (s *staticBackend) Write(_ context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	return s.answer(cmds)
}

func (s *staticBackend) Read(_ context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	return s.answer(cmds)
}

func (s *staticBackend) Status() ClusterStatus { return ClusterStatus{Role: "leader"} }

func (s *staticBackend) ReadInto(_ context.Context, cmds []kvsm.Command, replies []kvsm.Reply) error {
	for i := range cmds {
		replies[i] = s.reply
	}
	return nil
}
