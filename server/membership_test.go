package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
)

func TestMembersHeaderRoundTrip(t *testing.T) {
	books := []map[consensus.NodeID]memberAddr{
		{},
		{1: {raft: "127.0.0.1:17001", client: "127.0.0.1:7001"}},
		{1: {raft: "a:1", client: "b:1"}, 7: {raft: "c:7"}, 300: {raft: "d:300", client: "e:300"}},
	}
	for _, book := range books {
		data := appendMembersHeader(nil, book)
		br := bufio.NewReader(bytes.NewReader(append(data, "rest"...)))
		if _, err := br.Discard(len(membersMagic)); err != nil {
			t.Fatal(err)
		}
		got, err := readMembersHeader(br)
		if err != nil {
			t.Fatalf("%v: %v", book, err)
		}
		if !maps.Equal(got, book) {
			t.Fatalf("round trip: got %v, want %v", got, book)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "rest" {
			t.Fatalf("the header read past its end: %q left", rest)
		}
	}
}

func TestMembersHeaderRejectsDamage(t *testing.T) {
	good := appendMembersHeader(nil, map[consensus.NodeID]memberAddr{2: {raft: "a:1", client: "b:2"}})[len(membersMagic):]
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad version", []byte{9, 0}},
		{"too many members", []byte{1, 0xff, 0xff, 0x03}},
		{"id zero", []byte{1, 1, 0, 0, 0}},
		{"address too long", []byte{1, 1, 5, 0xff, 0x7f}},
		{"truncated", good[:len(good)-1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readMembersHeader(bufio.NewReader(bytes.NewReader(tc.in)))
			if !errors.Is(err, errBadMembers) {
				t.Fatalf("readMembersHeader(%x) = %v, want errBadMembers", tc.in, err)
			}
		})
	}
}

// recordSM is a state machine that keeps what it restored.
type recordSM struct{ restored string }

func (r *recordSM) Apply(entries []consensus.Entry) []consensus.Result {
	return make([]consensus.Result, len(entries))
}
func (r *recordSM) Snapshot() (consensus.SnapshotReader, error) { return stringSnap(r.restored), nil }
func (r *recordSM) Restore(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	r.restored = string(b)
	return err
}

type stringSnap string

func (s stringSnap) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, string(s))
	return int64(n), err
}
func (stringSnap) Close() error { return nil }

// fakePeers records the transport's peer changes.
type fakePeers struct{ log []string }

func (f *fakePeers) AddPeer(id consensus.NodeID, addr string) {
	f.log = append(f.log, "add "+addr)
}
func (f *fakePeers) RemovePeer(id consensus.NodeID) {
	f.log = append(f.log, "remove "+string(rune('0'+id)))
}

// TestMembersSMSnapshots: the book travels in the snapshot data, the inner
// state machine sees its own bytes only, and a snapshot without the book
// (an older one) restores as before.
func TestMembersSMSnapshots(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster := []conf.Peer{{ID: 1, RaftAddr: "r:1", ClientAddr: "c:1"}, {ID: 2, RaftAddr: "r:2", ClientAddr: "c:2"}}
	src := &membersSM{inner: &recordSM{restored: "store bytes"}, members: newMembership(1, cluster, logger)}
	cc := consensus.ConfChange{Type: consensus.ConfChangeAddLearner, NodeID: 3, Addr: "r:3", Context: []byte("c:3")}
	src.Apply([]consensus.Entry{{Index: 1, Type: consensus.EntryConfChange, Data: cc.Encode(nil)}})
	view, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	if _, err := view.WriteTo(&data); err != nil {
		t.Fatal(err)
	}

	// A node whose cluster line knows nothing of node 3, and a stale
	// address for node 2.
	inner := &recordSM{}
	dst := &membersSM{inner: inner, members: newMembership(2, []conf.Peer{{ID: 2, RaftAddr: "stale:2"}}, logger)}
	if err := dst.Restore(bytes.NewReader(data.Bytes())); err != nil {
		t.Fatal(err)
	}
	if inner.restored != "store bytes" {
		t.Fatalf("inner state machine restored %q", inner.restored)
	}
	for id, want := range map[consensus.NodeID]string{1: "c:1", 2: "c:2", 3: "c:3"} {
		if got := dst.members.clientAddr(id); got != want {
			t.Errorf("client address of %d after restore: %q, want %q", id, got, want)
		}
	}

	old := &recordSM{}
	oldDst := &membersSM{inner: old, members: newMembership(1, cluster, logger)}
	if err := oldDst.Restore(strings.NewReader("RKVSNAP\x00older")); err != nil || old.restored != "RKVSNAP\x00older" {
		t.Fatalf("snapshot without a book: restored %q, %v", old.restored, err)
	}
}

