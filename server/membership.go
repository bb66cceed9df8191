package server

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/conf"
	"github.com/raftkv/raftkv/consensus"
	"github.com/raftkv/raftkv/resp"
)

// memberAddr is where a member is reached: its Raft transport and its RESP
// server.
type memberAddr struct{ raft, client string }

// peerSet is the part of the transport the membership steers.
type peerSet interface {
	AddPeer(id consensus.NodeID, addr string)
	RemovePeer(id consensus.NodeID)
}

// membership knows who the members are (the core's latest membership, as
// the node announces it) and where they are, and keeps the transport's
// peers in step: a new member becomes a peer as soon as its AddLearner is
// in this node's log (a learner must receive entries before the change
// commits), a removed one stops being a peer when its removal is applied.
//
// Addresses come from four places, later ones overriding earlier ones: the
// cluster line (the bootstrap membership only), the newest snapshot (its
// data begins with the address book as of its index, see membersSM), the
// conf change entries of the log (ConfChange.Addr is the Raft address,
// Context the client address), and snapshots received from the leader. So
// a restarted node knows every member's addresses from its own disk,
// whatever its cluster line says.
type membership struct {
	self   consensus.NodeID
	logger *slog.Logger

	mu        sync.Mutex
	conf      consensus.ConfState
	announced bool
	// addrs is every address learned, committed or not; applied is the
	// book as of the applied index, which snapshots record.
	addrs     map[consensus.NodeID]memberAddr
	applied   map[consensus.NodeID]memberAddr
	transport peerSet
	// peers is what the transport was given, by id.
	peers map[consensus.NodeID]string
	// removed: this node's removal was applied (or the membership on its
	// disk does not name it): clients get errRemoved at once instead of
	// waiting an election timeout for a leader that will never talk to it.
	// (A removed follower never applies its removal; the core learns it
	// from a MsgRemoved and answers consensus.ErrRemoved.)
	removed atomic.Bool
	// farewells are the removed nodes that are transport peers again only
	// so that the core's MsgRemoved reaches them, with when that ends.
	farewells map[consensus.NodeID]time.Time
}

// farewellPeerTTL is how long a removed node stays a transport peer after
// the last MsgRemoved to it: once told, it sends nothing more, so its
// sender is dropped soon; if it speaks again it is told again.
const farewellPeerTTL = 30 * time.Second

// errRemoved is the clients' answer on a node that is no member any more.
var errRemoved = resp.ErrRemoved

func newMembership(self consensus.NodeID, cluster []conf.Peer, logger *slog.Logger) *membership {
	m := &membership{
		self:    self,
		logger:  logger,
		addrs:   map[consensus.NodeID]memberAddr{},
		applied: map[consensus.NodeID]memberAddr{},
		peers:   map[consensus.NodeID]string{},

		farewells: map[consensus.NodeID]time.Time{},
	}
	for _, p := range cluster {
		a := memberAddr{raft: p.RaftAddr, client: p.ClientAddr}
		m.addrs[consensus.NodeID(p.ID)] = a
		m.applied[consensus.NodeID(p.ID)] = a
	}
	return m
}

// setTransport hands over the transport, whose peers were built from the
// cluster line (transportPeers).
func (m *membership) setTransport(t peerSet, peers map[consensus.NodeID]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.transport = t
	for id, addr := range peers {
		m.peers[id] = addr
	}
}

// transportPeers is the transport's initial peer list: every known
// address but ours.
func (m *membership) transportPeers() map[consensus.NodeID]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[consensus.NodeID]string{}
	for id, a := range m.addrs {
		if id != m.self && a.raft != "" {
			out[id] = a.raft
		}
	}
	return out
}

// learnFromLog reads the addresses of the conf changes in entries (the log
// after the snapshot, at start).
func (m *membership) learnFromLog(entries []consensus.Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range entries {
		if entries[i].Type != consensus.EntryConfChange {
			continue
		}
		if cc, err := consensus.DecodeConfChange(entries[i].Data); err == nil && cc.Type == consensus.ConfChangeAddLearner {
			m.addrs[cc.NodeID] = memberAddr{raft: cc.Addr, client: string(cc.Context)}
		}
	}
}

