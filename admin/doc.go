// Package admin is the operator's side of raftkv: the subcommands of the
// raftkv binary that inspect and steer a running cluster (`raftkv status
// ADDR`, `raftkv join|remove|transfer|snapshot`). It speaks only RESP to
// the nodes — INFO's "# Raft" section and the RAFT.* commands —
// so it works against any node a client can reach, and needs no access to
// their disks.
//
// status asks the node at ADDR for its view (INFO raft), then asks every
// member that view names, and prints one row per member: id, client and
// raft address, role, term, commit and applied index, the leader's match
// index for it and its lag behind the leader's commit. A member that does
// not answer is shown as unreachable rather than left out. --json prints the
// same rows as a JSON array for scripts.
//
// join, remove and transfer send RAFT.ADDNODE/PROMOTE, RAFT.REMOVENODE and
// RAFT.TRANSFER to the node at ADDR; when it is not the leader its answer
// names the leader's client address, which they ask instead (at most five
// hops). TRYAGAIN and CLUSTERDOWN answers (a change still pending, a
// learner still catching up, an election) are retried every 100 ms until
// --timeout; anything else is reported at once. join is two changes: the
// node is added as a learner, then promoted once the leader sees it
// streaming entries — a learner that never catches up stays a learner,
// and the error says so. remove of the leader first transfers leadership
// to the most up-to-date voter (RAFT.TRANSFER) and has the new leader
// remove it: a leader removing itself steps down only when the removal
// commits, and nobody campaigns before an election timeout (the jepsen
// membership scenario measures about 1.1 s without a write then), while
// the hand-over and the removal took 14-39 ms in the e2e test. snapshot
// sends SAVE to the node at ADDR itself
// (every node snapshots its own state). Each prints one line, or a JSON
// object with --json.
package admin
