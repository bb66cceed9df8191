package consensus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedLog is a MemoryStorage whose Append waits while a gate is set,
// like an fsync that does not return; entered tells that one is waiting.
type gatedLog struct {
	*MemoryStorage
	gate    atomic.Pointer[chan struct{}]
	entered chan struct{}
}

func (g *gatedLog) Append(entries []Entry) error {
	if hold := g.gate.Load(); hold != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-*hold
	}
	return g.MemoryStorage.Append(entries)
}

func startGatedCluster(t *testing.T, n int) (*testCluster, map[NodeID]*gatedLog) {
	t.Helper()
	tc := newTestCluster(0)
	logs := map[NodeID]*gatedLog{}
	tc.wrapLog = func(id NodeID, st *MemoryStorage) LogStorage {
		logs[id] = &gatedLog{MemoryStorage: st, entered: make(chan struct{}, 1)}
		return logs[id]
	}
	tc.startVoters(t, n)
	t.Cleanup(func() {
		for _, g := range logs {
			if hold := g.gate.Swap(nil); hold != nil {
				close(*hold)
			}
		}
		for _, nd := range tc.nodes {
			nd.Stop()
		}
	})
	return tc, logs
}

// The leader writes its log while the entries replicate: two followers'
// acks commit an entry whose write on the leader has not completed, and
// the leader keeps stepping messages meanwhile.
func TestNodeLeaderCommitsBeforeItsOwnWrite(t *testing.T) {
	tc, logs := startGatedCluster(t, 3)
	leader := tc.waitLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tc.nodes[leader].Propose(ctx, []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	logs[leader].gate.Store(&hold)
	res, err := tc.nodes[leader].Propose(ctx, []byte("x"))
	if err != nil {
		t.Fatalf("propose while the leader's write is stuck: %v", err)
	}
	// The followers' acks may commit the entry before the leader's
	// persister even takes it (a loaded machine): wait for the write to
	// start. It cannot complete while the gate is held.
	select {
	case <-logs[leader].entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader never started writing the entry")
	}
	if got := res.(int); got != 2 {
		t.Fatalf("result %d, want 2", got)
	}
	committed := tc.nodes[leader].Metrics().Commit
	if last := tc.storage[leader].LastIndex(); last >= committed {
		t.Fatalf("leader's storage ends at %d, not below the commit index %d: the test proves nothing", last, committed)
	}
	logs[leader].gate.Store(nil)
	close(hold)
	// Once its write completes the leader counts itself again: a
	// proposal commits with only one follower left.
	tc.net.mu.Lock()
	tc.net.cut[leader%3+1] = true
	tc.net.mu.Unlock()
	if _, err := tc.nodes[leader].Propose(ctx, []byte("y")); err != nil {
		t.Fatalf("propose with one follower cut off: %v", err)
	}
	if last := tc.storage[leader].LastIndex(); last < committed {
		t.Fatalf("leader's storage ends at %d after its write, want >= %d", last, committed)
	}
}

// A single node's commit is its own durability: no answer while its
// write is stuck.
func TestNodeSingleCommitsOnlyAfterItsWrite(t *testing.T) {
	tc, logs := startGatedCluster(t, 1)
	tc.waitLeader(t)
	nd := tc.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := nd.Propose(ctx, []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	logs[1].gate.Store(&hold)
	done := make(chan error, 1)
	go func() {
		_, err := nd.Propose(ctx, []byte("x"))
		done <- err
	}()
	<-logs[1].entered
	select {
	case err := <-done:
		t.Fatalf("proposal answered (%v) while its only write is stuck", err)
	case <-time.After(50 * time.Millisecond):
	}
	logs[1].gate.Store(nil)
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// recordingLog records each Append (as index/term pairs) and the order
// of Appends and sends.
type recordingLog struct {
	*MemoryStorage
	mu     sync.Mutex
	events []string
}

func (r *recordingLog) Append(entries []Entry) error {
	r.mu.Lock()
	ev := "append"
	for _, e := range entries {
		ev += fmt.Sprintf(" %d/%d", e.Index, e.Term)
	}
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return r.MemoryStorage.Append(entries)
}

func (r *recordingLog) Send(to NodeID, msgs []Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		r.events = append(r.events, fmt.Sprintf("send %v %d", m.Type, m.Index))
	}
}

func ents(first uint64, terms ...uint64) []Entry {
	out := make([]Entry, len(terms))
	for i, t := range terms {
		out[i] = Entry{Index: first + uint64(i), Term: t}
	}
	return out
}

// The persister merges the jobs queued behind a write into one Append, as
// sequential Appends would have left the log, and releases each job's
// messages only after it.
func TestPersistBatchMergesJobsInOrder(t *testing.T) {
	ack := func(i uint64) []Message { return []Message{{To: 2, Type: MsgAppResp, Index: i, Term: 1}} }
	ackTerm := func(i, term uint64) []Message { return []Message{{To: 2, Type: MsgAppResp, Index: i, Term: term}} }
	tests := []struct {
		name       string
		jobs       []persistJob
		want       []string
		wantStable stableMark
	}{
		{"one job", []persistJob{{entries: ents(1, 1, 1), msgs: ack(2)}},
			[]string{"append 1/1 2/1", "send MsgAppResp 2"}, stableMark{index: 2, term: 1}},
		{"contiguous jobs", []persistJob{{entries: ents(1, 1, 1)}, {entries: ents(3, 1)}, {msgs: ack(3)}},
			[]string{"append 1/1 2/1 3/1", "send MsgAppResp 3"}, stableMark{index: 3, term: 1}},
		{"acks coalesce", []persistJob{{entries: ents(1, 1), msgs: ack(1)}, {entries: ents(2, 1), msgs: ack(2)},
			{msgs: []Message{{To: 3, Type: MsgVoteResp}}}, {msgs: ack(1)}, {entries: ents(3, 1), msgs: ack(3)},
			{msgs: []Message{{To: 2, Type: MsgAppResp, Index: 3, Reject: true, Term: 1}}}},
			[]string{"append 1/1 2/1 3/1", "send MsgAppResp 3", "send MsgVoteResp 0", "send MsgAppResp 3"}, stableMark{index: 3, term: 1}},
		{"a later job overwrites a suffix", []persistJob{{entries: ents(1, 1, 1, 1), msgs: ackTerm(3, 1)}, {entries: ents(2, 2), msgs: ackTerm(2, 2)}},
			[]string{"append 1/1 2/2", "send MsgAppResp 3", "send MsgAppResp 2"}, stableMark{index: 2, term: 2}},
		{"a later job starts before the batch", []persistJob{{entries: ents(3, 1, 1)}, {entries: ents(2, 2)}},
			[]string{"append 2/2"}, stableMark{index: 2, term: 2}},
		{"hard state only", []persistJob{{hardState: HardState{Term: 3, Vote: 2}, hardStateChanged: true, msgs: []Message{{To: 2, Type: MsgVoteResp}}}},
			[]string{"send MsgVoteResp 0"}, stableMark{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewMemoryStorage()
			if tt.name == "a later job starts before the batch" {
				if err := st.Append(ents(1, 1, 1)); err != nil {
					t.Fatal(err)
				}
			}
			rec := &recordingLog{MemoryStorage: st}
			n := &Node{cfg: NodeConfig{Log: rec, State: st, Transport: rec, Observer: nopObserver{}}, now: time.Now,
				stablec: make(chan struct{}, 1)}
			var before [][]Entry
			for _, j := range tt.jobs {
				before = append(before, slices.Clone(j.entries))
			}
			scratch := make([]Entry, 0, 8)
			if _, err := n.persistBatch(tt.jobs, scratch); err != nil {
				t.Fatal(err)
			}
			for i, j := range tt.jobs {
				// The jobs' arrays are the core's: merging only reads them.
				if !slices.EqualFunc(j.entries, before[i], func(a, b Entry) bool { return a.Index == b.Index && a.Term == b.Term }) {
					t.Fatalf("job %d's entries changed to %v", i, j.entries)
				}
			}
			n.send(coalesceAcks(tt.jobs))
			if !slices.Equal(rec.events, tt.want) {
				t.Fatalf("events %q, want %q", rec.events, tt.want)
			}
			if n.stable != tt.wantStable {
				t.Fatalf("stable mark %+v, want %+v", n.stable, tt.wantStable)
			}
			if tt.jobs[0].hardStateChanged {
				if hs, _ := st.HardState(); hs != tt.jobs[0].hardState {
					t.Fatalf("hard state %+v, want %+v", hs, tt.jobs[0].hardState)
				}
			}
		})
	}
}

// failingLog is a MemoryStorage whose Append fails once fail is set.
type failingLog struct {
	*MemoryStorage
	fail atomic.Bool
}

var errTestDisk = fmt.Errorf("test: disk failed")

func (f *failingLog) Append(entries []Entry) error {
	if f.fail.Load() {
		return errTestDisk
	}
	return f.MemoryStorage.Append(entries)
}

// A write that fails on the persister stops the node: the proposal it
// carried is never answered as a success, and the loop ends.
func TestNodeStopsWhenThePersisterFails(t *testing.T) {
	tc := newTestCluster(0)
	var flog *failingLog
	tc.wrapLog = func(id NodeID, st *MemoryStorage) LogStorage {
		flog = &failingLog{MemoryStorage: st}
		return flog
	}
	tc.storage[1] = NewMemoryStorage()
	tc.sms[1] = &listSM{}
	tc.start(t, 1, []NodeID{1})
	nd := tc.nodes[1]
	defer nd.Stop()
	tc.waitLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := nd.Propose(ctx, []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	flog.fail.Store(true)
	if _, err := nd.Propose(ctx, []byte("lost")); err == nil {
		t.Fatal("a proposal whose write failed succeeded")
	}
	select {
	case <-nd.Done():
	case <-ctx.Done():
		t.Fatal("the node did not stop after its write failed")
	}
	if got := tc.sms[1].snapshotString(); got != "warm-up" {
		t.Fatalf("state machine holds %q, want only the warm-up", got)
	}
}
