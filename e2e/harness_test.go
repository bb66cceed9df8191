package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/raftkv/raftkv/internal/testproc"
)

// binPath is the raftkv binary built once for the whole package.
var binPath string

func TestMain(m *testing.M) { os.Exit(testproc.MainWithRaftkv(m, &binPath)) }

// node is one raftkv process of a test cluster (see internal/testproc).
type node = testproc.Proc

// cluster is testproc's cluster with the e2e suite's conveniences: the
// calls fail the test instead of returning errors.
type cluster struct {
	*testproc.Cluster
	t *testing.T
}

// clusterOptions tune newCluster.
type clusterOptions struct {
	size  int      // 3 if 0
	extra []string // more --directive value flags for every node
}

// newCluster starts size nodes that form one cluster, and waits until a
// leader serves writes.
func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	return &cluster{t: t, Cluster: testproc.StartCluster(t, testproc.Options{
		Bin:       binPath,
		Size:      opts.size,
		ClusterID: "e2e",
		Extra:     opts.extra,
		ProbeKey:  "__e2e_probe",
	})}
}

// start starts n again on its data directory.
func (c *cluster) start(n *node) {
	c.t.Helper()
	if err := n.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// stop sends SIGTERM and waits up to 10 s for a clean exit.
func (c *cluster) stop(n *node) {
	c.t.Helper()
	if err := n.Term(10 * time.Second); err != nil {
		c.t.Error(err)
	}
}

// client returns a go-redis client for n with short timeouts and no retries,
// so that each call is one attempt; it is closed at cleanup.
func (c *cluster) client(n *node) *redis.Client {
	rc := redis.NewClient(&redis.Options{
		Addr:         n.ClientAddr,
		DialTimeout:  time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 2 * time.Second,
		MaxRetries:   -1,
	})
	c.t.Cleanup(func() { rc.Close() })
	return rc
}
