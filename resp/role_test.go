package resp

import "testing"

// TestRole: ROLE maps the Raft role onto Redis's replication roles, in
// Redis's reply shape.
func TestRole(t *testing.T) {
	peers := []PeerStatus{
		{ID: 2, ClientAddr: "127.0.0.1:7002", MatchIndex: 8, Voter: true},
		{ID: 3, ClientAddr: "10.0.0.3:7003", MatchIndex: 12, Voter: false},
	}
	tests := []struct {
		name   string
		status ClusterStatus
		want   string
	}{
		{"leader", ClusterStatus{NodeID: 1, Role: "leader", LeaderID: 1, AppliedIndex: 12, Peers: peers},
			"*3\r\n$6\r\nmaster\r\n:12\r\n*2\r\n" +
				"*3\r\n$9\r\n127.0.0.1\r\n$4\r\n7002\r\n$1\r\n8\r\n" +
				"*3\r\n$8\r\n10.0.0.3\r\n$4\r\n7003\r\n$2\r\n12\r\n"},
		{"leader alone", ClusterStatus{NodeID: 1, Role: "leader", LeaderID: 1, AppliedIndex: 3},
			"*3\r\n$6\r\nmaster\r\n:3\r\n*0\r\n"},
		{"follower", ClusterStatus{NodeID: 2, Role: "follower", LeaderID: 1, LeaderClientAddr: "127.0.0.1:7001", AppliedIndex: 9},
			"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:7001\r\n$9\r\nconnected\r\n:9\r\n"},
		{"learner", ClusterStatus{NodeID: 4, Role: "learner", LeaderID: 1, LeaderClientAddr: "127.0.0.1:7001", AppliedIndex: 2},
			"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:7001\r\n$9\r\nconnected\r\n:2\r\n"},
		{"candidate", ClusterStatus{NodeID: 2, Role: "candidate", AppliedIndex: 9},
			"*5\r\n$5\r\nslave\r\n$1\r\n?\r\n:-1\r\n$7\r\nconnect\r\n:-1\r\n"},
		{"removed", ClusterStatus{NodeID: 2, Role: RoleRemoved, LeaderID: 1, LeaderClientAddr: "127.0.0.1:7001", AppliedIndex: 9},
			"*5\r\n$5\r\nslave\r\n$1\r\n?\r\n:-1\r\n$7\r\nconnect\r\n:-1\r\n"},
	}
	ts := startServer(t, nil)
	nc := dial(t, ts.addr)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.backend.statusMu.Lock()
			ts.backend.status = tt.status
			ts.backend.statusMu.Unlock()
			if got := roundTrip(t, nc, "role\r\n", len(tt.want)); got != tt.want {
				t.Errorf("ROLE = %q, want %q", got, tt.want)
			}
		})
	}
	if got, want := roundTrip(t, nc, "role x\r\n", len("-ERR wrong number of arguments for 'role' command\r\n")), "-ERR wrong number of arguments for 'role' command\r\n"; got != want {
		t.Errorf("ROLE x = %q, want %q", got, want)
	}
}
