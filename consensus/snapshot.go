package consensus

// InstallSnapshot in chunks (Raft §7, thesis §5.3 "InstallSnapshot").
//
// Leader: a follower whose next entry is compacted moves to StateSnapshot;
// the leader reads the newest snapshot from Config.Snapshots in chunks of
// MaxMsgBytes and sends one chunk at a time (stop-and-wait: a chunk is
// usually large, and one in flight keeps the follower's memory and the
// leader's send queue bounded). The follower acknowledges each chunk with
// MsgSnapResp{SnapOffset: bytes it holds}; a chunk unacknowledged for
// snapshotHeartbeatsResend heartbeats is sent again. A MsgSnapResp with
// Reject (the follower lost its partial copy) restarts from offset 0.
//
// Follower: the core checks each chunk (same snapshot, same leader, offset
// equal to the bytes accepted so far, total within MaxSnapshotBytes) and
// hands it to the loop as a Ready.SnapshotChunks effect; it keeps only the
// count of bytes accepted, never the body. The loop spools the chunks (the
// server to a temporary file in the snapshot store, renamed when complete),
// so a follower's memory does not grow with the snapshot. The chunk's
// acknowledgement, MsgSnapResp{SnapOffset}, goes after persistence: the
// leader sends the next chunk only once this one is written, which is the
// flow control (one chunk in flight, paced by the follower's disk). The
// last chunk makes the snapshot pending (Ready.Snapshot, body in the loop's
// spool) and the follower answers with MsgAppResp{Index: snapshot index}
// after the loop installed it, which moves the leader back to probing from
// there.
//
// Resuming: a dropped connection loses chunks or acknowledgements, not the
// spool. The leader resends its unacknowledged chunk after
// snapshotHeartbeatsResend heartbeats; the follower answers a chunk that
// is not the next one with the offset it holds, and the leader goes on
// from there, whatever the offset: also when it is behind the chunk in
// flight (a late duplicate of the first chunk restarts the follower's
// copy; ignoring such answers left the leader resending its chunk for
// ever). Only a follower restart (its count of accepted bytes is
// gone, and its spool's temporary file is removed when the store opens) or
// a chunk of another snapshot or leader starts over from offset 0.
//
// Other followers are not held up: a follower in StateSnapshot gets no
// MsgApp, and the leader serves the others' appends and heartbeats as
// usual; the chunk read (at most MaxMsgBytes from Config.Snapshots) is the
// only work a snapshot adds to the leader's loop per acknowledgement.

// snapshotAssembly is a snapshot being received: its body is in the
// loop's spool, held bytes long.
type snapshotAssembly struct {
	meta SnapshotMeta
	from NodeID
	held uint64
}

func (r *Raft) sendSnapshot(to NodeID, pr *progress) bool {
	if !pr.recentActive {
		return false
	}
	if r.cfg.Snapshots == nil {
		r.logger.Warn("follower needs compacted entries but no snapshot source", "to", uint64(to))
		return false
	}
	meta, ok := r.cfg.Snapshots.Latest()
	if !ok || meta.Index+1 < r.log.firstIndex() {
		r.logger.Warn("follower needs compacted entries but no snapshot covers them",
			"to", uint64(to), "snapshot", meta.Index, "first", r.log.firstIndex())
		return false
	}
	pr.becomeSnapshot(meta)
	return r.sendSnapshotChunk(to, pr)
}

// sendSnapshotChunk sends the chunk at pr.snapOffset; it reports false when
// the chunk could not be read (and pr went back to probing), so that
// callers looping "while a message went" stop.
func (r *Raft) sendSnapshotChunk(to NodeID, pr *progress) bool {
	data, done, err := r.cfg.Snapshots.ReadChunk(pr.snapMeta.Index, pr.snapOffset, int(r.cfg.MaxMsgBytes))
	if err != nil {
		// The snapshot went (a newer one replaced it) or cannot be read:
		// probe again from what the follower is known to hold, which
		// starts over with the newest snapshot.
		r.logger.Warn("cannot read snapshot chunk", "to", uint64(to), "index", pr.snapMeta.Index,
			"offset", pr.snapOffset, "err", err)
		pr.abortSnapshot()
		return false
	}
	pr.snapSentTo = pr.snapOffset + uint64(len(data))
	pr.snapLastSent = done
	pr.snapIdleBeats = 0
	r.send(Message{To: to, Type: MsgSnap, Snapshot: pr.snapMeta, SnapOffset: pr.snapOffset, Data: data, SnapDone: done})
	return true
}