// TestMembershipSteersTransport: a member added to the log becomes a peer
// at once; the first announcement drops cluster-line peers that are no
// members; a removal takes the peer away when it is applied.
func TestMembershipSteersTransport(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster := []conf.Peer{{ID: 1, RaftAddr: "r:1"}, {ID: 2, RaftAddr: "r:2"}, {ID: 3, RaftAddr: "r:3"}}
	m := newMembership(1, cluster, logger)
	peers := &fakePeers{}
	m.setTransport(peers, m.transportPeers())

	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2}}})
	m.onEvent(consensus.MembershipEvent{
		ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2}, Learners: []consensus.NodeID{4}},
		Appended:  []consensus.ConfChange{{Type: consensus.ConfChangeAddLearner, NodeID: 4, Addr: "r:4", Context: []byte("c:4")}},
	})
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 4}}})
	m.appliedChange(consensus.ConfChange{Type: consensus.ConfChangeRemoveNode, NodeID: 2})
	want := []string{"remove 3", "add r:4", "remove 2"}
	if strings.Join(peers.log, "; ") != strings.Join(want, "; ") {
		t.Fatalf("transport saw %q, want %q", peers.log, want)
	}
	got := m.members()
	if len(got) != 2 || got[1].ID != 4 || got[1].ClientAddr != "c:4" || got[1].Learner {
		t.Fatalf("members: %+v", got)
	}
}

// TestRemovedNodeRefusesClients: once this node's removal is applied (or
// its disk says it is no member), it says so; a re-addition clears it.
func TestRemovedNodeRefusesClients(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster := []conf.Peer{{ID: 1, RaftAddr: "r:1"}, {ID: 2, RaftAddr: "r:2"}}
	m := newMembership(2, cluster, logger)
	m.setTransport(&fakePeers{}, m.transportPeers())
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2}}})
	if m.removed.Load() {
		t.Fatal("a member says it was removed")
	}
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1}}})
	if m.removed.Load() {
		t.Fatal("removed before the removal was applied")
	}
	m.appliedChange(consensus.ConfChange{Type: consensus.ConfChangeRemoveNode, NodeID: 2})
	if !m.removed.Load() {
		t.Fatal("not removed after its removal was applied")
	}
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1}, Learners: []consensus.NodeID{2}}})
	if m.removed.Load() {
		t.Fatal("still removed after being added again")
	}

	restarted := newMembership(2, cluster, logger)
	restarted.setTransport(&fakePeers{}, restarted.transportPeers())
	restarted.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1}}})
	if !restarted.removed.Load() {
		t.Fatal("a node whose disk says it is no member serves clients")
	}
}

// sendRecorder is the peers' transport's Send, recorded.
type sendRecorder struct {
	fakePeers
	sent []consensus.NodeID
}

func (s *sendRecorder) Send(to consensus.NodeID, msgs []consensus.Message) {
	s.sent = append(s.sent, to)
}

// TestFarewellPeer: a MsgRemoved to a removed node, whose transport peer
// was dropped when its removal was applied, makes it a peer again so that
// the answer goes out; other messages to it do not; a member's peer is
// left alone; the farewell peer goes when its time is up, and a farewell
// pending when the removal applies keeps the peer until then.
func TestFarewellPeer(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster := []conf.Peer{{ID: 1, RaftAddr: "r:1"}, {ID: 2, RaftAddr: "r:2"}, {ID: 3, RaftAddr: "r:3"}, {ID: 4, RaftAddr: "r:4"}}
	m := newMembership(1, cluster, logger)
	peers := &sendRecorder{}
	m.setTransport(peers, m.transportPeers())
	tr := farewellTransport{peers: peers, members: m}
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2, 3, 4}}})
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2, 3}}})
	m.appliedChange(consensus.ConfChange{Type: consensus.ConfChangeRemoveNode, NodeID: 4})

	tr.Send(4, []consensus.Message{{Type: consensus.MsgHeartbeat}})
	tr.Send(2, []consensus.Message{{Type: consensus.MsgHeartbeat}, {Type: consensus.MsgRemoved}})
	tr.Send(4, []consensus.Message{{Type: consensus.MsgRemoved}})
	tr.Send(4, []consensus.Message{{Type: consensus.MsgRemoved}})
	if got, want := strings.Join(peers.log, "; "), "remove 4; add r:4"; got != want {
		t.Fatalf("transport saw %q, want %q", got, want)
	}
	if len(peers.sent) != 4 {
		t.Fatalf("Send passed %d calls on, want 4", len(peers.sent))
	}
	m.endFarewell(4) // not yet due: nothing
	m.mu.Lock()
	m.farewells[4] = time.Now().Add(-time.Second)
	m.mu.Unlock()
	m.endFarewell(4)
	if got, want := strings.Join(peers.log, "; "), "remove 4; add r:4; remove 4"; got != want {
		t.Fatalf("after the farewell: transport saw %q, want %q", got, want)
	}

	// Node 3 is told before its removal applies here: the applied removal
	// leaves its peer to the farewell.
	peers.log = nil
	m.onEvent(consensus.MembershipEvent{ConfState: consensus.ConfState{Voters: []consensus.NodeID{1, 2}}})
	tr.Send(3, []consensus.Message{{Type: consensus.MsgRemoved}})
	m.appliedChange(consensus.ConfChange{Type: consensus.ConfChangeRemoveNode, NodeID: 3})
	if len(peers.log) != 0 {
		t.Fatalf("transport saw %q while node 3 is being told", peers.log)
	}
	m.mu.Lock()
	m.farewells[3] = time.Now().Add(-time.Second)
	m.mu.Unlock()
	m.endFarewell(3)
	if got, want := strings.Join(peers.log, "; "), "remove 3"; got != want {
		t.Fatalf("transport saw %q, want %q", got, want)
	}
}
