// Package testproc holds what the process-level test suites (e2e, compat,
// jepsen) share: building the raftkv binary, finding outside programs with
// the CI rule, picking free loopback ports, and running raftkv processes
// and clusters of them. It is imported by tests only.
//
// # Processes
//
// A Proc is one server process that a test starts, stops and starts again
// on the same data directory: Start, Kill (SIGKILL, waits until reaped),
// Term (SIGTERM, waits for a clean exit within a bound, then SIGKILL),
// Pause/Resume (SIGSTOP/SIGCONT) and Restart (start unless it runs, so
// that overlapping heals of a nemesis may both ask for it). Its output goes
// to a log file that is appended to across restarts, with a marker line at
// each start and exit, so that one file tells the node's whole story; Tail
// returns its last lines for a failure report.
//
// A Proc remembers whether the harness asked it to exit. An exit it did not
// ask for (a crash, a panic, a failed start-up) is recorded by its Cluster
// and returned by UnexpectedExits: Jepsen reports them as violations, and
// every suite can assert there were none.
//
// # Clusters
//
// StartCluster starts N raftkv nodes that form one cluster and waits until a
// leader acknowledges a write. By default the nodes listen on free
// loopback ports with the election timeout and heartbeat the suites use
// (ElectionTimeout, 100 ms); Options.Addrs and Options.Wrap place them
// elsewhere (Jepsen runs each node in its own network namespace with
// "ip netns exec", and Options.Dial reaches them from the test). t.Cleanup
// kills every process and, when the test failed, prints each node's log
// tail.
//
// Queries go through RESP with go-redis: Info parses an INFO section,
// Leader asks every responsive node for its role, WaitLeader waits for a
// leader that acknowledges a probe write (a role alone is not enough: a
// leader that has not yet committed an entry of its term cannot serve), and
// WaitCaughtUp waits until a node answers and has applied everything the
// leader had committed when it was called — "serves again" after a
// restart.
//
// Every wait is bounded by a duration and a context, polls every few tens
// of milliseconds (a process's readiness is not an event the test can
// subscribe to), and returns an error that says what it last saw; the
// caller decides whether that fails the test.
package testproc
