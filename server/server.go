package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/consensus/transport"
	"github.com/raftkv/raftkv/kvsm"
	"github.com/raftkv/raftkv/metrics"
	"github.com/raftkv/raftkv/resp"
	"github.com/raftkv/raftkv/wal"
)

// Version is raftkv's version, shown by INFO.
const Version = "0.1.0"

// Server is one raftkv node: storage, state machine, consensus, peer
// transport, RESP front end and metrics, built from one conf.Config.
type Server struct {
	cfg      *conf.Config
	logger   *slog.Logger
	logLevel *slog.LevelVar

	log       *wal.Log
	snapshots *wal.SnapshotStore
	store     *kvsm.Store
	transport *transport.Transport
	node      *consensus.Node
	resp      *resp.Server
	metrics   *metrics.Set

	// local is empty in real builds; the deliberately broken build of the
	// jepsen harness (tag raftkv_unsafe_reads) locks the store with it.
	local localReads

	// sm is the state machine the node applies to: the store with the
	// members' address book (membersSM).
	sm             *membersSM
	members        *membership
	requestTimeout time.Duration

	snapshotting atomic.Bool
	lastSnapshot atomic.Uint64
	// snapshotLogBytesMax: snapshotLogBytesDefault (tests lower it).
	snapshotLogBytesMax uint64
	// snapshotBytesMark is the node's PersistBytes when the last snapshot
	// started: the log grown since is measured from it.
	snapshotBytesMark atomic.Uint64
	lastSaveUnix      atomic.Int64 // when a snapshot was last made durable
	expiredSweep      atomic.Uint64
	// keyTreeCompactions counts the key tree compactions installed
	// (tuneGC, evict.go).
	keyTreeCompactions atomic.Uint64

	closeOnce sync.Once
}

