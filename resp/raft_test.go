package resp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
)

// memberBackend is a memBackend that also answers the RAFT.* commands:
// it records the calls and returns err.
type memberBackend struct {
	*memBackend
	mu    sync.Mutex
	calls []string
	err   error
}

func (m *memberBackend) note(call string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, call)
	return m.err
}

func (m *memberBackend) AddNode(ctx context.Context, id uint64, raftAddr, clientAddr string) (uint64, error) {
	return 7, m.note(fmt.Sprintf("add %d %s %s", id, raftAddr, clientAddr))
}
func (m *memberBackend) PromoteNode(ctx context.Context, id uint64) (uint64, error) {
	return 8, m.note(fmt.Sprintf("promote %d", id))
}
func (m *memberBackend) RemoveNode(ctx context.Context, id uint64) (uint64, error) {
	return 9, m.note(fmt.Sprintf("remove %d", id))
}
func (m *memberBackend) TransferLeader(ctx context.Context, id uint64) (uint64, error) {
	return 3, m.note(fmt.Sprintf("transfer %d", id))
}
func (m *memberBackend) RaftStatus(ctx context.Context) (RaftStatus, error) {
	return RaftStatus{NodeID: 1, Role: "leader", Term: 2, LeaderID: 1, Members: []MemberStatus{
		{ID: 1, RaftAddr: "r:1", ClientAddr: "c:1", Match: 10, Active: true},
		{ID: 4, RaftAddr: "r:4", ClientAddr: "c:4", Learner: true, Match: 6, Lag: 4},
	}}, m.note("status")
}

func startMemberServer(t *testing.T, be Backend) string {
	t.Helper()
	srv := NewServer(ServerConfig{Config: conf.Default(), Version: "test"}, be, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestRaftCommands(t *testing.T) {
	tests := []struct {
		name, req string
		err       error
		want      string
		call      string // the backend call made, "" for none
	}{
		{"add", "RAFT.ADDNODE 4 r:4 c:4\r\n", nil, "+OK\r\n", "add 4 r:4 c:4"},
		{"add lower case", "raft.addnode 4 r:4 c:4\r\n", nil, "+OK\r\n", "add 4 r:4 c:4"},
		{"add arity", "RAFT.ADDNODE 4 r:4\r\n", nil, "-ERR wrong number of arguments for 'raft.addnode' command\r\n", ""},
		{"add id zero", "RAFT.ADDNODE 0 r:4 c:4\r\n", nil, "-" + errTextBadNodeID + "\r\n", ""},
		{"add id not a number", "RAFT.ADDNODE x r:4 c:4\r\n", nil, "-" + errTextBadNodeID + "\r\n", ""},
		{"promote", "RAFT.PROMOTE 4\r\n", nil, "+OK\r\n", "promote 4"},
		{"remove", "RAFT.REMOVENODE 2\r\n", nil, "+OK\r\n", "remove 2"},
		{"transfer to any", "RAFT.TRANSFER\r\n", nil, ":3\r\n", "transfer 0"},
		{"transfer to 3", "RAFT.TRANSFER 3\r\n", nil, ":3\r\n", "transfer 3"},
		{"transfer arity", "RAFT.TRANSFER 3 4\r\n", nil, "-ERR wrong number of arguments for 'raft.transfer' command\r\n", ""},
		{"not the leader", "RAFT.REMOVENODE 2\r\n", &NotLeaderError{LeaderID: 2, LeaderClientAddr: "127.0.0.1:7002"},
			"-ERR not the leader; leader is 2 at 127.0.0.1:7002\r\n", "remove 2"},
		{"no leader", "RAFT.REMOVENODE 2\r\n", &NotLeaderError{}, "-" + errTextNoLeader + "\r\n", "remove 2"},
		{"learner behind", "RAFT.PROMOTE 4\r\n", fmt.Errorf("%w: learner 4 holds up to 3", consensus.ErrLearnerBehind),
			"-TRYAGAIN learner is behind the leader's log: learner 4 holds up to 3\r\n", "promote 4"},
		{"pending", "RAFT.PROMOTE 4\r\n", consensus.ErrConfChangePending, "-TRYAGAIN membership change pending\r\n", "promote 4"},
		{"invalid", "RAFT.REMOVENODE 9\r\n", fmt.Errorf("%w: remove 9: not a member", consensus.ErrConfChangeInvalid),
			"-ERR invalid membership change: remove 9: not a member\r\n", "remove 9"},
		{"outcome unknown", "RAFT.REMOVENODE 2\r\n", consensus.ErrTimeout, "-" + errTextWriteTimeout + "\r\n", "remove 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := &memberBackend{memBackend: newMemBackend(), err: tc.err}
			nc := dial(t, startMemberServer(t, be))
			if got := roundTrip(t, nc, tc.req, len(tc.want)); got != tc.want {
				t.Fatalf("%q: got %q, want %q", tc.req, got, tc.want)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if got := strings.Join(be.calls, "; "); got != tc.call {
				t.Fatalf("backend calls %q, want %q", got, tc.call)
			}
		})
	}
}

func TestRaftStatusText(t *testing.T) {
	be := &memberBackend{memBackend: newMemBackend()}
	nc := dial(t, startMemberServer(t, be))
	text := string(appendRaftStatus(nil, RaftStatus{NodeID: 1, Role: "leader", Term: 2, LeaderID: 1, Members: []MemberStatus{
		{ID: 1, RaftAddr: "r:1", ClientAddr: "c:1", Match: 10, Active: true},
		{ID: 4, RaftAddr: "r:4", ClientAddr: "c:4", Learner: true, Match: 6, Lag: 4},
	}}))
	for _, line := range []string{
		"role:leader\r\n", "members:2\r\n",
		"member0:id=1,raft_addr=r:1,client_addr=c:1,suffrage=voter,match_index=10,lag=0,active=1\r\n",
		"member1:id=4,raft_addr=r:4,client_addr=c:4,suffrage=learner,match_index=6,lag=4,active=0\r\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("RAFT.STATUS text lacks %q:\n%s", line, text)
		}
	}
	want := fmt.Sprintf("$%d\r\n%s\r\n", len(text), text)
	if got := roundTrip(t, nc, "RAFT.STATUS\r\n", len(want)); got != want {
		t.Fatalf("RAFT.STATUS: got %q, want %q", got, want)
	}
}

func TestRaftCommandsUnsupported(t *testing.T) {
	nc := dial(t, startMemberServer(t, newMemBackend()))
	want := "-ERR RAFT.ADDNODE is not supported by this server\r\n"
	if got := roundTrip(t, nc, "RAFT.ADDNODE 4 r:4 c:4\r\n", len(want)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNotLeaderErrorIs(t *testing.T) {
	var err error = &NotLeaderError{LeaderID: 2}
	if !errors.Is(err, consensus.ErrNotLeader) || err.Error() != "not the leader; leader is 2" {
		t.Fatalf("%v", err)
	}
}