// onEvent is the node's OnMembership hook (the loop; must not block).
func (m *membership) onEvent(ev consensus.MembershipEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conf = ev.ConfState
	for _, cc := range ev.Appended {
		if cc.Type == consensus.ConfChangeAddLearner {
			m.addrs[cc.NodeID] = memberAddr{raft: cc.Addr, client: string(cc.Context)}
		}
	}
	switch {
	case m.isMemberLocked(m.self):
		m.removed.Store(false) // added again, or a removal rolled back
	case !m.announced:
		m.removed.Store(true) // removed before this start
	}
	if !m.announced && m.transport != nil {
		// The first announcement is the membership from disk: the cluster
		// line's peers that are members no more are dropped.
		m.announced = true
		for id := range m.peers {
			if !m.isMemberLocked(id) {
				m.transport.RemovePeer(id)
				delete(m.peers, id)
			}
		}
	}
	m.logger.Info("membership", "voters", ev.ConfState.Voters, "learners", ev.ConfState.Learners, "snapshot", ev.SnapshotIndex)
	m.syncLocked()
}

// syncLocked gives the transport every member it lacks.
func (m *membership) syncLocked() {
	if m.transport == nil {
		return
	}
	for _, ids := range [2][]consensus.NodeID{m.conf.Voters, m.conf.Learners} {
		for _, id := range ids {
			a := m.addrs[id]
			if id == m.self || (a.raft != "" && m.peers[id] == a.raft) {
				continue
			}
			if a.raft == "" {
				m.logger.Warn("member has no known raft address", "id", uint64(id))
				continue
			}
			m.transport.AddPeer(id, a.raft)
			m.peers[id] = a.raft
		}
	}
}

func (m *membership) isMemberLocked(id consensus.NodeID) bool {
	return slices.Contains(m.conf.Voters, id) || slices.Contains(m.conf.Learners, id)
}

