package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of process management. A server that is not up in startTimeout
// is broken, not slow; stopTimeout is raftkv's own shutdown budget (5 s)
// plus a margin before SIGKILL.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	pollInterval = 2 * time.Millisecond
)

// process is one server process this harness started.
type process struct {
	name    string
	port    int    // client port
	pprof   string // host:port of net/http/pprof, "" if none
	args    []string
	binary  string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// start launches the process with its output going to logPath.
func (p *process) start() error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// No Pdeathsig: Linux sends it when the parent *thread* exits, and the
	// Go runtime may retire the thread that forked, killing a healthy
	// server mid-run. The harness stops its servers on return and on
	// SIGINT/SIGTERM instead; after a SIGKILL of the harness they stay.
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s (%s): %w", p.name, p.binary, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to exit (SIGTERM) and kills it if it does not.
func (p *process) stop() error {
	if p.cmd == nil || p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("stop %s: no exit %v after SIGTERM, killed", p.name, stopTimeout)
	}
}

func (p *process) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// system is one server under test: one process, or three for the cluster.
type system struct {
	name   string
	procs  []*process
	target *process // the process clients talk to (the leader of a cluster)
}

// cpuTicks sums utime+stime over the system's processes.
func (s *system) cpuTicks() (uint64, error) {
	var sum uint64
	for _, p := range s.procs {
		if p.exited() {
			return 0, fmt.Errorf("%s: %s exited: %v (log %s)", s.name, p.name, p.waitErr, p.logPath)
		}
		t, err := cpuTicks(p.pid())
		if err != nil {
			return 0, fmt.Errorf("%s: %w", s.name, err)
		}
		sum += t
	}
	return sum, nil
}

func (s *system) stop() error {
	var errs []error
	for _, p := range s.procs {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// freePorts asks the kernel for n distinct free loopback ports. They are
// released before the servers bind them; on a shared machine another
// process could take one in between, which shows as a start failure.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// launcher starts systems with fresh data directories under root.
type launcher struct {
	root        string // all data dirs and logs, on the disk being measured
	raftkvBin   string
	redisBin    string
	pprofPorts  bool     // raftkvBin is the pprof wrapper: give each node --pprof-addr
	raftkvExtra []string // more raftkv flags for every node (-raftkv-args)
	logger      *slog.Logger
	seq         int
}

func (l *launcher) freshDir(name string) (string, error) {
	l.seq++
	dir := filepath.Join(l.root, fmt.Sprintf("%02d-%s", l.seq, name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return dir, nil
}

// startRedis starts redis-server without persistence, or with an
// append-only file fsynced on every write when aof is set.
func (l *launcher) startRedis(ctx context.Context, name string, aof bool) (*system, error) {
	dir, err := l.freshDir(name)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	args := []string{"--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no", "--logfile", ""}
	if aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	p := &process{name: name, port: ports[0], args: args, binary: l.redisBin, logPath: filepath.Join(dir, "server.log")}
	sys := &system{name: name, procs: []*process{p}, target: p}
	if err := p.start(); err != nil {
		return nil, err
	}
	if err := waitPing(ctx, p, startTimeout); err != nil {
		sys.stop()
		return nil, err
	}
	return sys, nil
}

// startRaftKV starts a cluster of n raftkv nodes on fresh directories and
// waits until a leader accepts a write.
func (l *launcher) startRaftKV(ctx context.Context, name string, n int) (*system, error) {
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	var members []string
	for i := range n {
		members = append(members, fmt.Sprintf("%d=127.0.0.1:%d/127.0.0.1:%d", i+1, ports[n+i], ports[i]))
	}
	sys := &system{name: name}
	for i := range n {
		dir, err := l.freshDir(fmt.Sprintf("%s-node%d", name, i+1))
		if err != nil {
			return nil, err
		}
		args := []string{"--port", strconv.Itoa(ports[i]), "--bind", "127.0.0.1", "--dir", dir,
			"--node-id", strconv.Itoa(i + 1), "--raft-addr", fmt.Sprintf("127.0.0.1:%d", ports[n+i]),
			"--loglevel", "warning"}
		args = append(args, l.raftkvExtra...)
		if n > 1 {
			args = append(args, "--cluster", strings.Join(members, ","), "--cluster-id", "bench")
		}
		p := &process{name: fmt.Sprintf("%s/node%d", name, i+1), port: ports[i], args: args,
			binary: l.raftkvBin, logPath: filepath.Join(dir, "server.log")}
		if l.pprofPorts {
			p.pprof = fmt.Sprintf("127.0.0.1:%d", ports[2*n+i])
			p.args = append(p.args, "--pprof-addr", p.pprof)
		}
		sys.procs = append(sys.procs, p)
	}
	for _, p := range sys.procs {
		if err := p.start(); err != nil {
			sys.stop()
			return nil, err
		}
	}
	for _, p := range sys.procs {
		if err := waitPing(ctx, p, startTimeout); err != nil {
			sys.stop()
			return nil, err
		}
	}
	leader, err := waitLeader(ctx, sys, startTimeout)
	if err != nil {
		sys.stop()
		return nil, err
	}
	sys.target = leader
	return sys, nil
}

// restart stops p and starts it again on the same directory, returning the
// time from process start until it answers PING and GET key with want.
func restartTimed(ctx context.Context, p *process, key, want string) (time.Duration, error) {
	if err := p.stop(); err != nil {
		return 0, err
	}
	begin := time.Now()
	if err := p.start(); err != nil {
		return 0, err
	}
	c := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 2 * time.Second, PoolSize: 1})
	defer c.Close()
	deadline := begin.Add(startTimeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return 0, fmt.Errorf("restart %s: exited: %v (log %s)", p.name, p.waitErr, p.logPath)
		}
		if c.Ping(ctx).Err() == nil {
			got, err := c.Get(ctx, key).Result()
			if err == nil && got == want {
				return time.Since(begin), nil
			}
			if err == nil {
				return 0, fmt.Errorf("restart %s: GET %s = %q, want %q", p.name, key, got, want)
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	return 0, fmt.Errorf("restart %s: not serving GET %s within %v (log %s)", p.name, key, startTimeout, p.logPath)
}

// waitPing waits until p answers PING.
func waitPing(ctx context.Context, p *process, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond, PoolSize: 1})
	defer c.Close()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited at start: %v (log %s)", p.name, p.waitErr, p.logPath)
		}
		if last = c.Ping(ctx).Err(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: no PONG within %v: %w (log %s)", p.name, within, last, p.logPath)
}

// waitLeader finds the node whose INFO says raft_role:leader and that takes
// a write.
func waitLeader(ctx context.Context, sys *system, within time.Duration) (*process, error) {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		for _, p := range sys.procs {
			c := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1, PoolSize: 1, ReadTimeout: 2 * time.Second})
			info, err := c.Info(ctx, "raft").Result()
			if err == nil && strings.Contains(info, "raft_role:leader") {
				err = c.Set(ctx, "__bench_probe", "1", 0).Err()
				if err == nil {
					c.Close()
					return p, nil
				}
			}
			if err != nil {
				last = err
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("%s: no leader taking writes within %v (last error: %v)", sys.name, within, last)
}
