// Package admin is the operator's side of raftkv: the subcommands of the
// raftkv binary that inspect and steer a running cluster (`raftkv status
// ADDR`). It speaks only RESP to the nodes — INFO's "# Raft" section today —
// so it works against any node a client can reach, and needs no access to
// their disks.
//
// status asks the node at ADDR for its view (INFO raft), then asks every
// member that view names, and prints one row per member: id, client and
// raft address, role, term, commit and applied index, the leader's match
// index for it and its lag behind the leader's commit. A member that does
// not answer is shown as unreachable rather than left out. --json prints the
// same rows as a JSON array for scripts.
package admin
