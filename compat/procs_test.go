package compat

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// binPath is the raftkv binary, built once for the package by TestMain.
var binPath string

func TestMain(m *testing.M) { os.Exit(testproc.MainWithRaftkv(m, &binPath)) }

// startProcess starts prog with args, logging to name.log in dir, and
// waits until addr answers PING. It is killed at cleanup and its log tail
// is printed when the test failed.
func startProcess(t *testing.T, name, dir, addr, prog string, args ...string) {
	t.Helper()
	c := testproc.NewCluster(t, testproc.Options{})
	p := &testproc.Proc{ClientAddr: addr, LogPath: filepath.Join(dir, name+".log"), Argv: append([]string{prog}, args...)}
	if err := c.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitAnswering(context.Background(), p, 10*time.Second); err != nil {
		c.DumpLog(p)
		t.Fatalf("%s: %v", name, err)
	}
}

// startRedis starts the reference redis-server on a free loopback port,
// without persistence, and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	prog := testproc.RequireProgram(t, "redis-server")
	port := testproc.FreePorts(t, 1)[0]
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "redis-server", dir, addr, prog,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	return addr
}

// startRaftkv starts a single-node raftkv and returns its address.
func startRaftkv(t *testing.T) string {
	t.Helper()
	port := testproc.FreePorts(t, 1)[0]
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	startProcess(t, "raftkv", dir, addr, binPath,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", filepath.Join(dir, "data"),
		// Durability is not what this test compares; fsync per write would
		// only slow the streams down.
		"--appendfsync", "no")
	waitWritable(t, addr, 15*time.Second)
	return addr
}

// cluster3 is a 3-node raftkv cluster on loopback.
type cluster3 struct {
	addrs  []string
	leader string
	// followers are the addresses of the nodes that are not the leader.
	followers []string
}

// startCluster3 starts three raftkv nodes that form one cluster and waits
// until the leader, and each follower, serves writes.
func startCluster3(t *testing.T) *cluster3 {
	t.Helper()
	tc := testproc.StartCluster(t, testproc.Options{Bin: binPath, Size: 3, ClusterID: "compat", ProbeKey: "__compat_probe"})
	l := tc.RequireLeader(20 * time.Second)
	c := &cluster3{leader: l.ClientAddr}
	for _, p := range tc.Procs {
		c.addrs = append(c.addrs, p.ClientAddr)
		if p != l {
			c.followers = append(c.followers, p.ClientAddr)
		}
	}
	// waitWritable also deletes the probe key, which StartCluster's
	// leader probe wrote: the differential tests compare whole keyspaces.
	waitWritable(t, c.leader, 15*time.Second)
	for _, f := range c.followers {
		waitWritable(t, f, 15*time.Second)
	}
	return c
}

// waitWritable waits until a SET through addr succeeds (a leader is known
// and the write committed), then removes the probe key.
func waitWritable(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		conn, err := dial(addr)
		if err == nil {
			v, err := conn.do([]byte("SET"), []byte("__compat_probe"), []byte("1"))
			if err == nil && v.kind == '+' {
				_, _ = conn.do([]byte("DEL"), []byte("__compat_probe"))
				conn.close()
				return
			}
			if err != nil {
				last = err.Error()
			} else {
				last = string(v.raw)
			}
			conn.close()
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not accept a write within %v (last: %q)", addr, within, last)
}

// dialPair connects to the reference server (redis-server) and the server
// under test; both connections close when the test ends.
func dialPair(t *testing.T, refAddr, sutAddr string) (ref, sut *conn) {
	t.Helper()
	ref, err := dial(refAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.close() })
	sut, err = dial(sutAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sut.close() })
	return ref, sut
}
