// Package consensus is raftkv's Raft: the deterministic core (Raft, this
// file's neighbours raft.go, log.go, progress.go, inflights.go, quorum.go,
// readindex.go, snapshot.go), the contract types shared with the node loop
// and the simulator (types.go, message.go, ready.go), an in-memory
// LogStorage/StateStorage/SnapshotSource for tests (memstorage.go), and the
// node loop that drives the core (node.go, owned separately).
//
// # Why a pure core
//
// The core is a state machine in the style of etcd-io/raft: events in,
// effects out as data. It does no I/O except reading Config.Log and
// Config.Snapshots, reads no clock, starts no goroutine and draws
// randomness only from its own generator seeded by Config.Seed. So one
// goroutine can own it without locks, and a simulator can run whole
// clusters in one goroutine, reproducibly from a seed.
//
// # Events
//
//   - Tick(nowMs): one logical tick. Timeouts are counted in ticks; nowMs
//     is only used to stamp new entries (Entry.TimeMs, never decreasing).
//   - Step(m): a message from a peer. Malformed messages (unknown type,
//     wrong recipient, entries whose indexes or terms do not line up) are
//     refused with an error and change nothing.
//   - Propose(requestID, data), ProposeConfChange(requestID, cc),
//     ReadIndex(requestID), TransferLeader(to): client requests; their
//     outcomes come back in a later Ready.
//
// # Effects (Ready) and the loop contract
//
// The loop takes rd := Ready() whenever HasReady(), then, in order: sends
// rd.Messages; spools rd.SnapshotChunks (pieces of a snapshot arriving from
// the leader, see SnapshotChunk and SnapshotSpool); installs rd.Snapshot
// (makes the spooled body durable, restores the state machine from it,
// resets the log, e.g. MemoryStorage.ApplySnapshot); writes rd.HardState (when
// HardStateChanged) and rd.Entries durably in one batch; only then sends
// rd.MessagesAfterPersist; hands rd.CommittedEntries to the applier and
// settles ReadStates, ProposalAcks and ReadAcks; and calls Advance(rd).
// Nothing else may be fed to the core between Ready and Advance.
//
// Messages that promise local durability go after persistence: MsgAppResp
// (the entries are in our log), MsgVote (the candidate's own vote),
// MsgVoteResp (our vote) and MsgSnapResp (the chunk is in our spool, so
// the leader's next chunk waits for our disk: InstallSnapshot's flow
// control). Everything else, notably the leader's MsgApp,
// goes at once: the leader writes its own log in parallel with sending it
// (thesis §10.2.1) and counts itself in the commit quorum only for entries
// the loop has confirmed durable (Advance, or StableTo below).
//
// # Asynchronous storage writes (Config.AsyncStorageWrites, node.go)
//
// An fsync here costs 0.25-0.6 ms, more than a loopback round trip. With
// the writes inside the Ready/Advance pair, a leader sitting in its fsync
// cannot step the followers' acks that arrive meanwhile, so a batch whose
// quorum forms during the leader's next fsync commits one whole fsync
// late, and proposals and reads wait too. So the node loop hands each
// Ready's hard state, entries and MessagesAfterPersist to a persister
// goroutine and calls Advance at once; the persister does the jobs
// strictly in order, merging all that queued during one write into the
// next (group commit: one hard state write, one Append, one fsync), then
// sends the jobs' MessagesAfterPersist and tells the loop, which calls
// StableTo(index, term) of the last entry written. The core learns
// durability as that event, not at Advance: entries handed out stay in
// raftLog.unstable (read from there, sent to followers from there) and
// are marked in progress, so no later Ready hands them out again; a
// follower's suffix overwrite lowers the mark so the new entries go out in
// the next Ready, and a StableTo for the overwritten write no longer
// matches the log (its term differs) and is ignored. The leader counts
// itself at StableTo only, but commits as soon as any quorum is durable:
// with three nodes, two followers may beat the leader's own disk. A
// one-node cluster commits at StableTo.
//
// Term and vote changes go through the same queue: a vote is promised only
// by MsgVote/MsgVoteResp, which leave after the write that holds it, and
// the leader's MsgApp of a new term never depended on its hard state (it
// was sent before the write under the synchronous contract too). A
// snapshot from the leader (Ready.Snapshot or SnapshotChunks) is handled
// synchronously: the loop waits for the persister to drain, then spools,
// installs and writes as before. Committed entries may be applied before
// the local write completes, so the node snapshots only at an index whose
// write has completed (Node.SnapshotMeta waits for it: until then the
// disk may hold an overwritten entry there) and compacts only up to the
// core's stable index. The queue is bounded (persistQueueLen Readys): a
// full queue makes the loop wait, back-pressure from the disk.
//
// The fsync in the loop was also the replication path's batching window:
// a loop that no longer waits for its disk turns once per event, and with
// many MsgApps allowed in flight each turn's one or two proposals left as
// their own MsgApp, each acked by its own MsgAppResp (1.3x the CPU per SET
// at -P 1, bench/RESULTS.md round 3). So the persister sends one append
// ack per peer per write (coalesceAcks), and the node keeps one MsgApp in
// flight per follower unless configured (nodeInflightMsgsDefault): what
// is proposed meanwhile leaves in the next one, when the follower's ack
// comes back, one MsgApp per follower fsync.
//
// Proposals made between two Readys are sent to followers in one MsgApp
// per follower (the broadcast is deferred to Ready), and their entries are
// persisted in one batch: the batching the design asks for. Reads work the
// same way: every ReadIndex since the previous Ready shares one heartbeat
// round, started by Ready.
//
// The core is deterministic: the same Config.Seed and the same events give
// the same Readys. Nothing iterates a map to produce effects (peers go in
// ID order), so a seeded simulation replays exactly (TestDeterministic).
//
// # Node requests and reads (node.go)
//
// Clients reach the loop through bounded channels. Node.Read runs a
// function on the applier once the read index is applied; Node.ReadBarrier
// only returns once it is, and the caller reads the state machine itself
// (which must then allow reads concurrent with Apply, as kvsm.Store does
// with ExecShared): the read index comes straight back from the loop to
// the caller, which waits on the applied index (a channel the applier
// closes after each batch, made only when somebody waits). That saves the
// hop through the applier and back, which with the scheduler cost about a
// fifth of a leader's CPU under GET load. Requests (with their reply
// channel and timer) are recycled once their caller took the one outcome
// each gets; NodeConfig.RequestTimeout bounds a request whose context has
// no deadline, so callers need no context.WithTimeout per command.
//
// Concurrent ReadBarrier callers share one request: the first sends it and
// leaves it open (Node.openRead), later callers append themselves to it
// (at most 4096) and wait on their own recycled request, and the loop
// answers all of them with the request's outcome (Node.answer). The loop
// seals the open request before the core can fix its read index: before a
// Ready that starts the leader's read round, or when it hands the request
// to a core that forwards it or answers it from a lease. On a leader with
// a round in flight the request stays open until that round ends, so the
// loop takes one request per round instead of one per caller
// (BenchmarkRead3Nodes/ReadBarrier: 1.7-1.9 -> 1.1 µs per read).
//
// # Compaction
//
// The node compacts by truncating Config.Log's prefix after it has taken a
// snapshot (and made it visible through Config.Snapshots). There is nothing
// to tell the core: it asks the storage for FirstIndex on every read, and
// when a follower needs an entry that is gone (ErrCompacted) it sends the
// latest snapshot instead. The node must compact only up to what it has
// applied, never into entries the core still holds as unstable.
//
// # Bounds
//
// Every queue the core holds is bounded: MsgApp bytes (MaxMsgBytes),
// messages and bytes in flight per follower (MaxInflightMsgs,
// MaxInflightBytes), the uncommitted suffix (MaxUncommittedEntries),
// pending reads (MaxPendingReads), entries per Ready (MaxApplyBytes) and
// an incoming snapshot (MaxSnapshotBytes, spooled by the loop: the core
// holds one chunk of it at a time, never the body). Effects gathered between two
// Readys are bounded by the events fed in between.
//
// # Membership changes (membership.go, confchange.go)
//
// One server at a time (thesis §4.1): ProposeConfChange appends an
// EntryConfChange whose Data is an encoded ConfChange — AddLearner,
// PromoteVoter or RemoveNode, with the new node's addresses in Addr and
// Context for the node loop. Why not joint consensus (§4.3)? A change of
// one server keeps every majority of the old configuration overlapping
// every majority of the new one, so no intermediate configuration, no
// two-majority commit rule and no second log entry per change are needed;
// joint consensus buys arbitrary changes in one step, which a cache
// cluster that grows and shrinks by one machine does not need, at the cost
// of a quorum module that reasons about two configurations everywhere
// (commit, votes, check-quorum, ReadIndex). Replacing a server is two or
// three single steps: add as learner, promote, remove the old one.
//
// A configuration takes effect when its entry is appended, on the leader
// and on every follower, committed or not (§4.1): each server uses the
// latest configuration in its log. The core keeps the history
// (confHistory: the snapshot's ConfState, then one record per conf entry
// after it), so a new leader truncating an uncommitted conf entry rolls the
// membership back, and ConfStateAt(index) gives the membership a snapshot
// at index must carry. At start the history is rebuilt from the latest
// snapshot's ConfState (else Config.Voters/Learners) and the conf entries
// of the log after it; a conf entry that does not decode or does not apply
// is skipped the same way on every server.
//
// Safety rules: the leader accepts a change only once an entry of its own
// term has committed and no other conf change is uncommitted (the fix in
// the thesis errata, as in etcd: otherwise a leader could commit a change
// conflicting with an uncommitted one of an earlier term, and two disjoint
// majorities could form). A learner is promoted only when its match is
// within Config.PromoteLagEntriesMax of the leader's last index
// (ErrLearnerBehind), so that a new voter can help commit at once.
// Learners get the log and snapshots but never vote, never count for
// commit, check-quorum or ReadIndex, and never campaign; a node that is
// not a voter in its latest configuration (a learner, a removed node, a
// fresh node that has not yet received the log) never campaigns.
//
// A leader that removes itself keeps leading until the removal commits,
// without counting itself in that quorum (§4.2.2), then steps down (at the
// next Ready, once the commit index went out). Progress is created for
// added members and dropped for removed ones when the entry is appended.
// Changes are proposed on the leader only: a follower answers
// ErrNotLeader (naming the leader) rather than forwarding, so the caller
// learns the refusal reason (ErrConfChangePending, ErrLearnerBehind,
// ErrConfChangeInvalid) which a forwarded MsgPropResp could not carry.
//
// A removed node learns it was removed from its peers (MsgRemoved). The
// leader stops sending to a member as soon as its removal is appended, so a
// removed follower never receives the entry that removes it: it would
// pre-vote in vain for ever, and the requests it forwards would wait for
// their timeout. So when the leader hears from a node (a forwarded proposal
// or read, a vote or pre-vote request, a late answer) that is no member of
// its latest configuration, and that configuration has committed, it
// answers MsgRemoved with that configuration's index and term, refusing the
// forwarded request (nothing appended); any other node answers the vote
// requests of such a node the same way, so that it is told even when the
// leader was added after its removal (it asks only the voters it knows).
// The node then counts itself removed (Status.Removed): the refused request
// and its forwarded reads fail with ErrRemoved (other forwarded proposals
// wait for their own answer: they may have been appended before the
// removal), later proposals, reads and membership changes fail with
// ErrRemoved at once, and it never campaigns; it still takes MsgApp and
// snapshots, and a conf entry after the notice's index that names it (added
// again under the same id) supersedes the notice, on a log that holds the
// notice's entry (a later entry on a log diverging there can never commit).
// The notice is not persisted: a restarted removed node is told again. Vote
// requests are still handled as before after the answer: a follower may lag
// behind the addition of a new member (or a leader be stale) and must not
// turn that member's votes away, and the member itself ignores the notice,
// its log holding a later configuration that names it. Only the leader
// refuses forwarded requests: its log holds every committed entry. Why not
// catch the removed node up through its own removal instead (the thesis's
// way: keep replicating until it has the entry)? That needs progress for
// non-members in every loop over peers, is lost when leadership changes
// before the node caught up, and never reaches a removed node that was down
// at the time; MsgRemoved is answered by any leader (and any voter it asks
// for a vote), whenever the node speaks. The cost is a message type, and a
// transport that can still reach a node that is no peer (the server keeps a
// farewell peer for it).
//
// The node loop (node.go) offers Node.ProposeConfChange, settled like a
// write: it answers once the entry is applied (the change committed) with
// its index, or with a definite error. NodeConfig.OnMembership tells the
// owner every change of the membership in force — at start, when conf
// entries are appended or truncated, when a snapshot replaces the history —
// before the Ready's messages are sent, with the appended changes' Addr and
// Context: the server gives the transport a peer for a new member before
// the leader's first MsgApp to it leaves. The check is two slice compares
// per Ready when nothing changed.
//
// # Where the thesis lives in the code
//
//   - §3.4 / Raft §5.2 election, randomized timeouts: campaign, poll,
//     tickElection, handleVoteRequest (raft.go); tallyVotes (quorum.go).
//   - §3.5 / Raft §5.3 log replication: maybeSendAppend, handleAppend,
//     handleAppendResponse (raft.go); raftLog (log.go).
//   - §3.6 / Raft §5.4.1, §5.4.2 safety: isUpToDate (log.go); maybeCommit
//     counts only entries of the current term (raft.go); committedIndex
//     (quorum.go).
//   - §5.3 fast back-off: findConflictByTerm (log.go) on both sides.
//   - §5, Raft §7 snapshots, InstallSnapshot in chunks: snapshot.go.
//   - §6.4 ReadIndex, batched per heartbeat round: readindex.go; §6.4.1
//     lease reads (Config.ReadLeaseTicks: a confirmed round's start plus
//     the lease, assuming tick rates within the caller's drift bound; a
//     node ignores votes for an election timeout after it starts, and a
//     leadership transfer voids the lease for the term): readindex.go.
//   - §3.10 leader transfer: transferTo, MsgTimeoutNow (raft.go).
//   - §4.1 single-server membership changes, config on append, errata
//     rule: ProposeConfChange, checkConfChange, noteAppended, confHistory
//     (membership.go, confchange.go); §4.2.1 learners: isLearner,
//     PromoteLagEntriesMax; §4.2.2 removed leader: maybeStepDownRemoved.
//   - §4.2.3 removed servers: answerRemoved, handleRemoved, removed
//     (membership.go), MsgRemoved (our rule, see above).
//   - §9.6 pre-vote and check-quorum (leader lease on votes): Step, hup,
//     tickHeartbeat (raft.go).
//   - §10.2.1 leader writes in parallel: the Messages/MessagesAfterPersist
//     split and the self-progress update in StableTo (asynchronous writes:
//     node.go's persister, raftLog.inProgress).
//   - Flow control (etcd-style, not in the thesis): progress.go,
//     inflights.go.
//
// # Divergences from the paper
//
//   - AppendEntries' answer carries a hint (RejectHint, LogTerm), and the
//     leader skips whole terms at once (thesis §5.3, etcd's variant).
//   - Followers lose elections on purpose: with CheckQuorum a node that
//     heard from a leader within the election timeout ignores MsgVote and
//     MsgPreVote (except a leader-transfer vote, marked by Context =
//     voteContextTransfer), and a leader that has not heard from a quorum
//     for an election timeout steps down.
//   - A higher-term MsgVote that is not granted moves the receiver to the
//     new term without resetting its election timer (as Figure 2 says;
//     etcd resets it): a candidate whose log is too old to win cannot keep
//     the nodes that could win from ever timing out (found by the
//     simulator, seed 5509, with pre-vote off).
//   - A stale leader (lower term) sending MsgApp or MsgHeartbeat gets an
//     MsgAppResp with our term, so it learns of the new term even though
//     pre-vote means nobody sends it a higher-term vote request (with
//     pre-vote or check-quorum on, or from a node that cannot campaign,
//     such as a learner: without those the node's next campaign tells it).
//   - Heartbeats carry commit = min(follower's match, commit), so a
//     follower never commits entries it may not hold.
//   - A follower whose heartbeat brings a commit index past its last
//     index has lost entries it once acknowledged (a torn write, or
//     appendfsync no): it answers with Reject and its last index, and the
//     leader lowers that follower's match and probes from there. Without
//     this, the entries would only be resent after the next write, and
//     reads on that follower would wait for it.
//   - Snapshot chunks go stop-and-wait, one chunk per round trip, resent
//     after snapshotHeartbeatsResend heartbeats without an answer.
//   - Lost MsgApps in the replicate state are detected without transport
//     feedback: when replicateStallHeartbeats heartbeat answers in a row
//     find a follower's match unchanged with entries outstanding, the
//     leader probes again from match+1 (etcd relies on the transport's
//     ReportUnreachable instead).
//   - ReadIndex rounds are numbered; a heartbeat carries the number of the
//     round in flight and an answer confirms every round up to it, so a
//     lost heartbeat costs one heartbeat interval, not the read. A
//     membership change re-checks the round in flight against the new
//     voters (a removed member never answers; a last voter has nobody to
//     answer it).
//   - A read forwarded by a follower fails with ErrNoLeader as soon as
//     the follower leaves that leader's term (the answer could no longer
//     be accepted), so the node retries with the next leader. A forwarded
//     proposal still unanswered then gets ErrTimeout at once: its outcome
//     is unknown (the old leader may have appended it, and it may commit),
//     so it cannot be retried, but the client learns so now instead of
//     after its whole request timeout. This is what keeps a rolling
//     restart's longest client wait under an election timeout: a leader
//     that hands off and exits leaves the proposals in flight to it
//     unanswered.
//   - Forwarded requests (MsgProp, MsgReadIndex, MsgTransferLeader) carry
//     term 0: they are not part of the term protocol.
//   - The leader refuses proposals while transferring leadership and when
//     MaxUncommittedEntries are not yet committed.
//   - Conf changes are not forwarded from followers (ErrNotLeader).
//   - A node that is not in its own configuration (removed, or new and
//     waiting for the log) stays a follower forever; it is not shut down
//     by the core (the thesis §4.2.3 disruption is left to pre-vote and
//     check-quorum, and to the operator stopping removed servers). A
//     removed node that never received its removal is told by the leader
//     (MsgRemoved, accepted whatever its term: a committed configuration
//     is no matter of terms) and then fails its clients' requests at once.
//
// # Tests
//
// raft_paper_test.go has one test per rule of the paper (Reference: §x);
// raft_features_test.go covers pre-vote, check-quorum, ReadIndex, leader
// transfer, snapshots, flow control, the Ready split and the planted bugs;
// quorum, progress, inflights and log have table tests of their own;
// network_test.go is a tiny deterministic cluster over MemoryStorage (a
// model Ready/Advance loop); chaos_test.go adds loss, duplication,
// reordering, partitions, restarts and compaction with safety checks after
// every step; interaction_test.go runs the scripts in testdata/interaction
// against golden output (-rewrite regenerates it); membership_test.go has
// the §4 rules (learners, promotion, removing the leader, rollback on
// truncation, restart from log and snapshot); removed_test.go how a
// removed follower is told, by whom and when, and when it is a member
// again; FuzzStep feeds one core
// arbitrary message sequences (conf change entries and proposals among
// them), FuzzDecodeConfChange the conf change codec, FuzzCluster lets the fuzzer pick a whole
// cluster's schedule under the same safety checks; BenchmarkCommit3Nodes
// measures committed proposals per second.
//
// # Planted bugs (BugHooks)
//
// Each hook turns off one rule where it lives: CommitOldTermByCount in
// maybeCommit, ForgetVotePersist in handleVoteRequest, SkipLogMatching in
// handleAppend, ReadWithoutQuorum in maybeStartReadRound,
// LearnerCountsForCommit in maybeCommit, LeaderCountsUnsynced in
// appendEntries (the leader counts itself before its write completes).
package consensus
