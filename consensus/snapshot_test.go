package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"
)

// The follower side of InstallSnapshot, chunk by chunk: in-order chunks
// are acknowledged with the bytes held, duplicates and gaps with the bytes
// held, a chunk of an unknown snapshot (or from scratch after a restart)
// with a rejection, and an oversized snapshot is refused.
func TestFollowerSnapshotChunks(t *testing.T) {
	meta := SnapshotMeta{Index: 10, Term: 2, ConfState: ConfState{Voters: ids3}}
	other := SnapshotMeta{Index: 12, Term: 2, ConfState: ConfState{Voters: ids3}}
	type chunk struct {
		meta   SnapshotMeta
		offset uint64
		data   string
		done   bool
	}
	type want struct {
		typ    MessageType
		offset uint64
		reject bool
	}
	tests := []struct {
		name        string
		maxBytes    uint64
		chunks      []chunk
		want        []want
		wantInstall string
	}{
		{"in order", 0,
			[]chunk{{meta, 0, "ab", false}, {meta, 2, "cd", false}, {meta, 4, "e", true}},
			[]want{{MsgSnapResp, 2, false}, {MsgSnapResp, 4, false}, {MsgAppResp, 0, false}}, "abcde"},
		{"duplicate chunk", 0,
			[]chunk{{meta, 0, "ab", false}, {meta, 0, "ab", false}, {meta, 2, "c", true}},
			[]want{{MsgSnapResp, 2, false}, {MsgSnapResp, 2, false}, {MsgAppResp, 0, false}}, "abc"},
		{"gap", 0,
			[]chunk{{meta, 0, "ab", false}, {meta, 4, "ef", false}},
			[]want{{MsgSnapResp, 2, false}, {MsgSnapResp, 2, false}}, ""},
		{"nothing assembled", 0,
			[]chunk{{meta, 2, "cd", false}},
			[]want{{MsgSnapResp, 0, true}}, ""},
		{"another snapshot mid-way", 0,
			[]chunk{{meta, 0, "ab", false}, {other, 2, "cd", false}},
			[]want{{MsgSnapResp, 2, false}, {MsgSnapResp, 0, true}}, ""},
		{"too large", 3,
			[]chunk{{meta, 0, "ab", false}, {meta, 2, "cd", false}},
			[]want{{MsgSnapResp, 2, false}, {MsgSnapResp, 0, true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 2, ids3, nil, func(c *Config) { c.MaxSnapshotBytes = tt.maxBytes })
			var got []Message
			var installed *IncomingSnapshot
			var spool memorySpool
			var installedBody []byte
			for _, c := range tt.chunks {
				step(t, r, Message{From: 1, Type: MsgSnap, Term: 3, Snapshot: c.meta, SnapOffset: c.offset,
					Data: []byte(c.data), SnapDone: c.done})
				rd := r.Ready()
				for _, c := range rd.SnapshotChunks {
					if err := spool.WriteSnapshotChunk(c); err != nil {
						t.Fatal(err)
					}
				}
				if rd.Snapshot != nil {
					installed = rd.Snapshot
					body, err := spool.CommitSnapshot(rd.Snapshot.Meta)
					if err != nil {
						t.Fatal(err)
					}
					installedBody, _ = io.ReadAll(body)
					r.cfg.Log.(*MemoryStorage).ApplySnapshot(rd.Snapshot.Meta)
				}
				for _, m := range append(rd.Messages, rd.MessagesAfterPersist...) {
					if m.Type == MsgSnapResp || m.Type == MsgAppResp {
						got = append(got, m)
					}
				}
				r.Advance(rd)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("responses %+v, want %+v", got, tt.want)
			}
			for i, w := range tt.want {
				if got[i].Type != w.typ || got[i].Reject != w.reject || (w.typ == MsgSnapResp && got[i].SnapOffset != w.offset) {
					t.Errorf("response %d: %v offset %d reject %v, want %v %d %v", i, got[i].Type, got[i].SnapOffset, got[i].Reject, w.typ, w.offset, w.reject)
				}
			}
			switch {
			case tt.wantInstall == "" && installed != nil:
				t.Errorf("installed %q, want nothing", installedBody)
			case tt.wantInstall != "" && (installed == nil || string(installedBody) != tt.wantInstall || installed.Meta.Index != meta.Index):
				t.Errorf("installed %+v (%q), want %q at %d", installed, installedBody, tt.wantInstall, meta.Index)
			case tt.wantInstall != "" && (r.log.committed != meta.Index || r.log.applied != meta.Index || r.log.firstIndex() != meta.Index+1):
				t.Errorf("after install: committed %d applied %d first %d", r.log.committed, r.log.applied, r.log.firstIndex())
			}
		})
	}
}

