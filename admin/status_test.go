package admin

import (
	"bytes"
	"strings"
	"testing"
)

const leaderInfo = "# Raft\r\nraft_node_id:1\r\nraft_role:leader\r\nraft_term:3\r\nraft_leader_id:1\r\nraft_leader_addr:127.0.0.1:7001\r\n" +
	"raft_commit_index:120\r\nraft_applied_index:120\r\nraft_peers:2\r\n" +
	"raft_peer0:id=2,raft_addr=127.0.0.1:17002,client_addr=127.0.0.1:7002,match_index=120,voter=true\r\n" +
	"raft_peer1:id=3,raft_addr=127.0.0.1:17003,client_addr=127.0.0.1:7003,match_index=97,voter=true\r\n"

func TestParseRaftInfo(t *testing.T) {
	ri, err := parseRaftInfo(leaderInfo)
	if err != nil {
		t.Fatal(err)
	}
	if ri.uint("raft_node_id") != 1 || ri.fields["raft_role"] != "leader" || ri.uint("raft_commit_index") != 120 {
		t.Fatalf("fields: %v", ri.fields)
	}
	if len(ri.peers) != 2 || ri.peers[1] != (peerInfo{id: 3, raftAddr: "127.0.0.1:17003", clientAddr: "127.0.0.1:7003", match: 97, voter: true}) {
		t.Fatalf("peers: %+v", ri.peers)
	}
	if _, err := parseRaftInfo("# Server\r\nredis_version:7.0.15\r\n"); err == nil {
		t.Fatalf("INFO of a plain Redis parsed as raftkv's")
	}
	if _, err := parseRaftInfo("raft_node_id:1\r\nraft_peer0:garbage\r\n"); err == nil {
		t.Fatalf("a bad peer line parsed")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []Member{
		{ID: 1, ClientAddr: "127.0.0.1:7001", RaftAddr: "127.0.0.1:17001", Reachable: true, Role: "leader", Term: 3, Commit: 120, Applied: 120, Match: 120},
		{ID: 3, ClientAddr: "127.0.0.1:7003", RaftAddr: "127.0.0.1:17003", Match: 97},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "leader") || !strings.Contains(lines[2], "unreachable") {
		t.Fatalf("table:\n%s", b.String())
	}
}
