package consensus

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files of TestInteraction")

// TestInteraction runs the scripts in testdata/interaction/*.txt against
// the test network and compares what they print with the .golden file next
// to each (go test -run TestInteraction -rewrite regenerates them; review
// the diff). A script is one command per line:
//
//	nodes N [no-prevote] [no-checkquorum]   first line: the cluster
//	campaign ID         tick ID until its election timer fires
//	tick N [ID...]      tick every node (or the given ones) N times,
//	                    stabilizing after each tick
//	stabilize           run every Ready loop and deliver until nothing
//	                    moves, printing every message
//
// Nothing but stabilize (and tick) runs the Ready loops, so requests issued
// one after the other land between the same two Readys (and batch, as
// they would).
//
//	propose ID DATA     ReadIndex: read ID REQ    transfer FROM TO
//	isolate ID          cut ID off; heal restores every link
//	status              role, term, leader, commit, applied per node
//	outcomes ID         the acks, read states and read errors node ID got
//
// Lines starting with # are copied to the output as they are.
func TestInteraction(t *testing.T) {
	files, err := filepath.Glob("testdata/interaction/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := runScript(t, file)
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *rewrite {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -rewrite to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -rewrite and review the diff):\n%s", golden, got)
			}
		})
	}
}

func runScript(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	var nw *network
	sc := bufio.NewScanner(f)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		out.WriteString("> " + line + "\n")
		args := strings.Fields(line)
		num := func(i int) uint64 {
			t.Helper()
			if i >= len(args) {
				t.Fatalf("%s:%d: %s needs argument %d", file, lineNo, args[0], i)
			}
			n, err := strconv.ParseUint(args[i], 10, 64)
			if err != nil {
				t.Fatalf("%s:%d: %v", file, lineNo, err)
			}
			return n
		}
		if args[0] != "nodes" && nw == nil {
			t.Fatalf("%s:%d: the first command must be nodes", file, lineNo)
		}
		switch args[0] {
		case "nodes":
			var opts []netOption
			for _, a := range args[2:] {
				switch a {
				case "no-prevote":
					opts = append(opts, func(c *Config) { c.PreVote = false })
				case "no-checkquorum":
					opts = append(opts, func(c *Config) { c.CheckQuorum = false })
				}
			}
			nw = newNetwork(t, int(num(1)), opts...)
			nw.trace = &out
			nw.quietOutcomes = true // the outcomes command prints them
		case "campaign":
			r := nw.nodes[NodeID(num(1))].r
			for r.role == RoleFollower {
				r.Tick(nw.nowMs)
			}
		case "tick":
			ids := []NodeID{}
			for i := 2; i < len(args); i++ {
				ids = append(ids, NodeID(num(i)))
			}
			for range num(1) {
				nw.tick(ids...)
				nw.stabilize()
			}
		case "stabilize":
			nw.stabilize()
		case "propose":
			nw.nodes[NodeID(num(1))].r.Propose(uint64(lineNo), []byte(args[2]))
		case "read":
			nw.nodes[NodeID(num(1))].r.ReadIndex(num(2))
		case "transfer":
			nw.nodes[NodeID(num(1))].r.TransferLeader(NodeID(num(2)))
		case "isolate":
			nw.isolate(NodeID(num(1)))
		case "heal":
			nw.heal()
		case "status":
			for _, id := range nw.ids {
				r := nw.nodes[id].r
				fmt.Fprintf(&out, "%d: %v term=%d lead=%d commit=%d applied=%d last=%d\n", id, r.role, r.term, r.lead,
					r.log.committed, r.log.applied, r.log.lastIndex())
			}
		case "outcomes":
			n := nw.nodes[NodeID(num(1))]
			for _, a := range n.acks {
				fmt.Fprintf(&out, "ack req=%d index=%d term=%d err=%v\n", a.RequestID, a.Index, a.Term, a.Err)
			}
			for _, rs := range n.reads {
				fmt.Fprintf(&out, "read req=%d index=%d\n", rs.RequestID, rs.Index)
			}
			for _, ra := range n.readErr {
				fmt.Fprintf(&out, "read req=%d err=%v\n", ra.RequestID, ra.Err)
			}
			n.acks, n.reads, n.readErr = nil, nil, nil
		default:
			t.Fatalf("%s:%d: unknown command %q", file, lineNo, args[0])
		}
	}
	return out.String()
}
