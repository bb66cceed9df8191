// Package jepsen is raftkv's Jepsen-style verification harness: it starts
// real raftkv processes, injects real faults (network partitions, kills,
// pauses, torn WAL tails) while concurrent clients run, and checks what the
// clients were told against what the cluster did. It has no library code;
// everything lives in its tests (Linux only: it needs network namespaces).
//
// # Running
//
//	go test ./jepsen/                       bounded run: 5 scenarios x 20 s + the broken-build check (~3 min)
//	go test -short ./jepsen/                2 scenarios x 10 s
//	go test -v -run TestJepsen ./jepsen/    the same, printing per-run reports and the summary table
//	go test -v -timeout 0 -run 'TestJepsen$' ./jepsen/ -args \
//	    -jepsen.scenarios=all -jepsen.duration=30m       a campaign, ending with a summary table
//
// Flags (after -args): -jepsen.scenarios (default | all | name,name,...),
// -jepsen.run (one run's workload time, 20s), -jepsen.duration (campaign
// length: the scenarios repeat, each run with the next seed, until it has
// passed), -jepsen.seed (replay a run: it fixes the workload and the fault
// choices, not the timing), -jepsen.out or $JEPSEN_OUT (where failed runs
// keep node data, logs and porcupine's HTML; default the temp dir),
// -jepsen.keep, -jepsen.pace (client think time, 10ms), -jepsen.check-timeout.
//
// # The network: one namespace per node
//
// The test (as root) builds a hub namespace holding a bridge, and one
// namespace per node with a veth into the bridge: node N is 10.77.0.N and
// listens on 7000 (clients) and 17000 (raft); the clients' side of the
// bridge is 10.77.0.254. Nodes run as "ip netns exec <ns> raftkv ...",
// which execs, so the PID the harness signals is raftkv itself. The
// nemesis cuts a directed link A->B with "iptables -A INPUT -s A -j DROP"
// in B's namespace and heals by flushing INPUT everywhere. Clients dial
// from the hub: a go-redis Dialer locks its OS thread, setns(2)s into the
// hub, dials, and setns's back (a socket keeps the namespace it was made
// in), so partitions never cut the clients off, as in Jepsen where the
// control node reaches every server.
//
// Why not 127.0.0.N in one namespace, as first planned: a connection dialled
// to 127.0.0.3 leaves from 127.0.0.1 whatever address the dialling server is
// bound to (the kernel picks the loopback route's preferred source, and the
// raft transport does not bind its dialer), so "-s 127.0.0.2" matches
// nothing and no partition would happen. Separate namespaces give each node
// a real source address. Namespaces, processes and rules are removed by
// t.Cleanup, failed or not.
//
// Without root or without ip/iptables the harness runs kill, pause and
// torn-tail faults only on 127.0.0.1, logs a loud "JEPSEN WITHOUT NETWORK
// FAULTS" line and skips the partition scenarios loudly; under CI=true it
// fails instead.
//
// # Clients and what a reply proves
//
// Six workers (two per node of three, or spread over five), each with one
// connection, 1.5 s timeouts and no retries, so one call is one attempt.
// Every third worker sends pipelines of three commands. They run GET, SET,
// DEL, APPEND on register keys (r0-r5, unique values so a reply delivered to
// the wrong client or out of order shows up as an impossible value), GET,
// SET, DEL, INCR on counter keys (c0-c2), and APPEND of unique tokens
// "worker.seq;" to log keys (l0, l1). Each command is recorded with its
// invocation and completion time and classified (classify):
//
//   - ok: the reply is the command's result (nil and "ERR value is not an
//     integer" included);
//   - failed: CLUSTERDOWN and TRYAGAIN (raftkv promises nothing was
//     proposed or the proposal never entered the log), a dial error (never
//     sent), and any error on a read (it tells nothing) — dropped from the
//     history;
//   - indeterminate: every other error on a write (TIMEOUT "outcome
//     unknown", MASTERDOWN, other ERR, I/O timeouts) — it may take effect at
//     any later time, so its completion is set after the end of the history,
//     and the worker continues as a new porcupine client.
//
// Calling "failed" a write that may have committed would hide exactly the
// "aborted read" bug we hunt, so only what raftkv documents as definite is.
// go-redis v9.17 pipelines need care: with MaxRetries -1 a dial error is
// returned by Exec but NOT set on the commands, which then look like
// successes with zero replies (markPipelineFailure).
//
// # Checks
//
//   - Linearizability: porcupine, with a sequential model of a Redis string
//     key (stepRegister), partitioned per key. The final reads (below) are
//     part of the history, so a write acknowledged and then lost is a
//     violation too. On a violation the HTML visualisation is written to
//     the run's artefact directory and its path printed.
//   - After healing (SIGCONT, restart the dead, flush rules, wait for a
//     leader that acknowledges a write), every node is read: KEYS * and a
//     linearizable GET of every key; all nodes must agree.
//   - Logs (checkLogs): every acknowledged token present exactly once,
//     no token applied twice (a forwarded command executed twice), none
//     applied whose client got a definite failure (aborted write), none
//     never sent, acknowledged tokens of a worker in order.
//   - Crashes: a node process that exits without the nemesis killing it.
//   - Spurious no-leader errors: CLUSTERDOWN replies to commands invoked
//     while the cluster was healthy (before the nemesis begins the first
//     fault, and from 4 s after each heal until it begins the next).
//
// Each run reports ops ok/failed/indeterminate, and per fault its kind,
// target, the time to the first acknowledged write invoked after it, and
// the longest window without an acknowledged write until the next fault.
// The campaign summary has median and worst of both per fault kind.
//
// # Scenarios
//
//	leader-kill        SIGKILL the leader, restart after 4 s: data loss on failover
//	leader-partition   isolate the leader: split brain, stale reads from the old leader
//	majority-minority  5 nodes, leader + 1 vs 3: lost updates across a split
//	one-way            peers stop hearing the leader (it still hears them); with
//	                   TCP the cut soon stalls both directions of those connections
//	bridge             5 nodes, two halves that only one node sees both of
//	pause              SIGSTOP the leader 4 s, SIGCONT: stale reads after a pause
//	kill-restart-all   SIGKILL every node, restart: empty or stale reads after a restart
//	torn-tail          kill a node, cut 1-48 bytes off its newest WAL segment, restart
//	snapshot-restart   --snapshot-threshold 200, kill one or all nodes: snapshot/log
//	                   index mismatch at restart; a restarted node restores its
//	                   snapshot and usually receives one (InstallSnapshot)
//	membership         --snapshot-threshold 200, replace-node: RAFT.REMOVENODE of a
//	                   random member (the leader too), kill, wipe its data; at
//	                   heal it starts empty with join yes and is added
//	                   (RAFT.ADDNODE) and promoted (RAFT.PROMOTE): lost or
//	                   stale data across membership changes and a rejoin
//	                   through InstallSnapshot
//	lease-partition    read-mode lease, isolate the leader: a lease read served by
//	                   the old leader after the others elected a new one
//	lease-pause        read-mode lease, SIGSTOP the leader 4 s or kill a node:
//	                   a lease counted in ticks the pause dropped, a restarted
//	                   follower that forgot its promise not to vote
//	mixed              5 nodes, snapshots, every fault above (but replace-node)
//	                   at random; one time in three a second fault lands
//	                   before the first heals
//
// The default run is leader-kill, leader-partition, pause, torn-tail,
// membership and mixed. Faults are sequential: each is healed, then 3 s of quiet, before
// the next. A torn tail cuts fsynced entries, which Raft tolerates only
// while a majority of intact logs holds them, hence one node at a time.
//
// TestBrokenBuildIsCaught builds raftkv with -tags raftkv_unsafe_reads
// (server/unsafe_reads.go: reads answer from local state, skipping
// ReadIndex) and requires porcupine to report a violation under
// leader-partition: the isolated old leader serves stale values.
package jepsen