// New opens the node's data directory and builds every component. Nothing
// listens until Run.
func New(cfg *conf.Config, logger *slog.Logger, logLevel *slog.LevelVar) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		cfg:            cfg,
		logger:         logger,
		logLevel:       logLevel,
		members:        newMembership(consensus.NodeID(cfg.NodeID), cfg.Cluster, logger),
		requestTimeout: time.Duration(cfg.RequestTimeoutMs) * time.Millisecond,

		snapshotLogBytesMax: snapshotLogBytesDefault,
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("dir %q: %w", cfg.Dir, err)
	}
	var err error
	s.log, err = wal.Open(filepath.Join(cfg.Dir, "wal"), wal.Options{
		NoSync: cfg.AppendFsync == "no",
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	s.snapshots, err = wal.OpenSnapshots(filepath.Join(cfg.Dir, "snapshots"))
	if err != nil {
		s.log.Close()
		return nil, fmt.Errorf("open snapshots: %w", err)
	}
	s.store, err = kvsm.NewStore(kvsm.Options{Databases: cfg.Databases, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		s.log.Close()
		return nil, fmt.Errorf("state machine: %w", err)
	}
	s.sm = &membersSM{inner: s.local.wrap(s.store), members: s.members}
	applied, err := s.restoreSnapshot()
	if err != nil {
		s.log.Close()
		return nil, err
	}
	if err := s.learnMembersFromLog(); err != nil {
		s.log.Close()
		return nil, err
	}
	voters, learners := bootstrapMembership(cfg)
	peerAddrs := s.members.transportPeers()
	s.metrics = metrics.New(cfg.NodeID, metrics.Sources{
		Gauges:        s.gauges,
		Counters:      s.counters,
		CommandCounts: func() map[string]uint64 { return s.resp.Stats().CommandCalls },
	})

	var node *consensus.Node
	s.transport, err = transport.New(transport.Config{
		ID:         consensus.NodeID(cfg.NodeID),
		ClusterID:  cfg.ClusterID,
		Secret:     cfg.ClusterSecret,
		ListenAddr: cfg.RaftAddr,
		Peers:      peerAddrs,
		Logger:     logger,
	}, func(m consensus.Message) { node.Deliver(m) })
	if err != nil {
		s.log.Close()
		return nil, fmt.Errorf("transport: %w", err)
	}
	s.members.setTransport(s.transport, peerAddrs)
	tick := time.Duration(cfg.TickIntervalMs) * time.Millisecond
	electionTicks := max(cfg.ElectionTimeoutMs/cfg.TickIntervalMs, 2)
	heartbeatTicks := max(cfg.HeartbeatIntervalMs/cfg.TickIntervalMs, 1)
	readLeaseTicks := 0
	if cfg.ReadMode == "lease" {
		if readLeaseTicks = leaseTicks(electionTicks); readLeaseTicks < 1 {
			s.transport.Close()
			s.log.Close()
			return nil, fmt.Errorf("read-mode lease: election-timeout is only %d ticks of tick-interval; it needs at least 4", electionTicks)
		}
	}
	node, err = consensus.StartNode(consensus.NodeConfig{
		Raft: consensus.Config{
			ID:             consensus.NodeID(cfg.NodeID),
			Voters:         voters,
			Learners:       learners,
			ElectionTicks:  electionTicks,
			HeartbeatTicks: heartbeatTicks,
			PreVote:        true,
			CheckQuorum:    true,
			ReadLeaseTicks: readLeaseTicks,
			Seed:           time.Now().UnixNano(),
			Applied:        applied,
			Snapshots:      s.snapshots,
			Logger:         logger,
		},
		Log:          s.log,
		State:        s.log,
		Transport:    farewellTransport{peers: s.transport, members: s.members},
		StateMachine: s.sm,
		OnMembership: s.members.onEvent,
		TickInterval: tick,
		Logger:       logger,
		Observer:     s.metrics,
		// Client requests are bounded by the node (a recycled timer)
		// rather than a context.WithTimeout per command.
		RequestTimeout: s.requestTimeout,
		Spool:          leaderSnapshotSpool{s},
	})
	if err != nil {
		s.transport.Close()
		s.log.Close()
		return nil, err
	}
	s.node = node
	s.lastSnapshot.Store(applied)
	s.resp = resp.NewServer(resp.ServerConfig{Config: cfg, LogLevel: logLevel, Version: Version}, &backend{s: s}, logger)
	return s, nil
}

// leaderSnapshotSpool receives snapshots from the leader into the snapshot
// store, chunk by chunk to a temporary file (wal.SnapshotStore), and counts
// a committed one as the node's latest snapshot.
type leaderSnapshotSpool struct{ s *Server }

func (sp leaderSnapshotSpool) WriteSnapshotChunk(c consensus.SnapshotChunk) error {
	return sp.s.snapshots.WriteSnapshotChunk(c)
}

func (sp leaderSnapshotSpool) CommitSnapshot(meta consensus.SnapshotMeta) (io.ReadCloser, error) {
	body, err := sp.s.snapshots.CommitSnapshot(meta)
	if err == nil {
		sp.s.lastSnapshot.Store(meta.Index)
	}
	return body, err
}

// restoreSnapshot loads the newest valid snapshot into the state machine
// and returns its index (0 when there is none).
func (s *Server) restoreSnapshot() (uint64, error) {
	meta, ok := s.snapshots.Latest()
	// The log must continue where the snapshot ends. If the newest snapshot
	// was damaged and an older one is all that is left, the log was already
	// compacted past it: the entries in between are gone here, and only a
	// snapshot from the leader can bring this node back.
	if first := s.log.FirstIndex(); first > 1 && (!ok || meta.Index < first-1) {
		return 0, fmt.Errorf("the log starts at index %d but the newest usable snapshot ends at %d: entries in between are lost; remove %s to rejoin from the leader's snapshot",
			first, meta.Index, s.cfg.Dir)
	}
	if !ok {
		return 0, nil
	}
	rc, err := s.snapshots.Open(meta.Index)
	if err != nil {
		return 0, fmt.Errorf("open snapshot %d: %w", meta.Index, err)
	}
	defer rc.Close()
	if err := s.sm.Restore(rc); err != nil {
		return 0, fmt.Errorf("restore snapshot %d: %w", meta.Index, err)
	}
	s.logger.Info("restored snapshot", "index", meta.Index, "term", meta.Term)
	return meta.Index, nil
}

// Run serves clients and peers until ctx ends, then shuts down: it stops
// accepting, lets in-flight commands finish, stops the node and closes the
// log (which syncs it).
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The transport outlives ctx: a leader that is told to stop still talks
	// to its peers to hand over leadership. close() stops it.
	if err := s.transport.Start(context.WithoutCancel(ctx)); err != nil {
		s.close()
		return fmt.Errorf("raft-addr %s: %w", s.cfg.RaftAddr, err)
	}
	clientAddr := net.JoinHostPort(s.cfg.Bind, fmt.Sprint(s.cfg.Port))
	ln, err := net.Listen("tcp", clientAddr)
	if err != nil {
		s.close()
		return fmt.Errorf("listen %s: %w", clientAddr, err)
	}
	errc := make(chan error, 3)
	go func() { errc <- s.resp.Serve(ln) }()
	if s.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			s.resp.Close()
			s.close()
			return fmt.Errorf("metrics-addr %s: %w", s.cfg.MetricsAddr, err)
		}
		go func() { errc <- s.metrics.Serve(ctx, mln) }()
	}
	go s.housekeeping(ctx)
	go s.evictLoop(ctx)
	go s.tuneGC(ctx)
	s.logger.Info("raftkv serving", "addr", clientAddr, "raft", s.cfg.RaftAddr, "dir", s.cfg.Dir)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			runErr = err
		}
	case <-s.node.Done():
		runErr = errors.New("consensus node stopped (see the log above)")
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := s.resp.Shutdown(shutdownCtx); err != nil {
		s.logger.Warn("shutdown: clients", "err", err)
	}
	s.handOffLeadership()
	s.shutdownSnapshot()
	s.close()
	return runErr
}