// The leader bounds its uncommitted log and its pending reads.
func TestLeaderBounds(t *testing.T) {
	r := newTestRaft(t, 1, ids3, nil, func(c *Config) { c.MaxUncommittedEntries = 3; c.MaxPendingReads = 2 })
	makeLeader(t, r) // the no-op is uncommitted: one of three
	for i := range 3 {
		r.Propose(uint64(i), []byte("p"))
	}
	rd := r.Ready()
	var dropped []uint64
	for _, a := range rd.ProposalAcks {
		if errors.Is(a.Err, ErrProposalDropped) {
			dropped = append(dropped, a.RequestID)
		}
	}
	if len(dropped) != 1 || dropped[0] != 2 {
		t.Fatalf("dropped proposals %v, want [2]", dropped)
	}
	r.Advance(rd)
	for i := range 3 {
		r.ReadIndex(uint64(10 + i))
	}
	rd = r.Ready()
	if len(rd.ReadAcks) != 1 || rd.ReadAcks[0].RequestID != 12 || !errors.Is(rd.ReadAcks[0].Err, ErrProposalDropped) {
		t.Fatalf("read acks %+v, want 12 dropped", rd.ReadAcks)
	}
}

// brokenSnapshots holds a snapshot it cannot read.
type brokenSnapshots struct{ meta SnapshotMeta }

func (b brokenSnapshots) Latest() (SnapshotMeta, bool) { return b.meta, true }
func (b brokenSnapshots) ReadChunk(uint64, uint64, int) ([]byte, bool, error) {
	return nil, false, errors.New("disk on fire")
}

// A snapshot that cannot be read sends the follower back to probing, once
// per event: the leader neither loops nor sends anything.
func TestUnreadableSnapshotDoesNotLoop(t *testing.T) {
	st := storageWith(t, 1, 1, 1, 1, 1)
	if err := st.TruncatePrefix(3, 1); err != nil {
		t.Fatal(err)
	}
	r := newTestRaft(t, 1, ids3, st, func(c *Config) {
		c.Snapshots = brokenSnapshots{SnapshotMeta{Index: 3, Term: 1}}
		c.Applied = 3
	})
	makeLeader(t, r)
	drain(t, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Follower 2 is far behind: its next entry is compacted.
		step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 4, Reject: true, RejectHint: 0})
		step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("leader loops on an unreadable snapshot")
	}
	for _, m := range drain(t, r) {
		if m.To == 2 && (m.Type == MsgSnap || m.Type == MsgApp) {
			t.Fatalf("sent %v to 2 without a readable snapshot", m.Type)
		}
	}
	if st := r.Status().Progress[2].State; st != StateProbe {
		t.Fatalf("follower 2 in state %v, want probe", st)
	}
}