func (r *Raft) handleSnapshotResponse(m Message, pr *progress) {
	pr.recentActive = true
	if pr.state != StateSnapshot || m.Snapshot.Index != pr.snapMeta.Index || m.Snapshot.Term != pr.snapMeta.Term {
		return
	}
	switch {
	case m.Reject:
		pr.snapOffset = 0
		r.sendSnapshotChunk(m.From, pr)
	case m.SnapOffset == pr.snapSentTo && pr.snapLastSent:
		// Every chunk is out; the last one's answer is a MsgAppResp.
	default:
		// The expected acknowledgement, or the follower holds another
		// amount: a chunk was lost, or a late duplicate of the first
		// chunk restarted its copy. Go on from what it holds; a stale
		// acknowledgement costs one chunk sent twice, which the follower
		// answers with its offset.
		pr.snapOffset = m.SnapOffset
		r.sendSnapshotChunk(m.From, pr)
	}
}

// resendStalledSnapshots sends again chunks that went unanswered.
func (r *Raft) resendStalledSnapshots() {
	r.forEachPeer(func(id NodeID, pr *progress) {
		if pr.state != StateSnapshot {
			return
		}
		pr.snapIdleBeats++
		if pr.snapIdleBeats >= snapshotHeartbeatsResend {
			r.sendSnapshotChunk(id, pr)
		}
	})
}

// handleSnapshot receives one chunk on a follower.
func (r *Raft) handleSnapshot(m Message) {
	meta := m.Snapshot
	if meta.Index <= r.log.committed {
		// We already hold everything it covers: tell the leader where we
		// are so it probes from there.
		r.incoming = nil
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	in := r.incoming
	if m.SnapOffset == 0 {
		in = &snapshotAssembly{meta: meta, from: m.From}
		r.incoming = in
	}
	if in == nil || in.meta.Index != meta.Index || in.meta.Term != meta.Term || in.from != m.From {
		r.send(Message{To: m.From, Type: MsgSnapResp, Snapshot: meta, Reject: true})
		return
	}
	if m.SnapOffset != in.held {
		// A duplicate or a gap: say what we hold; the leader resends.
		r.send(Message{To: m.From, Type: MsgSnapResp, Snapshot: meta, SnapOffset: in.held})
		return
	}
	if in.held+uint64(len(m.Data)) > r.cfg.MaxSnapshotBytes {
		r.logger.Error("incoming snapshot too large", "index", meta.Index, "maxBytes", r.cfg.MaxSnapshotBytes)
		r.incoming = nil
		r.send(Message{To: m.From, Type: MsgSnapResp, Snapshot: meta, Reject: true})
		return
	}
	r.snapshotChunks = append(r.snapshotChunks, SnapshotChunk{Meta: meta, Offset: in.held, Data: m.Data, Done: m.SnapDone})
	in.held += uint64(len(m.Data))
	if !m.SnapDone {
		r.send(Message{To: m.From, Type: MsgSnapResp, Snapshot: meta, SnapOffset: in.held})
		return
	}
	r.incoming = nil
	if r.log.matchTerm(meta.Index, meta.Term) {
		// Our log already has the snapshot's last entry, hence everything
		// before it: no need to throw the log away (the loop discards the
		// spool).
		r.log.commitTo(meta.Index)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.lastIndex()})
		return
	}
	r.log.restore(&IncomingSnapshot{Meta: meta})
	r.membershipFromSnapshot(meta)
	r.lastStampMs = max(r.lastStampMs, meta.TimeMs)
	r.logger.Info("snapshot received", "index", meta.Index, "term", meta.Term, "bytes", in.held)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: meta.Index})
}
