package compat

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// binPath is the raftkv binary, built once for the package by TestMain.
var binPath string

func TestMain(m *testing.M) { os.Exit(testproc.MainWithRaftkv(m, &binPath)) }

// requireProgram and freePorts are testproc's, under local names.
var (
	requireProgram = testproc.RequireProgram
	freePorts      = testproc.FreePorts
)

// process is one server process started by a test; it is killed at cleanup
// and its log tail is printed when the test failed.
type process struct {
	name    string
	addr    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// startProcess starts prog with args, logging to a file in dir, and waits
// until addr accepts connections and answers PING.
func startProcess(t *testing.T, name, dir, addr, prog string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s log: %v", name, err)
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, addr: addr, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pingOK(addr) {
			return p
		}
		select {
		case <-p.exited:
			p.dumpLog(t)
			t.Fatalf("%s exited during start-up", name)
		default:
		}
		if time.Now().After(deadline) {
			p.dumpLog(t)
			t.Fatalf("%s did not answer PING on %s within 10s", name, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pingOK reports whether addr answers PING with +PONG.
func pingOK(addr string) bool {
	nc, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func (p *process) dumpLog(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("---- %s log tail (%s)", p.name, p.logPath)
	for _, l := range lines {
		t.Log(l)
	}
}

// startRedis starts the reference redis-server on a free loopback port,
// without persistence, and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	prog := requireProgram(t, "redis-server")
	port := freePorts(t, 1)[0]
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
	port := freePorts(t, 1)[0]
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
// until the leader serves writes.
func startCluster3(t *testing.T) *cluster3 {
	t.Helper()
	const size = 3
	ports := freePorts(t, 2*size)
	dir := t.TempDir()
	var members []string
	for i := 0; i < size; i++ {
		members = append(members, fmt.Sprintf("%d=127.0.0.1:%d/127.0.0.1:%d", i+1, ports[2*i+1], ports[2*i]))
	}
	c := &cluster3{}
	for i := 0; i < size; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		c.addrs = append(c.addrs, addr)
		startProcess(t, fmt.Sprintf("raftkv-node%d", i+1), dir, addr, binPath,
			"--port", strconv.Itoa(ports[2*i]),
			"--bind", "127.0.0.1",
			"--dir", filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
			"--node-id", strconv.Itoa(i+1),
			"--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			"--cluster", strings.Join(members, ","),
			"--cluster-id", "compat",
			"--election-timeout", "1000",
			"--heartbeat-interval", "100",
		)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range c.addrs {
			if infoField(a, "raft", "raft_role") == "leader" {
				c.leader = a
			}
		}
		if c.leader != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c.leader == "" {
		t.Fatalf("no leader within 20s")
	}
	for _, a := range c.addrs {
		if a != c.leader {
			c.followers = append(c.followers, a)
		}
	}
	waitWritable(t, c.leader, 15*time.Second)
	for _, f := range c.followers {
		waitWritable(t, f, 15*time.Second)
	}
	return c
}

// infoField returns one field of an INFO section, "" on any failure.
func infoField(addr, section, field string) string {
	conn, err := dial(addr)
	if err != nil {
		return ""
	}
	defer conn.close()
	v, err := conn.do([]byte("INFO"), []byte(section))
	if err != nil || v.kind != '$' && v.kind != '=' {
		return ""
	}
	for _, line := range strings.Split(string(v.str), "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && k == field {
			return val
		}
	}
	return ""
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
