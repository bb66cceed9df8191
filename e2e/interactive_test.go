package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testproc"
)

// tmuxSession drives an interactive program in a real terminal (tmux), so
// that redis-cli runs its interactive start-up (COMMAND DOCS for hints).
type tmuxSession struct {
	t      *testing.T
	tmux   string
	socket string
}

func newTmux(t *testing.T, command string) *tmuxSession {
	t.Helper()
	tm := &tmuxSession{t: t, tmux: testproc.RequireProgram(t, "tmux"), socket: fmt.Sprintf("rkv-e2e-%d", time.Now().UnixNano())}
	if out, err := exec.Command(tm.tmux, "-L", tm.socket, "new-session", "-d", "-s", "s", "-x", "200", "-y", "50", command).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(tm.tmux, "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *tmuxSession) keys(keys ...string) {
	tm.t.Helper()
	args := append([]string{"-L", tm.socket, "send-keys", "-t", "s"}, keys...)
	if out, err := exec.Command(tm.tmux, args...).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
}

func (tm *tmuxSession) screen() string {
	out, _ := exec.Command(tm.tmux, "-L", tm.socket, "capture-pane", "-p", "-t", "s").Output()
	return string(out)
}

// waitScreen waits until the screen satisfies ok.
func (tm *tmuxSession) waitScreen(what string, ok func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := tm.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("terminal never showed %s; screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisCLIInteractive: redis-cli's interactive mode starts against a
// follower (it sends COMMAND DOCS for its hints), shows hints, and runs
// commands.
func TestRedisCLIInteractive(t *testing.T) {
	cli := testproc.RequireProgram(t, "redis-cli")
	c := newCluster(t, clusterOptions{})
	l := c.RequireLeader(10 * time.Second)
	f := c.Followers(l)[0]
	tm := newTmux(t, fmt.Sprintf("%s -h 127.0.0.1 -p %d", cli, f.ClientPort()))
	prompt := fmt.Sprintf("127.0.0.1:%d>", f.ClientPort())
	tm.waitScreen("the prompt", func(s string) bool { return strings.Contains(s, prompt) })
	tm.keys("set interactive:key hello", "Enter")
	tm.waitScreen("OK", func(s string) bool { return strings.Contains(s, "OK") })
	// Hints come from COMMAND DOCS: typing "get " shows the argument name.
	tm.keys("get ")
	tm.waitScreen("the hint for GET", func(s string) bool {
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, prompt+" get ") && strings.Contains(line, "key") {
				return true
			}
		}
		return false
	})
	tm.keys("C-u", "get interactive:key", "Enter")
	tm.waitScreen(`"hello"`, func(s string) bool { return strings.Contains(s, `"hello"`) })
}
