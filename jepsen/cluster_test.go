//go:build linux

package jepsen

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// Ports inside a node's own namespace: every node has its own address, so
// they can all use the same ports.
const (
	nsClientPort = 7000
	nsRaftPort   = 17000
)

// node is one raftkv process (see internal/testproc).
type node = testproc.Proc

// cluster is testproc's cluster, in a netLab when one could be built.
type cluster struct {
	*testproc.Cluster
	t   *testing.T
	lab *netLab // nil: all nodes on 127.0.0.1, process faults only
}

// clusterSpec says what to start.
type clusterSpec struct {
	bin   string   // raftkv binary
	size  int      // 3 or 5
	dir   string   // run directory: data dirs and logs
	extra []string // more flags for every node
}

// newCluster starts spec.size nodes and waits for a leader that serves
// writes. Processes and namespaces are removed by t.Cleanup, failed or not.
func newCluster(t *testing.T, lab *netLab, spec clusterSpec) *cluster {
	t.Helper()
	opts := testproc.Options{
		Bin:         spec.bin,
		Size:        spec.size,
		Dir:         spec.dir,
		ClusterID:   "jepsen",
		Extra:       append([]string{"--request-timeout", "1000"}, spec.extra...),
		ProbeKey:    "jepsen:probe",
		ReadyWithin: 20 * time.Second,
	}
	if lab != nil {
		opts.Addrs = func(id int) (string, string) {
			return net.JoinHostPort(lab.nodeIP(id), strconv.Itoa(nsClientPort)),
				net.JoinHostPort(lab.nodeIP(id), strconv.Itoa(nsRaftPort))
		}
		opts.Wrap = lab.wrap
		opts.Dial = lab.dial
	}
	return &cluster{Cluster: testproc.StartCluster(t, opts), t: t, lab: lab}
}

// start starts n again; a failure is an error of the run, not a reason to
// stop healing the others (it may be called from the nemesis goroutine).
func (c *cluster) start(n *node) {
	if err := n.Start(); err != nil {
		c.t.Error(err)
	}
}

// restart starts n unless it runs: heals of overlapping faults may both
// want to restart the same node.
func (c *cluster) restart(n *node) {
	if err := n.Restart(); err != nil {
		c.t.Error(err)
	}
}

// lastSegment returns the newest WAL log segment of n.
func lastSegment(n *node) (string, error) {
	segs, err := testproc.WALSegments(n.Dir)
	if err != nil {
		return "", fmt.Errorf("node %d: %w", n.ID, err)
	}
	return segs[len(segs)-1], nil
}