// appliedChange records an applied conf change (the applier). A removed
// peer's sender is stopped outside the lock: RemovePeer waits for it, and
// the loop's onEvent must not wait behind that.
func (m *membership) appliedChange(cc consensus.ConfChange) {
	var drop peerSet
	m.mu.Lock()
	switch cc.Type {
	case consensus.ConfChangeAddLearner:
		a := memberAddr{raft: cc.Addr, client: string(cc.Context)}
		m.applied[cc.NodeID] = a
		if _, ok := m.addrs[cc.NodeID]; !ok {
			m.addrs[cc.NodeID] = a
		}
	case consensus.ConfChangeRemoveNode:
		delete(m.applied, cc.NodeID)
		if cc.NodeID == m.self {
			m.removed.Store(!m.isMemberLocked(m.self))
			m.logger.Warn("this node was removed from the cluster: it will not vote or lead again; stop it and wipe its data directory before reusing its address")
			break
		}
		_, farewell := m.farewells[cc.NodeID]
		if _, still := m.peers[cc.NodeID]; still && !farewell && !m.isMemberLocked(cc.NodeID) && m.transport != nil {
			delete(m.peers, cc.NodeID)
			drop = m.transport
		}
	}
	m.mu.Unlock()
	if drop == nil {
		return
	}
	drop.RemovePeer(cc.NodeID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isMemberLocked(cc.NodeID) {
		// Added again while its old sender stopped: give it a new one.
		delete(m.peers, cc.NodeID)
		m.syncLocked()
	}
}

// farewellTransport is the node's transport: the peers' transport, plus a
// farewell peer for a removed node the core answers with MsgRemoved. That
// node's peer was dropped when its removal was applied (or it was never
// one since this node started), so without it the answer would be lost
// and the removed node would go on waiting for a leader that ignores it.
type farewellTransport struct {
	peers   consensus.Transport
	members *membership
}

// Send is the node's hot path: a scan of msgs for MsgRemoved (one or two
// messages per call), and the lock only when one is there.
func (f farewellTransport) Send(to consensus.NodeID, msgs []consensus.Message) {
	for i := range msgs {
		if msgs[i].Type == consensus.MsgRemoved {
			f.members.farewell(to)
			break
		}
	}
	f.peers.Send(to, msgs)
}

// farewell makes the removed node id a transport peer for farewellPeerTTL
// (the loop; AddPeer does not block).
func (m *membership) farewell(id consensus.NodeID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.transport == nil || id == m.self || m.isMemberLocked(id) {
		return
	}
	until := time.Now().Add(farewellPeerTTL)
	if _, ok := m.farewells[id]; ok {
		m.farewells[id] = until
		return
	}
	if _, ok := m.peers[id]; !ok {
		a := m.addrs[id]
		if a.raft == "" {
			m.logger.Debug("cannot tell a removed node so: its raft address is unknown", "id", uint64(id))
			return
		}
		m.transport.AddPeer(id, a.raft)
		m.peers[id] = a.raft
	}
	m.logger.Info("telling a removed node it was removed", "id", uint64(id))
	m.farewells[id] = until
	time.AfterFunc(farewellPeerTTL, func() { m.endFarewell(id) })
}

// endFarewell drops a farewell peer once its time is up (a timer's
// goroutine: RemovePeer waits for the peer's sender, outside the lock).
func (m *membership) endFarewell(id consensus.NodeID) {
	m.mu.Lock()
	until, ok := m.farewells[id]
	if !ok {
		m.mu.Unlock()
		return
	}
	if wait := time.Until(until); wait > 0 {
		time.AfterFunc(wait, func() { m.endFarewell(id) })
		m.mu.Unlock()
		return
	}
	delete(m.farewells, id)
	_, peer := m.peers[id]
	drop := peer && !m.isMemberLocked(id) && m.transport != nil
	if drop {
		delete(m.peers, id)
	}
	t := m.transport
	m.mu.Unlock()
	if !drop {
		return
	}
	t.RemovePeer(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isMemberLocked(id) {
		// Added again while its sender stopped: give it a new one.
		delete(m.peers, id)
		m.syncLocked()
	}
}

// clientErr turns the core's ErrRemoved into the clients' answer.
func clientErr(err error) error {
	if errors.Is(err, consensus.ErrRemoved) {
		return errRemoved
	}
	return err
}

// appliedBook is a copy of the book as of the applied index.
func (m *membership) appliedBook() map[consensus.NodeID]memberAddr {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[consensus.NodeID]memberAddr, len(m.applied))
	for id, a := range m.applied {
		out[id] = a
	}
	return out
}

// restoreBook installs a snapshot's book (at start, or from the leader).
func (m *membership) restoreBook(book map[consensus.NodeID]memberAddr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied = book
	for id, a := range book {
		m.addrs[id] = a
	}
	m.syncLocked()
}

// memberInfo is one member as this node knows it.
type memberInfo struct {
	ID                   consensus.NodeID
	RaftAddr, ClientAddr string
	Learner              bool
}

// members returns the membership in force with addresses, by id.
func (m *membership) members() []memberInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []memberInfo
	for _, id := range m.conf.Voters {
		a := m.addrs[id]
		out = append(out, memberInfo{ID: id, RaftAddr: a.raft, ClientAddr: a.client})
	}
	for _, id := range m.conf.Learners {
		a := m.addrs[id]
		out = append(out, memberInfo{ID: id, RaftAddr: a.raft, ClientAddr: a.client, Learner: true})
	}
	slices.SortFunc(out, func(a, b memberInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// clientAddr is a member's client address, "" when unknown.
func (m *membership) clientAddr(id consensus.NodeID) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addrs[id].client
}

// ---- the address book in snapshots ----

// The state machine's snapshot data is prefixed with the address book as
// of the snapshot's index, so that it travels with the snapshot to
// followers (InstallSnapshot carries the data, the header only ids) and is
// on disk with it:
//
//	magic "RKVMEMB\x00", version uvarint (1), count uvarint,
//	count × (id uvarint, raft addr and client addr: uvarint length + bytes)
//
// then the store's own snapshot. Snapshots without the prefix (older ones)
// restore as before and leave the book alone.
const (
	membersMagic       = "RKVMEMB\x00"
	membersVersion     = 1
	membersCountMax    = 1 << 10
	membersAddrByteMax = 1 << 10
)

var errBadMembers = errors.New("server: bad member list in snapshot")

func appendMembersHeader(dst []byte, book map[consensus.NodeID]memberAddr) []byte {
	ids := make([]consensus.NodeID, 0, len(book))
	for id := range book {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	dst = append(dst, membersMagic...)
	dst = binary.AppendUvarint(dst, membersVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		a := book[id]
		dst = binary.AppendUvarint(dst, uint64(id))
		dst = binary.AppendUvarint(dst, uint64(len(a.raft)))
		dst = append(dst, a.raft...)
		dst = binary.AppendUvarint(dst, uint64(len(a.client)))
		dst = append(dst, a.client...)
	}
	return dst
}

// readMembersHeader reads the book after the magic, which the caller
// consumed.
func readMembersHeader(r *bufio.Reader) (map[consensus.NodeID]memberAddr, error) {
	version, err := binary.ReadUvarint(r)
	if err != nil || version != membersVersion {
		return nil, fmt.Errorf("%w: version %d (%v)", errBadMembers, version, err)
	}
	count, err := binary.ReadUvarint(r)
	if err != nil || count > membersCountMax {
		return nil, fmt.Errorf("%w: %d members (at most %d), %v", errBadMembers, count, membersCountMax, err)
	}
	readString := func(what string) (string, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > membersAddrByteMax {
			return "", fmt.Errorf("%w: %s of %d bytes (at most %d), %v", errBadMembers, what, n, membersAddrByteMax, err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", fmt.Errorf("%w: %s: %w", errBadMembers, what, err)
		}
		return string(b), nil
	}
	book := make(map[consensus.NodeID]memberAddr, count)
	for i := uint64(0); i < count; i++ {
		id, err := binary.ReadUvarint(r)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%w: member %d: id %d, %v", errBadMembers, i, id, err)
		}
		var a memberAddr
		if a.raft, err = readString("raft address"); err != nil {
			return nil, err
		}
		if a.client, err = readString("client address"); err != nil {
			return nil, err
		}
		book[consensus.NodeID(id)] = a
	}
	return book, nil
}

// membersSM is the state machine the node applies to: the store, plus the
// address book kept in step with the applied index (Apply sees the conf
// change entries; Snapshot and Restore carry the book in the data).
type membersSM struct {
	inner   consensus.StateMachine
	members *membership
}

func (m *membersSM) Apply(entries []consensus.Entry) []consensus.Result {
	for i := range entries {
		if entries[i].Type != consensus.EntryConfChange {
			continue
		}
		if cc, err := consensus.DecodeConfChange(entries[i].Data); err == nil {
			m.members.appliedChange(cc)
		}
	}
	return m.inner.Apply(entries)
}

func (m *membersSM) Snapshot() (consensus.SnapshotReader, error) {
	header := appendMembersHeader(nil, m.members.appliedBook())
	inner, err := m.inner.Snapshot()
	if err != nil {
		return nil, err
	}
	return &membersSnapshot{header: header, inner: inner}, nil
}

func (m *membersSM) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, err := br.Peek(len(membersMagic)); err == nil && string(magic) == membersMagic {
		if _, err := br.Discard(len(membersMagic)); err != nil {
			return err
		}
		book, err := readMembersHeader(br)
		if err != nil {
			return err
		}
		m.members.restoreBook(book)
	}
	return m.inner.Restore(br)
}

type membersSnapshot struct {
	header []byte
	inner  consensus.SnapshotReader
}

func (s *membersSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.header)
	if err != nil {
		return int64(n), err
	}
	m, err := s.inner.WriteTo(w)
	return int64(n) + m, err
}

func (s *membersSnapshot) Close() error { return s.inner.Close() }

// ---- the RAFT.* commands ----

var _ resp.Membership = (*backend)(nil)

// notLeader turns the core's ErrNotLeader or ErrNoLeader into the error
// that names the leader.
func (s *Server) notLeader(err error) error {
	if !errors.Is(err, consensus.ErrNotLeader) && !errors.Is(err, consensus.ErrNoLeader) {
		return err
	}
	leader := consensus.NodeID(s.node.Metrics().Leader)
	if leader == consensus.NodeID(s.cfg.NodeID) {
		leader = consensus.None // we were leader a moment ago; ask again
	}
	return &resp.NotLeaderError{LeaderID: uint64(leader), LeaderClientAddr: s.members.clientAddr(leader)}
}

// requireLeader answers the admin commands that only the leader serves.
func (s *Server) requireLeader() error {
	if consensus.Role(s.node.Metrics().Role) != consensus.RoleLeader {
		return s.notLeader(consensus.ErrNotLeader)
	}
	return nil
}

func (s *Server) proposeConfChange(ctx context.Context, cc consensus.ConfChange) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout)
	defer cancel()
	index, err := s.node.ProposeConfChange(ctx, cc)
	if err != nil {
		return 0, clientErr(s.notLeader(err))
	}
	s.logger.Info("membership change committed", "change", cc.Type.String(), "node", uint64(cc.NodeID), "index", index)
	return index, nil
}

