package resp

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTransactionsWithStore runs WATCH, MULTI/EXEC, RESET and friends on a
// real kvsm.Store; "other" steps go through a second connection. Expected
// replies were checked against redis-server 7.0.15.
func TestTransactionsWithStore(t *testing.T) {
	type step struct {
		other bool // send on the second connection
		req   string
		want  string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"watch then exec commits", []step{
			{req: "WATCH k\r\nMULTI\r\nSET k mine\r\nEXEC\r\n", want: "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n"},
			{req: "GET k\r\n", want: "$4\r\nmine\r\n"},
		}},
		{"another client's write aborts", []step{
			{req: "SET k v\r\nWATCH k\r\n", want: "+OK\r\n+OK\r\n"},
			{other: true, req: "SET k theirs\r\n", want: "+OK\r\n"},
			{req: "MULTI\r\nSET k mine\r\nINCR n\r\nEXEC\r\nGET k\r\nGET n\r\n", want: "+OK\r\n+QUEUED\r\n+QUEUED\r\n*-1\r\n$6\r\ntheirs\r\n$-1\r\n"},
		}},
		{"abort in RESP3 is a null", []step{
			{req: "HELLO 3\r\n", want: "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
			{req: "WATCH k\r\n", want: "+OK\r\n"},
			{other: true, req: "DEL k\r\nSET k x\r\n", want: ":0\r\n+OK\r\n"},
			{req: "MULTI\r\nEXEC\r\n", want: "+OK\r\n_\r\n"},
		}},
		{"exec unwatches", []step{
			{req: "WATCH k\r\nMULTI\r\nEXEC\r\n", want: "+OK\r\n+OK\r\n*0\r\n"},
			{other: true, req: "SET k theirs\r\n", want: "+OK\r\n"},
			{req: "MULTI\r\nGET k\r\nEXEC\r\n", want: "+OK\r\n+QUEUED\r\n*1\r\n$6\r\ntheirs\r\n"},
		}},
		{"unwatch and discard forget keys", []step{
			{req: "WATCH a\r\nUNWATCH\r\nWATCH b\r\nMULTI\r\nDISCARD\r\n", want: "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n"},
			{other: true, req: "SET a 1\r\nSET b 1\r\n", want: "+OK\r\n+OK\r\n"},
			{req: "MULTI\r\nINCR a\r\nEXEC\r\n", want: "+OK\r\n+QUEUED\r\n*1\r\n:2\r\n"},
		}},
		{"watched key in another database", []step{
			{req: "SELECT 2\r\nWATCH k\r\nSELECT 0\r\n", want: "+OK\r\n+OK\r\n+OK\r\n"},
			{other: true, req: "SET k db0\r\n", want: "+OK\r\n"},
			{req: "MULTI\r\nPING\r\nEXEC\r\n", want: "+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n"},
			{req: "WATCH k\r\n", want: "+OK\r\n"},
			{other: true, req: "SELECT 2\r\nSET k db2\r\n", want: "+OK\r\n+OK\r\n"},
			{req: "MULTI\r\nPING\r\nEXEC\r\n", want: "+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n"},
		}},
		{"watch inside multi", []step{
			{req: "MULTI\r\nWATCH k\r\nSET k v\r\nEXEC\r\n", want: "+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*1\r\n+OK\r\n"},
		}},
		{"connection commands queued in place, select moves later commands", []step{
			{req: "MULTI\r\nPING\r\nSET k zero\r\nSELECT 1\r\nSET k one\r\nECHO hi\r\nEXEC\r\n",
				want: "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*5\r\n+PONG\r\n+OK\r\n+OK\r\n+OK\r\n$2\r\nhi\r\n"},
			{req: "GET k\r\nSELECT 0\r\nGET k\r\n", want: "$3\r\none\r\n+OK\r\n$4\r\nzero\r\n"},
		}},
		{"reset", []step{
			{req: "CLIENT SETNAME me\r\nSELECT 3\r\nSET k three\r\nWATCH k\r\nMULTI\r\nRESET\r\n", want: "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n+RESET\r\n"},
			{other: true, req: "SET k zero\r\n", want: "+OK\r\n"},
			{req: "CLIENT GETNAME\r\nGET k\r\nMULTI\r\nEXEC\r\n", want: "$-1\r\n$4\r\nzero\r\n+OK\r\n*0\r\n"},
		}},
		{"readonly, readwrite, lastsave arity, wait errors", []step{
			{req: "READONLY\r\nREADWRITE\r\nLASTSAVE x\r\nWAIT a 0\r\nWAIT 1 -1\r\nWAIT 1 x\r\nWAIT 0 0\r\n",
				want: "+OK\r\n+OK\r\n-ERR wrong number of arguments for 'lastsave' command\r\n-ERR value is not an integer or out of range\r\n-ERR timeout is negative\r\n-ERR timeout is not an integer or out of range\r\n:0\r\n"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startStoreServer(t)
			mine, other := dial(t, addr), dial(t, addr)
			for i, s := range tc.steps {
				nc := mine
				if s.other {
					nc = other
				}
				if got := roundTrip(t, nc, s.req, len(s.want)); got != s.want {
					t.Fatalf("step %d %q:\n got %q\nwant %q", i, s.req, got, s.want)
				}
			}
		})
	}
}

// TestWaitCountsReplicas: WAIT answers at once from the cluster status.
func TestWaitCountsReplicas(t *testing.T) {
	tests := []struct {
		name string
		st   ClusterStatus
		want int
	}{
		{"single node", ClusterStatus{Role: "leader"}, 0},
		{"leader, both caught up", ClusterStatus{Role: "leader", CommitIndex: 10, Peers: []PeerStatus{{MatchIndex: 10, Voter: true}, {MatchIndex: 12, Voter: true}}}, 2},
		{"leader, one behind", ClusterStatus{Role: "leader", CommitIndex: 10, Peers: []PeerStatus{{MatchIndex: 10, Voter: true}, {MatchIndex: 3, Voter: true}}}, 1},
		{"leader, learner not counted", ClusterStatus{Role: "leader", CommitIndex: 10, Peers: []PeerStatus{{MatchIndex: 10, Voter: true}, {MatchIndex: 10, Voter: true}, {MatchIndex: 10}}}, 2},
		{"follower of 3: the majority", ClusterStatus{Role: "follower", Peers: []PeerStatus{{Voter: true}, {Voter: true}}}, 1},
		{"follower of 5", ClusterStatus{Role: "follower", Peers: []PeerStatus{{Voter: true}, {Voter: true}, {Voter: true}, {Voter: true}}}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := replicasHoldingCommitted(tc.st); got != tc.want {
				t.Fatalf("replicasHoldingCommitted = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestClientListShowsMulti: another connection sees a client inside MULTI
// with flag x and its queue length, as Redis shows them.
func TestClientListShowsMulti(t *testing.T) {
	addr, _ := startStoreServer(t)
	mine, other := dial(t, addr), dial(t, addr)
	if got := roundTrip(t, mine, "MULTI\r\nSET a 1\r\nPING\r\n", len("+OK\r\n+QUEUED\r\n+QUEUED\r\n")); got != "+OK\r\n+QUEUED\r\n+QUEUED\r\n" {
		t.Fatalf("MULTI: %q", got)
	}
	list := readBulk(t, other, "CLIENT LIST ID 1\r\n")
	if !strings.Contains(list, " flags=x ") || !strings.Contains(list, " multi=2 ") {
		t.Fatalf("CLIENT LIST of a client in MULTI: %q, want flags=x and multi=2", list)
	}
	if got := roundTrip(t, mine, "DISCARD\r\n", 5); got != "+OK\r\n" {
		t.Fatalf("DISCARD: %q", got)
	}
	list = readBulk(t, other, "CLIENT LIST ID 1\r\n")
	if !strings.Contains(list, " flags=N ") || !strings.Contains(list, " multi=-1 ") {
		t.Fatalf("CLIENT LIST after DISCARD: %q, want flags=N and multi=-1", list)
	}
}

// readBulk sends req and reads one bulk-string reply.
func readBulk(t *testing.T, nc net.Conn, req string) string {
	t.Helper()
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(nc)
	hdr, err := rd.ReadString('\n')
	if err != nil || len(hdr) < 4 || hdr[0] != '$' {
		t.Fatalf("bulk header %q: %v", hdr, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(hdr[1:]))
	if err != nil || n < 0 || n > 1<<20 {
		t.Fatalf("bulk header %q", hdr)
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(rd, body); err != nil {
		t.Fatal(err)
	}
	return string(body[:n])
}
