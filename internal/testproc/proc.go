package testproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Proc is one server process that a test starts and may stop and start
// again on the same data directory. Its exported fields describe it and
// are set before the first Start; they are not changed afterwards.
type Proc struct {
	ID         int      // raft node id (0 for a process that is not a node)
	ClientAddr string   // host:port of the RESP listener
	RaftAddr   string   // host:port of the peer transport ("" if none)
	Dir        string   // data directory
	LogPath    string   // stdout and stderr, appended to across restarts
	Argv       []string // the command line, program first

	// onUnexpectedExit is told about exits the harness did not ask for.
	onUnexpectedExit func(p *Proc, err error)

	mu       sync.Mutex
	cmd      *exec.Cmd
	exit     chan struct{} // closed when the process has been reaped
	paused   bool
	stopping bool // the harness sent SIGKILL or SIGTERM: the exit is expected
	exitCode int  // of the last run once reaped; -1 while it runs or if killed by a signal
}

// errNotStarted is returned by operations on a process that never ran.
var errNotStarted = errors.New("process not started")

// Start launches the process. It fails if the process already runs.
func (p *Proc) Start() error {
	if p.Running() {
		return fmt.Errorf("node %d: start: already running", p.ID)
	}
	if len(p.Argv) == 0 {
		return fmt.Errorf("node %d: start: empty command line", p.ID)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("node %d: log: %w", p.ID, err)
	}
	fmt.Fprintf(logf, "==== testproc: start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("node %d: start %s: %w", p.ID, p.Argv[0], err)
	}
	exit := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exit, p.paused, p.stopping, p.exitCode = cmd, exit, false, false, -1
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		expected := p.stopping
		p.stopping = false
		p.exitCode = cmd.ProcessState.ExitCode()
		report := p.onUnexpectedExit
		p.mu.Unlock()
		fmt.Fprintf(logf, "==== testproc: exit %s: %v (expected %v)\n", time.Now().Format(time.RFC3339Nano), err, expected)
		logf.Close()
		if !expected && report != nil {
			report(p, err)
		}
		close(exit)
	}()
	return nil
}

// Restart starts the process unless it runs.
func (p *Proc) Restart() error {
	if p.Running() {
		return nil
	}
	return p.Start()
}

// Signal sends sig to the process if it runs.
func (p *Proc) Signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signalLocked(sig)
}

func (p *Proc) signalLocked(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM:
		p.stopping = true
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	// An error means the process has already exited, which is what the
	// caller wanted or will see through Running.
	_ = p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits until the process is reaped. A paused
// process dies as well.
func (p *Proc) Kill() {
	p.mu.Lock()
	p.signalLocked(syscall.SIGKILL)
	p.paused = false
	exit := p.exit
	p.mu.Unlock()
	if exit != nil {
		<-exit
	}
}

// Term sends SIGTERM and waits up to within for the process to exit. If it
// has not, Term kills it and returns an error: a clean shutdown must not
// hang.
func (p *Proc) Term(within time.Duration) error {
	p.mu.Lock()
	p.signalLocked(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	p.signalLocked(syscall.SIGTERM)
	exit := p.exit
	p.mu.Unlock()
	if exit == nil {
		return errNotStarted
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case <-exit:
		return nil
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("node %d did not exit within %v of SIGTERM", p.ID, within)
	}
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (p *Proc) Pause()  { p.Signal(syscall.SIGSTOP) }
func (p *Proc) Resume() { p.Signal(syscall.SIGCONT) }

// Running reports whether the process is alive (a paused one is).
func (p *Proc) Running() bool {
	p.mu.Lock()
	exit := p.exit
	p.mu.Unlock()
	if exit == nil {
		return false
	}
	select {
	case <-exit:
		return false
	default:
		return true
	}
}

// Responsive reports whether the process runs and is not paused.
func (p *Proc) Responsive() bool {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	return !paused && p.Running()
}

// Exited returns a channel closed when the current run has been reaped,
// or nil if the process never started.
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// ExitCode returns the exit status of the last run once it has been
// reaped; -1 while it runs, if it never ran, or if a signal ended it.
func (p *Proc) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exit == nil {
		return -1
	}
	return p.exitCode
}

// ClientPort returns the port of ClientAddr (0 if it has none), for
// tools that take -h and -p.
func (p *Proc) ClientPort() int {
	_, port, err := net.SplitHostPort(p.ClientAddr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// Pid returns the operating system's id of the current run, 0 if none.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Mark appends a line to the process's log, so that the log shows when
// the test acted. O_APPEND writes do not interleave with the process's.
func (p *Proc) Mark(line string) {
	f, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "==== testproc: %s %s\n", time.Now().Format(time.RFC3339Nano), line)
	f.Close()
}

// Tail returns the last max lines of the process's log (the error, as a
// line, if it cannot be read).
func (p *Proc) Tail(max int) []string { return TailLines(p.LogPath, max) }

// TailLines returns the last max lines of the file at path, keeping only
// max lines in memory whatever the file's size.
func TailLines(path string, max int) []string {
	if max <= 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	ring := make([]string, 0, max)
	next := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if len(ring) < max {
			ring = append(ring, sc.Text())
			continue
		}
		ring[next] = sc.Text()
		next = (next + 1) % max
	}
	return append(ring[next:], ring[:next]...)
}