// AddNode is RAFT.ADDNODE: id joins as a learner.
func (b *backend) AddNode(ctx context.Context, id uint64, raftAddr, clientAddr string) (uint64, error) {
	s := b.s
	for _, a := range [2]string{raftAddr, clientAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil || len(a) > membersAddrByteMax {
			return 0, fmt.Errorf("%w: address %q is not host:port", consensus.ErrConfChangeInvalid, a)
		}
	}
	if err := s.requireLeader(); err != nil {
		return 0, err
	}
	for _, mi := range s.members.members() {
		if mi.ID != consensus.NodeID(id) && (mi.RaftAddr == raftAddr || mi.ClientAddr == clientAddr) {
			return 0, fmt.Errorf("%w: node %d already uses %s or %s", consensus.ErrConfChangeInvalid, mi.ID, raftAddr, clientAddr)
		}
	}
	// A new member must start from a snapshot, whose membership is exact:
	// from an uncompacted log it would replay the conf changes from index 1
	// over its guessed bootstrap membership (its cluster line).
	if s.log.FirstIndex() <= 1 {
		if err := s.save(ctx); err != nil && !errors.Is(err, resp.ErrSaveInProgress) {
			return 0, fmt.Errorf("snapshot before adding node %d: %w", id, err)
		}
	}
	return s.proposeConfChange(ctx, consensus.ConfChange{
		Type: consensus.ConfChangeAddLearner, NodeID: consensus.NodeID(id),
		Addr: raftAddr, Context: []byte(clientAddr),
	})
}

