package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestShutdownLogsNamesTheNewLeader: the log lines an operator reads during
// a rolling restart say who leads now and name the node once. A leader
// steps down (the target's higher term) a moment before it hears from the
// new leader, and the log used to say "leadership transferred to=0"; the
// start line said "node=1 node=1".
func TestShutdownLogsNamesTheNewLeader(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	old := c.RequireLeader(10 * time.Second)
	c.stop(old)
	logText, err := os.ReadFile(old.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	transferred := regexp.MustCompile(`msg="shutdown: leadership transferred".* to=(\d+)`).FindSubmatch(logText)
	if transferred == nil {
		t.Fatalf("the old leader did not log the transfer:\n%s", logText)
	}
	to, _ := strconv.Atoi(string(transferred[1]))
	var others []int
	for _, n := range c.Others(old) {
		others = append(others, n.ID)
	}
	found := false
	for _, id := range others {
		found = found || id == to
	}
	if !found {
		t.Errorf("the old leader %d logged the transfer to %d; want one of %v", old.ID, to, others)
	}
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.Contains(line, `msg="raftkv serving"`) || strings.Contains(line, `msg="transport listening"`) {
			if n := strings.Count(line, " node="); n != 1 {
				t.Errorf("%d node= attributes, want 1: %s", n, line)
			}
		}
	}
}