// leaseDriftPercent is the clock drift bound that lease reads assume (see
// conf/doc.go): tick rates of any two members differ by less than it.
const leaseDriftPercent = 10

// leaseTicks is the read lease for an election timeout of electionTicks:
// shorter by the drift bound, and by one tick for each side's ticker phase
// (consensus.Config.ReadLeaseTicks).
func leaseTicks(electionTicks int) int {
	return (electionTicks-1)*(100-leaseDriftPercent)/100 - 1
}

// shutdownSnapshotTimeout bounds the snapshot a clean shutdown takes.
const shutdownSnapshotTimeout = 30 * time.Second

// shutdownSnapshot takes a snapshot at the applied index before the node
// stops, so that the next start restores it and replays (almost) nothing:
// replaying the log command by command is what made a restart with 1 M
// keys take 2.9 s. Skipped when nothing was applied since the last one; a
// failure only costs the next start its replay.
func (s *Server) shutdownSnapshot() {
	if s.node.Metrics().Applied <= s.lastSnapshot.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownSnapshotTimeout)
	defer cancel()
	start := time.Now()
	if err := s.save(ctx); err != nil {
		s.logger.Warn("shutdown: snapshot", "err", err)
		return
	}
	s.logger.Info("shutdown: snapshot taken", "index", s.lastSnapshot.Load(), "duration", time.Since(start))
}