// PromoteNode is RAFT.PROMOTE. Besides the core's rule (the learner's log
// is at most PromoteLagEntriesMax behind), the learner must be streaming
// entries (replicate state: past its snapshot, logs matching) and heard
// from recently, so that a learner still receiving its snapshot, or a dead
// one, never becomes a voter the quorum would have to wait for.
func (b *backend) PromoteNode(ctx context.Context, id uint64) (uint64, error) {
	s := b.s
	if err := s.requireLeader(); err != nil {
		return 0, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	st, err := s.node.Status(sctx)
	cancel()
	if err != nil {
		return 0, err
	}
	if pr, ok := st.Progress[consensus.NodeID(id)]; ok && pr.Learner && (pr.State != consensus.StateReplicate || !pr.RecentActive) {
		return 0, fmt.Errorf("%w: learner %d is in state %s (active %t), match %d, leader's last index %d",
			consensus.ErrLearnerBehind, id, pr.State, pr.RecentActive, pr.Match, st.LastIndex)
	}
	return s.proposeConfChange(ctx, consensus.ConfChange{Type: consensus.ConfChangePromoteVoter, NodeID: consensus.NodeID(id)})
}

// RemoveNode is RAFT.REMOVENODE.
func (b *backend) RemoveNode(ctx context.Context, id uint64) (uint64, error) {
	return b.s.proposeConfChange(ctx, consensus.ConfChange{Type: consensus.ConfChangeRemoveNode, NodeID: consensus.NodeID(id)})
}

// TransferLeader is RAFT.TRANSFER: it waits up to an election timeout for
// the target to lead.
func (b *backend) TransferLeader(ctx context.Context, id uint64) (uint64, error) {
	s := b.s
	if err := s.requireLeader(); err != nil {
		return 0, err
	}
	electionTimeout := time.Duration(s.cfg.ElectionTimeoutMs) * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, 2*electionTimeout)
	defer cancel()
	st, err := s.node.Status(ctx)
	if err != nil {
		return 0, err
	}
	self := consensus.NodeID(s.cfg.NodeID)
	target := consensus.NodeID(id)
	if target == consensus.None {
		target = mostUpToDateVoter(st, self)
		if target == consensus.None {
			return 0, fmt.Errorf("%w: no other voter is active", consensus.ErrConfChangeInvalid)
		}
	}
	if target == self {
		return uint64(self), nil
	}
	if !slices.Contains(st.Voters, target) {
		return 0, fmt.Errorf("%w: node %d is not a voter", consensus.ErrConfChangeInvalid, target)
	}
	events, unsubscribe := s.node.Subscribe(16)
	defer unsubscribe()
	if err := s.node.TransferLeader(ctx, target); err != nil {
		return 0, err
	}
	for {
		if m := s.node.Metrics(); consensus.Role(m.Role) != consensus.RoleLeader {
			if consensus.NodeID(m.Leader) == target {
				return uint64(target), nil
			}
		}
		select {
		case ev := <-events:
			if ev.Soft.Leader == target {
				return uint64(target), nil
			}
		case <-ctx.Done():
			if m := s.node.Metrics(); consensus.Role(m.Role) == consensus.RoleLeader {
				return 0, fmt.Errorf("%w: leadership transfer to %d did not finish within two election timeouts", consensus.ErrTimeout, target)
			}
			return 0, fmt.Errorf("%w: leadership left this node but %d does not lead yet", consensus.ErrTimeout, target)
		}
	}
}

