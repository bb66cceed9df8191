package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// waitLog waits until n's log contains substr.
func waitLog(t *testing.T, n *node, substr string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(n.LogPath)
		if strings.Contains(string(b), substr) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// TestForeignPeersRefused: a node of another cluster, and a node without the
// cluster secret, are refused by the cluster's nodes with a logged reason;
// the cluster keeps working.
func TestForeignPeersRefused(t *testing.T) {
	c := newCluster(t, clusterOptions{extra: []string{"--cluster-secret", "s3cret"}})
	l := c.RequireLeader(10 * time.Second)
	target := c.Procs[0]

	cases := []struct {
		name  string
		extra []string
	}{
		{"other cluster id", []string{"--cluster-id", "not-e2e", "--cluster-secret", "s3cret"}},
		{"no secret", []string{"--cluster-id", "e2e"}},
		{"wrong secret", []string{"--cluster-id", "e2e", "--cluster-secret", "guess"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ports := testproc.FreePorts(t, 2)
			in := &node{
				ID:         9,
				ClientAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
				RaftAddr:   fmt.Sprintf("127.0.0.1:%d", ports[1]),
				Dir:        filepath.Join(t.TempDir(), "intruder"),
				LogPath:    filepath.Join(t.TempDir(), fmt.Sprintf("intruder%d.log", i)),
			}
			// The intruder claims to be node 9 in a cluster with our node 1,
			// so it dials node 1's raft port.
			members := fmt.Sprintf("9=%s/%s,%d=%s/%s", in.RaftAddr, in.ClientAddr, target.ID, target.RaftAddr, target.ClientAddr)
			in.Argv = append([]string{binPath,
				"--port", strconv.Itoa(ports[0]), "--dir", in.Dir, "--node-id", "9",
				"--raft-addr", in.RaftAddr, "--cluster", members,
				"--election-timeout", "1000", "--heartbeat-interval", "100",
			}, tc.extra...)
			ic := testproc.NewCluster(t, testproc.Options{})
			if err := ic.Add(in); err != nil {
				t.Fatal(err)
			}
			if !waitLog(t, in, "refused", 10*time.Second) && !waitLog(t, target, "refused", time.Second) {
				c.DumpLog(target)
				ic.DumpLog(in)
				t.Fatalf("no refusal logged by either side")
			}
		})
	}
	if c.Leader(context.Background()) == nil {
		t.Fatalf("the cluster lost its leader to intruders")
	}
	_ = l
}

// TestOversizedFrameRefused: a peer announcing a huge frame is disconnected
// without the node allocating it; the node keeps serving.
func TestOversizedFrameRefused(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	target := c.Procs[1]
	conn, err := net.DialTimeout("tcp", target.RaftAddr, time.Second)
	if err != nil {
		t.Fatalf("dial raft port: %v", err)
	}
	defer conn.Close()
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], 0xFFFFFFF0) // ~4 GiB
	hdr[4] = 1
	conn.Write(hdr[:])
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	var readErr error
	for readErr == nil {
		_, readErr = conn.Read(buf)
	}
	if ne, ok := readErr.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection left open after an oversized frame")
	}
	c.RequireLeader(10 * time.Second)
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", target.Pid())); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				t.Logf("node %d peak RSS after the oversized frame: %s", target.ID, strings.TrimSpace(line[6:]))
				f := strings.Fields(line)
				if kb, _ := strconv.Atoi(f[1]); kb > 1<<20 {
					t.Errorf("peak RSS %d kB: the frame was allocated", kb)
				}
			}
		}
	}
}
