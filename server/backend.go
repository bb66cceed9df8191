package server

import (
	"context"
	"fmt"
	"time"

	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/kvsm"
	"github.com/raftkv/raftkv/resp"
)

// backend is what the RESP server sees of the replicated state machine.
type backend struct{ s *Server }

var (
	_ resp.Backend        = (*backend)(nil)
	_ resp.Saver          = (*backend)(nil)
	_ resp.MemoryGuard    = (*backend)(nil)
	_ resp.ConfigObserver = (*backend)(nil)
	_ resp.ReaderInto     = (*backend)(nil)
)

// Save is SAVE: a snapshot of the applied state, durable when it returns.
func (b *backend) Save(ctx context.Context) error { return b.s.save(ctx) }

// BackgroundSave is BGSAVE.
func (b *backend) BackgroundSave() error { return b.s.backgroundSave() }

// Write proposes cmds as one log entry. The batch is encoded (copied) here,
// so nothing aliases the connection's read buffer after Write returns. The
// node bounds the wait by request-timeout (NodeConfig.RequestTimeout).
func (b *backend) Write(ctx context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	if b.s.members.removed.Load() {
		return nil, errRemoved
	}
	res, err := b.s.node.Propose(ctx, kvsm.AppendBatch(nil, cmds))
	if err != nil {
		return nil, clientErr(err)
	}
	replies, ok := res.([]kvsm.Reply)
	if !ok || len(replies) != len(cmds) {
		return nil, fmt.Errorf("state machine answered %d replies for %d commands", len(replies), len(cmds))
	}
	return replies, nil
}

// Read serves read-only cmds once this node has applied everything committed
// before the call (ReadIndex), on the caller's (the connection's) goroutine:
// the store's shared reads run beside the applier, which saves two
// goroutine hand-offs per read (client -> applier -> client). When the
// eviction policy tracks reads (they stamp access data, a write), the
// store declines and the reads run on the applier as before.
func (b *backend) Read(ctx context.Context, cmds []kvsm.Command) ([]kvsm.Reply, error) {
	if unsafeLocalReads { // the jepsen harness's deliberately broken build only
		return b.s.local.read(cmds), nil
	}
	replies := make([]kvsm.Reply, len(cmds))
	if err := b.ReadInto(ctx, cmds, replies); err != nil {
		return nil, err
	}
	return replies, nil
}

// ReadInto is Read into the connection's reply buffer (resp.ReaderInto):
// a GET allocates nothing here.
func (b *backend) ReadInto(ctx context.Context, cmds []kvsm.Command, replies []kvsm.Reply) error {
	if unsafeLocalReads {
		copy(replies, b.s.local.read(cmds))
		return nil
	}
	if b.s.members.removed.Load() {
		return errRemoved
	}
	if err := b.s.node.ReadBarrier(ctx); err != nil {
		return clientErr(err)
	}
	b.s.store.ExecShared(cmds, time.Now().UnixMilli(), replies)
	return nil
}

// Status reports the node's view for INFO. Match indexes come from the core
// (on the leader only), asked with a short timeout so INFO never hangs.
func (b *backend) Status() resp.ClusterStatus {
	s := b.s
	m := s.node.Metrics()
	st := resp.ClusterStatus{
		NodeID:       s.cfg.NodeID,
		Role:         consensus.Role(m.Role).String(),
		Term:         m.Term,
		LeaderID:     m.Leader,
		CommitIndex:  m.Commit,
		AppliedIndex: m.Applied,
	}
	st.LeaderClientAddr = s.members.clientAddr(consensus.NodeID(m.Leader))
	var progress map[consensus.NodeID]consensus.PeerStatus
	removed := s.members.removed.Load()
	// The core's status (through the loop) gives the leader's match indexes
	// and, on any node, whether a member told it that it was removed.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if cs, err := s.node.Status(ctx); err == nil {
		progress = cs.Progress
		if consensus.Role(m.Role) == consensus.RoleLeader {
			st.CommitIndex = cs.HardState.Commit
		}
		removed = removed || cs.Removed
	}
	cancel()
	// The live membership (learners and members added since the bootstrap
	// included), not the cluster line.
	for _, mi := range s.members.members() {
		if uint64(mi.ID) == s.cfg.NodeID {
			if mi.Learner {
				st.Role = "learner"
			}
			continue
		}
		ps := resp.PeerStatus{ID: uint64(mi.ID), RaftAddr: mi.RaftAddr, ClientAddr: mi.ClientAddr, Voter: !mi.Learner}
		if pr, ok := progress[mi.ID]; ok {
			ps.MatchIndex = pr.Match
		}
		st.Peers = append(st.Peers, ps)
	}
	if removed {
		st.Role = resp.RoleRemoved
	}
	st.LastSaveUnix = s.lastSaveUnix.Load()
	st.SaveInProgress = s.snapshotting.Load()
	ks := s.store.Stats()
	st.ExpiredKeys, st.KeyspaceHits, st.KeyspaceMisses = ks.ExpiredKeys, ks.KeyspaceHits, ks.KeyspaceMisses
	st.EvictedKeys = ks.EvictedKeys
	st.UsedMemoryBytes, st.DatasetBytes = s.store.UsedMemory(), s.store.DatasetBytes()
	keys, expires := s.store.KeyCount()
	for db := range keys {
		if keys[db] > 0 {
			st.Keyspace = append(st.Keyspace, resp.DBStatus{DB: db, Keys: int64(keys[db]), Expires: int64(expires[db])})
		}
	}
	return st
}

// gauges and counters feed the metrics endpoint at scrape time.
func (s *Server) gauges() map[string]float64 {
	m := s.node.Metrics()
	st := s.resp.Stats()
	keys, _ := s.store.KeyCount()
	total := 0
	for _, k := range keys {
		total += k
	}
	return map[string]float64{
		"role":              float64(m.Role),
		"term":              float64(m.Term),
		"leader":            float64(m.Leader),
		"commit_index":      float64(m.Commit),
		"applied_index":     float64(m.Applied),
		"last_index":        float64(m.LastIndex),
		"connected_clients": float64(st.ConnectedClients),
		"keys":              float64(total),
	}
}

func (s *Server) counters() map[string]float64 {
	m := s.node.Metrics()
	ts := s.transport.Stats()
	var dropped uint64
	for _, p := range ts.Peers {
		dropped += p.DroppedMsgs
	}
	return map[string]float64{
		"proposals_total":                float64(m.Proposals),
		"proposals_failed_total":         float64(m.ProposalsFailed),
		"reads_total":                    float64(m.Reads),
		"persist_batches_total":          float64(m.PersistBatches),
		"persist_entries_total":          float64(m.PersistEntries),
		"inbound_messages_dropped_total": float64(m.MessagesDropped),
		"peer_send_dropped_total":        float64(dropped),
		"connections_total":              float64(s.resp.Stats().TotalConnections),
	}
}
