// Package wal is raftkv's durable storage: the Raft log and hard state (a
// *Log implements consensus.LogStorage and consensus.StateStorage) and the
// snapshot files (SnapshotStore). It knows nothing of what an entry means.
//
// # Layout
//
//	<dir>/hardstate                 term, vote, commit (atomic replace)
//	<dir>/logmeta                   compaction point: index and term (atomic replace)
//	<dir>/segments/<20 digits>.seg  log segments, named by their first index
//	<dir>/segments/next.prep        the next segment, zero-filled ahead of need
//	<snapdir>/snap-<index>-<term>.snap   snapshots (OpenSnapshots)
//
// # Segments: a sync without a journal commit
//
// Each segment is a fixed-size file (SegmentBytes, default 4 MiB): a 16-byte
// header ("RKVS", version 1, 3 zero bytes, first index uint64 LE), then
// records back to back, each uvarint(len) and len bytes, then zeros to the
// end of the file. A zero byte where a length prefix would start ends the
// segment. Segments are created zero-filled with real writes and fsynced
// BEFORE the log uses them (not fallocate: its unwritten extents are
// converted by a journaled metadata change on the first overwrite), so an
// Append only overwrites blocks that are allocated and written and the file
// never changes size: its fdatasync then has nothing for ext4's journal to
// commit. Measured on this disk (BenchmarkSyncKinds, bench/RESULTS.md round
// 4), µs per write+sync of 700 B to 16 KiB, overwrite+fdatasync vs
// append+fsync: one writer 197-342 vs 346-606, three writers 333-444 vs
// 523-959, kernel CPU per sync 39-75 vs 70-117.
//
// A goroutine (the preparer) keeps one zero-filled file, next.prep, ready;
// a rotation writes the header into it, fdatasyncs it, renames it to its
// segment name and fsyncs the directory (one journal commit per segment),
// then asks for the next one. A record larger than a segment gets a
// segment of its own size, made on the spot (when the tail holds no record
// yet, that segment has the tail's name and replaces it, in the view as on
// disk). Segments are never reused:
// a recycled file would hold stale records that verify, and telling them
// apart needs a per-segment salt in every CRC; zero-filling costs one
// sequential write of SegmentBytes per segment, off the Append path.
//
// The invariant that makes overwriting safe: after the last record of
// every segment there are only zeros (or, in the tail, the bytes of a torn
// last write). Append writes only there. TruncateSuffix removes the later
// segments (newest first, a directory fsync after each unlink: unsynced
// unlinks may reach the disk in any order, and an older segment gone
// while a newer one stays is a gap Open must refuse) and then replaces
// its segment, atomically, by a zero-filled file (the prepared one)
// holding only the bytes before the cut (written, synced, renamed over
// it, directory fsync), so a stale record can never reappear behind a
// later, shorter append, and a crash leaves the old or the new segment,
// never durable records with holes in them (which zeroing in place could,
// and which Open would have to call corruption). Open's torn-tail repair
// zeroes the damaged bytes in place: they are all from the one
// unacknowledged write. Open removes the prepared file of the previous run
// unread: a crash between a rotation's rename and its directory fsync can
// leave it under its old name holding records of an unacknowledged write.
//
// TruncatePrefix removes only whole segments (all but the tail) that the
// snapshot covers: entries below FirstIndex may stay in the first segment,
// unserved; nothing is rewritten. A log with no segment (new, or discarded
// by a snapshot) gets one at its first Append.
//
// We left github.com/tidwall/wal (sessions 1-3) because it cannot
// overwrite in place: it appends after the end of the file (every sync a
// size change, so a journal commit), keeps the tail segment in memory and
// rewrites the first segment on compaction. A data directory written by it
// (<dir>/log) is migrated once at Open (legacy.go): its segments are
// finished and verified exactly as before, copied behind our header into
// "segments.migrate", which is fsynced and renamed to "segments" before
// the old directory is removed.
//
// # Log records, byte by byte
//
// The len bytes of a frame are our record:
//
//	term      uvarint
//	index     uvarint   must equal the position in the segment
//	batchPos  uvarint   position of the entry in its Append call (0 = first)
//	type      1 byte    consensus.EntryType (0..2; others are corruption)
//	timeMs    varint    zig-zag, the leader's wall clock stamp
//	data      the rest, up to the trailer
//	crc       4 bytes   CRC32C (Castagnoli), little endian, of all bytes above
//
// Varints keep the common record (small terms, close indexes) to a few
// header bytes. The index is stored although the position implies it, so
// that a record in the wrong place is caught. batchPos costs one byte and
// lets repair tell a torn final write from older damage (below).
//
// # State files
//
// hardstate: "RKVH", version 1 (1 byte), term, vote, commit (uint64 LE),
// CRC32C of the preceding 29 bytes (uint32 LE). logmeta: "RKVM", version 1,
// index, term (uint64 LE), CRC32C. Both are written whole to "<name>.tmp",
// fsynced, renamed over the old file, and the directory is fsynced; a
// reader sees the old or the new file, never a mix. A bad checksum is
// ErrCorrupt naming the file: there is no older copy to fall back on, and a
// guessed term or vote could break election safety.
//
// # Durability contract
//
// Append is durable when it returns: the whole batch is encoded into one
// buffer, written with one pwrite over the tail's zeros, then exactly one
// fdatasync of the tail segment (group commit; many entries per sync). A
// batch that does not fit in the tail is split: the part in the old tail
// is written and synced before the next segment is made, so only the last
// segment can ever hold a torn write. (fdatasync on a growing file was
// tried in round 3 and gained nothing: the size change costs the same
// journal commit as fsync.)
//
// SaveHardState fsyncs (atomic replace) whenever Term or Vote changes.
// When only Commit changes it does not write at all: the new commit is
// kept in memory, returned by HardState, and folded into the next durable
// write or Close. A commit index that goes back after a crash is safe
// (commit is advisory: the node relearns it from the leader or from a
// quorum), while an fsync per commit advance would double the disk work of
// every write.
//
// TruncatePrefix(upTo, term) first replaces logmeta (durable), then
// removes covered segments, oldest first, with no directory fsync. A crash
// in between leaves extra entries before upTo, which Open cuts again; as
// the unlinks may reach the disk in any order, it may also leave a gap
// among covered segments, which Open closes by removing the segments
// before it (everything before a segment that starts at or below upTo+1
// is in the snapshot). If the log does not hold upTo with that
// term (a snapshot from a leader we disagree with, or one beyond our last
// index), the whole log is discarded: every segment is removed, newest
// first, each unlink synced (directory fsync) before the next; a crash
// part way leaves a prefix of the old log, which Open discards again
// against logmeta.
//
// # Repair rules on Open
//
// Every segment is read and every record's CRC and index checked (the log
// is bounded by compaction, and a bad record found at open is far cheaper
// than one found when a follower needs it). Then:
//
//   - Torn tail. Only the last Append can be partly on disk: every earlier
//     one was synced before the next began. So when the first bad record is
//     in the last segment (a partial record, a length that runs past the
//     end, a bad CRC, non-zero bytes after the end) and no intact record of
//     a LATER batch follows it, the bytes from there to the last non-zero
//     byte are zeroed and synced, and a warning is logged with the file,
//     index and offset. Records of the same batch after the damage may be
//     intact (the kernel writes pages in any order); batchPos identifies
//     them. A prefix of an unacknowledged batch surviving is harmless to
//     Raft. A tail file shorter than a segment (cut by hand) is read as it
//     is; appends go on in it until it is full, then to a new segment.
//   - Anything else is ErrCorrupt, naming the file, the index and the byte
//     offset: a bad record followed by an intact record of a later batch
//     (found by trying every offset after the damage, so that a damaged
//     length prefix cannot hide later data), a bad header, a bad record or
//     non-zero bytes after the end in any segment but the last, segments
//     that are not contiguous (a missing segment) unless the segment
//     after the gap starts at or below the compaction point + 1, or a log
//     that starts after the compaction point. Refusing to start is the
//     only safe answer: the lost entries may have been acknowledged.
//   - Temporaries left by a crash (*.tmp, *.big) and next.prep are
//     removed.
//
// # Reads and the tail cache
//
// The newest entries (CacheEntriesMax, CacheBytesMax) are kept decoded in a
// ring, so Term, LastTerm and the follower hot path of Entries never touch
// the disk or decode. Readers take a read lock that Append holds only to
// publish, after its fsync: reads go on during the fsync and never see an
// entry that is not yet durable. Returned entries share Data with the cache
// and must not be modified. Reads that miss the cache are one pread per run
// of records in a segment (up to the byte limit, or 1 MiB), decoded from
// one buffer; each segment keeps the offset of every record (4 bytes per
// entry in the log). They run concurrently with other reads and with
// Append.
//
// # Snapshots
//
// SnapshotStore keeps one file per snapshot (format in snapshot.go): a
// header with its own CRC32C (magic, version, index, term, membership, body
// length), the body, and a CRC32C of the body. Files are written to a
// temporary, fsynced, renamed and the directory fsynced; the newest Keep
// (2) are kept. Opening the store verifies every file end to end; a damaged
// one is logged with its name and renamed "<name>.damaged" (kept for
// inspection), so Latest falls back to the previous one. The caller must
// check that the snapshot it falls back to still meets the log
// (Latest().Index >= FirstIndex()-1); if not, only a leader's snapshot
// can restore this node. Readers from Open check the body CRC at EOF; ReadChunk
// serves InstallSnapshot chunks; Create/Write/Commit receives one chunk by
// chunk.
//
// # Known costs
//
// Memory: the tail cache (CacheBytesMax) and 4 bytes per entry of record
// offsets; no segment is held in memory (tidwall kept the tail segment and
// the last closed one: 12-16 MB with 4 MiB segments). Disk: up to three
// segments beyond the log itself (the partly compacted first one, the
// preallocated rest of the tail, next.prep), and one extra sequential write
// of SegmentBytes zeros per segment, in the background, and one more at
// each Open. A follower whose suffix is overwritten pays a copy of the
// segment's kept part, a sync and a directory fsync (rare).
package wal