// InstallSnapshot resumes after a dropped connection: a follower that lost
// its link to the leader mid-snapshot continues from the bytes it spooled
// (no chunk at offset 0 again), while the leader replicates to and commits
// with the other follower throughout. Reference: issue 7.
func TestSnapshotResumesAfterDroppedConnection(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.MaxMsgBytes = 16 })
	lead := nw.electLeader()
	var slow, other NodeID
	for _, id := range nw.ids {
		switch {
		case id == lead:
		case slow == None:
			slow = id
		default:
			other = id
		}
	}
	snapData := bytes.Repeat([]byte("snapshot-bytes|"), 20) // 300 bytes: 19 chunks
	snapIndex := nw.leaveBehindSnapshot(lead, slow, snapData)
	ln := nw.nodes[lead]
	nw.heal()

	// run ticks and delivers, noting the snapshot chunks that reach slow.
	var offsets []uint64
	run := func(ticks int, until func() bool) {
		t.Helper()
		for range ticks {
			nw.round(func(m Message) bool {
				if m.Type == MsgSnap && m.To == slow && !nw.cut[[2]NodeID{m.From, m.To}] {
					offsets = append(offsets, m.SnapOffset)
				}
				return true
			})
			if until != nil && until() {
				return
			}
		}
	}
	run(100, func() bool { return len(offsets) > 0 && offsets[len(offsets)-1] >= 96 })
	if len(offsets) == 0 || offsets[len(offsets)-1] < 96 {
		t.Fatalf("the snapshot did not get going: chunks at %v", offsets)
	}
	// The connection drops mid-snapshot; the cluster goes on without slow.
	nw.isolate(slow)
	held := offsets[len(offsets)-1]
	for i := range 5 {
		ln.r.Propose(uint64(100+i), fmt.Appendf(nil, "during%d", i))
		run(3, nil)
	}
	run(20, func() bool { return slices.Contains(nw.appliedData(other), "during4") })
	if got := nw.appliedData(other); !slices.Contains(got, "during4") {
		t.Fatalf("the other follower applied %q while slow was cut off: replication stalled", got)
	}
	// The link comes back: the transfer resumes where it stopped.
	nw.heal()
	before := len(offsets)
	run(200, func() bool { return slices.Contains(nw.appliedData(slow), "during4") })
	resumed := offsets[before:]
	if len(resumed) == 0 {
		t.Fatalf("no chunk after the link came back")
	}
	if slices.Contains(resumed, 0) || resumed[0] < held {
		t.Fatalf("chunks after the link came back %v: the transfer started over instead of resuming from %d", resumed, held)
	}
	sn := nw.nodes[slow]
	installed := false
	for _, e := range sn.applied {
		if e.Index == snapIndex && bytes.Equal(e.Data, snapData) {
			installed = true
		}
	}
	if !installed || !slices.Contains(nw.appliedData(slow), "during4") {
		t.Fatalf("slow node installed the snapshot %v, applied %q", installed, nw.appliedData(slow))
	}
	if len(nw.stepErr) > 0 {
		t.Errorf("step errors: %v", nw.stepErr)
	}
}

// TestSnapshotGoesOnFromWhatTheFollowerHolds: a follower that answers
// holding less (or more) than the leader sent gets the chunk at its offset
// next. A late duplicate of the first chunk restarts a follower's copy, so
// it then holds less than the leader's chunk in flight; the leader used to
// ignore every answer but the expected one and resend that chunk forever
// (the simulator's EndToEnd schedule, seeds 32 and 42).
func TestSnapshotGoesOnFromWhatTheFollowerHolds(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.MaxMsgBytes = 16 })
	lead := nw.electLeader()
	slow := nw.ids[0]
	if slow == lead {
		slow = nw.ids[1]
	}
	nw.leaveBehindSnapshot(lead, slow, bytes.Repeat([]byte("snapshot-bytes|"), 20))
	nw.heal()
	ln := nw.nodes[lead]
	pr := ln.r.progress[slow]
	for range 100 {
		if pr.state == StateSnapshot && pr.snapSentTo >= 64 {
			break
		}
		nw.round(func(Message) bool { return true })
	}
	if pr.state != StateSnapshot || pr.snapSentTo < 64 {
		t.Fatalf("the snapshot did not get going: state %v, sent to %d", pr.state, pr.snapSentTo)
	}
	for _, held := range []uint64{16, pr.snapSentTo + 32} {
		ln.r.msgs = ln.r.msgs[:0]
		step(t, ln.r, Message{From: slow, Type: MsgSnapResp, Term: ln.r.term, Snapshot: pr.snapMeta, SnapOffset: held})
		chunks := msgsOfType(ln.r.msgs, MsgSnap)
		if len(chunks) != 1 || chunks[0].SnapOffset != held {
			t.Fatalf("after the follower said it holds %d: chunks %+v, want one at %d", held, chunks, held)
		}
	}
}