// mostUpToDateVoter is the active voter other than self with the highest
// match index, None when there is none.
func mostUpToDateVoter(st consensus.Status, self consensus.NodeID) consensus.NodeID {
	var target consensus.NodeID
	var best uint64
	for _, id := range st.Voters {
		pr, ok := st.Progress[id]
		if id == self || !ok || !pr.RecentActive {
			continue
		}
		if target == consensus.None || pr.Match > best || (pr.Match == best && id < target) {
			target, best = id, pr.Match
		}
	}
	return target
}

// RaftStatus is RAFT.STATUS.
func (b *backend) RaftStatus(ctx context.Context) (resp.RaftStatus, error) {
	s := b.s
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := s.node.Status(ctx)
	if err != nil {
		return resp.RaftStatus{}, err
	}
	out := resp.RaftStatus{
		NodeID: uint64(st.ID), LeaderID: uint64(st.SoftState.Leader), Term: st.SoftState.Term,
		Role: st.SoftState.Role.String(), CommitIndex: st.HardState.Commit, AppliedIndex: s.node.Metrics().Applied,
		FirstIndex: st.FirstIndex, LastIndex: st.LastIndex, LeadTransferee: uint64(st.LeadTransferee),
	}
	for _, mi := range s.members.members() {
		ms := resp.MemberStatus{ID: uint64(mi.ID), RaftAddr: mi.RaftAddr, ClientAddr: mi.ClientAddr, Learner: mi.Learner}
		if pr, ok := st.Progress[mi.ID]; ok {
			ms.Match, ms.Active = pr.Match, pr.RecentActive
			if st.LastIndex > pr.Match {
				ms.Lag = st.LastIndex - pr.Match
			}
		}
		if mi.ID == st.ID && st.Progress != nil {
			ms.Match, ms.Active, ms.Lag = st.LastIndex, true, 0
		}
		out.Members = append(out.Members, ms)
	}
	return out, nil
}

// bootstrapMembership is the core's membership when neither a snapshot
// nor the log says otherwise: the cluster line's members as voters, or,
// for a node that joins an existing cluster (join yes), the others as
// voters and itself as a learner, so that it never campaigns and waits for
// the leader's snapshot, whose membership then replaces this guess.
func bootstrapMembership(cfg *conf.Config) (voters, learners []consensus.NodeID) {
	for _, p := range cfg.Cluster {
		if cfg.Join && p.ID == cfg.NodeID {
			learners = append(learners, consensus.NodeID(p.ID))
			continue
		}
		voters = append(voters, consensus.NodeID(p.ID))
	}
	return voters, learners
}

// learnMembersFromLog reads the addresses of the members added by the
// conf changes in the log after the snapshot, at start.
func (s *Server) learnMembersFromLog() error {
	const scanBytesMax = 4 << 20
	last := s.log.LastIndex()
	for lo := s.log.FirstIndex(); lo <= last; {
		ents, err := s.log.Entries(lo, last+1, scanBytesMax)
		if err != nil {
			return fmt.Errorf("read log [%d,%d] for members: %w", lo, last, err)
		}
		if len(ents) == 0 {
			return fmt.Errorf("read log [%d,%d] for members: no entries", lo, last)
		}
		s.members.learnFromLog(ents)
		lo = ents[len(ents)-1].Index + 1
	}
	return nil
}
