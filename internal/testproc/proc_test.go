package testproc

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// shProc returns a process running script with sh, logging into a
// temporary directory, in a cluster (for its cleanup and exit records).
func shProc(t *testing.T, script string) (*Cluster, *Proc) {
	t.Helper()
	sh := RequireProgram(t, "sh")
	c := NewCluster(t, Options{})
	p := &Proc{ID: 7, LogPath: filepath.Join(t.TempDir(), "p.log"), Argv: []string{sh, "-c", script}}
	if err := c.Add(p); err != nil {
		t.Fatal(err)
	}
	return c, p
}

func waitExit(t *testing.T, p *Proc) {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("node %d still runs", p.ID)
	}
}

// waitLine waits until p's log has the line want: the process has got
// that far.
func waitLine(t *testing.T, p *Proc, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(p.Tail(10), want) {
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not log %q", p.ID, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcLifecycle(t *testing.T) {
	c, p := shProc(t, "echo started; exec sleep 30")
	waitLine(t, p, "started")
	if !p.Running() || !p.Responsive() || p.Pid() == 0 {
		t.Fatalf("after Start: running %v responsive %v pid %d", p.Running(), p.Responsive(), p.Pid())
	}
	if err := p.Start(); err == nil {
		t.Fatalf("a second Start of a running process succeeded")
	}
	p.Pause()
	if !p.Running() || p.Responsive() {
		t.Fatalf("paused: running %v responsive %v", p.Running(), p.Responsive())
	}
	// Term resumes a paused process so that it can handle SIGTERM.
	if err := p.Term(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatalf("running after Term")
	}
	if err := p.Restart(); err != nil || !p.Running() {
		t.Fatalf("Restart: %v, running %v", err, p.Running())
	}
	if err := p.Restart(); err != nil {
		t.Fatalf("Restart of a running process: %v", err)
	}
	p.Kill()
	if p.Running() {
		t.Fatalf("running after Kill")
	}
	if got := c.UnexpectedExits(); len(got) != 0 {
		t.Errorf("exits the harness asked for were recorded as unexpected: %v", got)
	}
	log := strings.Join(p.Tail(100), "\n")
	if n := strings.Count(log, "==== testproc: start"); n != 2 {
		t.Errorf("log has %d start markers, want 2:\n%s", n, log)
	}
	if !strings.Contains(log, "started") {
		t.Errorf("the process's own output is not in its log:\n%s", log)
	}
}

func TestProcUnexpectedExit(t *testing.T) {
	c, p := shProc(t, "exit 3")
	waitExit(t, p)
	if got := p.ExitCode(); got != 3 {
		t.Errorf("exit code %d, want 3", got)
	}
	got := c.UnexpectedExits()
	if len(got) != 1 || !strings.Contains(got[0], "node 7") {
		t.Errorf("unexpected exits %q, want one naming node 7", got)
	}
}

func TestProcTermHangs(t *testing.T) {
	// A process that ignores SIGTERM is killed, and Term says so.
	_, p := shProc(t, "trap '' TERM; echo ready; while :; do sleep 0.05; done")
	waitLine(t, p, "ready") // the trap is set before SIGTERM is sent
	start := time.Now()
	if err := p.Term(300 * time.Millisecond); err == nil {
		t.Fatalf("Term of a process that ignores SIGTERM returned nil")
	}
	if p.Running() || time.Since(start) > 5*time.Second {
		t.Fatalf("after Term: running %v, took %v", p.Running(), time.Since(start))
	}
}

func TestTailLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		max  int
		want []string
	}{
		{0, nil},
		{1, []string{"line 10"}},
		{3, []string{"line 8", "line 9", "line 10"}},
		{20, strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")},
	}
	for _, tt := range tests {
		if got := TailLines(path, tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("TailLines(%d) = %q, want %q", tt.max, got, tt.want)
		}
	}
	if got := TailLines(filepath.Join(t.TempDir(), "missing"), 5); len(got) != 1 {
		t.Errorf("missing file: %q, want one error line", got)
	}
}