// handOffLeadership transfers leadership to the most up-to-date follower
// before a leader exits, so that clients wait for a transfer (a round trip)
// rather than for an election timeout.
func (s *Server) handOffLeadership() {
	if consensus.Role(s.node.Metrics().Role) != consensus.RoleLeader || len(s.members.members()) < 2 {
		return
	}
	electionTimeout := time.Duration(s.cfg.ElectionTimeoutMs) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), electionTimeout)
	defer cancel()
	st, err := s.node.Status(ctx)
	if err != nil {
		return
	}
	var target consensus.NodeID
	var best uint64
	for id, pr := range st.Progress {
		if id != consensus.NodeID(s.cfg.NodeID) && !pr.Learner && pr.RecentActive && (target == consensus.None || pr.Match > best) {
			target, best = id, pr.Match
		}
	}
	if target == consensus.None {
		return
	}
	s.logger.Info("shutdown: transferring leadership", "to", uint64(target))
	if err := s.node.TransferLeader(ctx, target); err != nil {
		return
	}
	// Stepping down comes first (the target's higher term), hearing from
	// the new leader a moment later: log the leader once known, but wait
	// for it no longer than a heartbeat interval (the target may be
	// stopping too, as when a whole cluster is shut down).
	var steppedDownAt time.Time
	heartbeat := time.Duration(s.cfg.HeartbeatIntervalMs) * time.Millisecond
	for ctx.Err() == nil {
		if m := s.node.Metrics(); consensus.Role(m.Role) != consensus.RoleLeader {
			if m.Leader != 0 {
				s.logger.Info("shutdown: leadership transferred", "to", m.Leader)
				return
			}
			if steppedDownAt.IsZero() {
				steppedDownAt = time.Now()
			} else if time.Since(steppedDownAt) > heartbeat {
				s.logger.Info("shutdown: stepped down; the new leader was not heard from within a heartbeat interval", "asked", uint64(target))
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.logger.Warn("shutdown: leadership transfer did not finish within an election timeout")
}

func (s *Server) close() {
	s.closeOnce.Do(func() {
		s.node.Stop()
		s.transport.Close()
		if err := s.log.Close(); err != nil {
			s.logger.Error("close log", "err", err)
		}
	})
}

// housekeeping proposes deletes of expired keys while this node leads, and
// takes snapshots when the log has grown past the threshold.
func (s *Server) housekeeping(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if consensus.Role(s.node.Metrics().Role) == consensus.RoleLeader {
			s.expireSweep(ctx)
		}
		s.maybeSnapshot(ctx)
	}
}

// expireSweep samples expired keys in every database, like Redis's active
// expiry, and proposes their removal through the log so that every replica
// removes the same keys.
func (s *Server) expireSweep(ctx context.Context) {
	const sampleMax = 64
	now := time.Now().UnixMilli()
	var cmds []kvsm.Command
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := s.node.Read(rctx, func() {
		for db := 0; db < s.store.Databases(); db++ {
			if keys := s.store.ExpiredKeys(db, now, sampleMax); len(keys) > 0 {
				cmds = append(cmds, kvsm.PurgeExpiredCommand(db, keys))
			}
		}
	})
	if err != nil || len(cmds) == 0 {
		return
	}
	if _, err := s.node.Propose(rctx, kvsm.AppendBatch(nil, cmds)); err != nil {
		s.logger.Debug("active expiry proposal failed", "err", err)
	}
}

// snapshotLogBytesDefault is how much entry data the log may gain between
// snapshots, whatever snapshot-threshold says about entries.
const snapshotLogBytesDefault = 64 << 20

// maybeSnapshot snapshots the state machine when snapshot-threshold entries
// were applied since the last one, then compacts the log.
func (s *Server) maybeSnapshot(ctx context.Context) {
	threshold := s.cfg.SnapshotThresholdEntries
	m := s.node.Metrics()
	byEntries := threshold > 0 && m.Applied >= s.lastSnapshot.Load()+threshold
	// Entries can be large (a pipeline is one entry): the log's bytes
	// count too, so that memory (the WAL keeps its tail segment in
	// memory) and restart time stay bounded.
	byBytes := threshold > 0 && m.PersistBytes >= s.snapshotBytesMark.Load()+s.snapshotLogBytesMax
	if !(byEntries || byBytes) || !s.snapshotting.CompareAndSwap(false, true) {
		return
	}
	s.snapshotBytesMark.Store(m.PersistBytes)
	go func() {
		defer s.snapshotting.Store(false)
		if err := s.Snapshot(ctx); err != nil {
			s.logger.Warn("snapshot failed", "err", err)
		}
	}()
}

// save is SAVE: a snapshot now, unless one is being written.
func (s *Server) save(ctx context.Context) error {
	if !s.snapshotting.CompareAndSwap(false, true) {
		return resp.ErrSaveInProgress
	}
	defer s.snapshotting.Store(false)
	return s.Snapshot(ctx)
}

// backgroundSave is BGSAVE.
func (s *Server) backgroundSave() error {
	if !s.snapshotting.CompareAndSwap(false, true) {
		return resp.ErrSaveInProgress
	}
	go func() {
		defer s.snapshotting.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Snapshot(ctx); err != nil {
			s.logger.Warn("BGSAVE failed", "err", err)
		}
	}()
	return nil
}

// Snapshot writes the state machine to a snapshot file at its applied index
// and compacts the log before it.
func (s *Server) Snapshot(ctx context.Context) error {
	var (
		view  consensus.SnapshotReader
		index uint64
		err   error
	)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The view is taken on the applier goroutine, so it sits exactly at the
	// store's applied index. No ReadIndex: a snapshot of the local state
	// needs no leader (a shutdown may have none).
	if rerr := s.node.RunOnApplier(rctx, func() {
		view, err = s.sm.Snapshot()
		index = s.store.AppliedIndex()
	}); rerr != nil {
		return fmt.Errorf("snapshot: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer view.Close()
	if index <= s.lastSnapshot.Load() {
		// Nothing applied since: the last snapshot holds it all.
		s.lastSaveUnix.Store(time.Now().Unix())
		return nil
	}
	// The node reads the term at index from its durable log only once its
	// own write of that entry completed (the applier may be ahead of it).
	meta, err := s.node.SnapshotMeta(rctx, index)
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", index, err)
	}
	if err := s.snapshots.Save(meta, func(w io.Writer) error { _, err := view.WriteTo(w); return err }); err != nil {
		return fmt.Errorf("snapshot at %d: %w", index, err)
	}
	prev := s.lastSnapshot.Swap(index)
	s.lastSaveUnix.Store(time.Now().Unix())
	// Keep a tail of the log so that slightly lagging followers catch up
	// from entries rather than a whole snapshot: a quarter of the
	// threshold, at most 10,000 entries, and at most a quarter of what
	// this snapshot covers anew (entries may be large pipelines: a tail
	// counted in entries alone could keep the whole log).
	keepEntries := min(s.cfg.SnapshotThresholdEntries/4, 10000, (index-prev)/4)
	if index > keepEntries {
		if err := s.node.Compact(rctx, index-keepEntries); err != nil {
			return fmt.Errorf("compact log to %d: %w", index-keepEntries, err)
		}
	}
	s.logger.Info("snapshot taken", "index", index, "term", meta.Term)
	return nil
}
