// Package wal is raftkv's durable storage: the Raft log and hard state (a
// *Log implements consensus.LogStorage and consensus.StateStorage) and the
// snapshot files (SnapshotStore). It knows nothing of what an entry means.
//
// # Layout
//
//	<dir>/hardstate          term, vote, commit (atomic replace)
//	<dir>/logmeta            compaction point: index and term (atomic replace)
//	<dir>/log/<20 digits>    tidwall/wal segments, named by their first index
//	<snapdir>/snap-<index>-<term>.snap   snapshots (OpenSnapshots)
//
// # Log records, byte by byte
//
// Segments are github.com/tidwall/wal's binary format: each record is
// uvarint(len) followed by len bytes. tidwall stores no checksum, so the
// len bytes are our own record:
//
//	term      uvarint
//	index     uvarint   must equal the position tidwall gives it
//	batchPos  uvarint   position of the entry in its Append call (0 = first)
//	type      1 byte    consensus.EntryType (0..2; others are corruption)
//	timeMs    varint    zig-zag, the leader's wall clock stamp
//	data      the rest, up to the trailer
//	crc       4 bytes   CRC32C (Castagnoli), little endian, of all bytes above
//
// Varints keep the common record (small terms, close indexes) to a few
// header bytes. The index is stored although tidwall implies it, so that a
// record in the wrong place is caught. batchPos costs one byte and lets
// repair tell a torn final write from older damage (below).
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
// Append is durable when it returns: the whole batch goes to tidwall as one
// wal.Batch with tidwall's own sync off, then exactly one fsync of the tail
// segment (group commit; many entries per fsync). fdatasync through a
// descriptor of our own was tried and reverted (bench/RESULTS.md, round
// 3): an append changes the file's size, so ext4 commits its journal
// either way; the sync was 10-15% faster with one writer on a quiet disk,
// but on the running system it gained nothing (1-node SET -P1: more CPU
// per SET in 7 pairs of 7). A sync without a journal commit needs
// overwritten, preallocated segments, which tidwall cannot write. When tidwall starts a new
// segment (it syncs the old one itself) we also fsync the directory, which
// tidwall does not, so that the new file's name survives a power cut; we
// know a new segment started by mirroring tidwall's size rule.
// Truncations (TruncateBack/TruncateFront inside tidwall, which write the
// surviving part to a fsynced temporary and rename it) are followed by a
// directory fsync for the same reason.
//
// SaveHardState fsyncs (atomic replace) whenever Term or Vote changes.
// When only Commit changes it does not write at all: the new commit is
// kept in memory, returned by HardState, and folded into the next durable
// write or Close. A commit index that goes back after a crash is safe
// (commit is advisory: the node relearns it from the leader or from a
// quorum), while an fsync per commit advance would double the disk work of
// every write.
//
// TruncatePrefix(upTo, term) first replaces logmeta (durable), then cuts
// the segments. A crash in between leaves extra entries before upTo, which
// Open cuts again. If the log does not hold upTo with that term (a
// snapshot from a leader we disagree with, or one beyond our last index),
// the whole log is discarded: it is reset with tidwall's own crash-safe
// rule, an empty "<upTo+1>.START" file that makes tidwall delete every
// older segment when it opens.
//
// # Repair rules on Open
//
// Every segment is read and every record's CRC and index checked (the log
// is bounded by compaction, and a bad record found at open is far cheaper
// than one found when a follower needs it). Then:
//
//   - Torn tail. Only the last Append can be partly on disk: every earlier
//     one was fsynced before the next began. So when the first bad record is
//     in the last segment (a partial record, a length that runs past the
//     end, a bad CRC, zeros) and no intact record of a LATER batch follows
//     it, the file is truncated at the end of the last good record, fsynced,
//     and a warning is logged with the file, index and offset. Records of
//     the same batch after the damage may be intact (the kernel writes pages
//     in any order); batchPos identifies them. A prefix of an unacknowledged
//     batch surviving is harmless to Raft.
//   - Anything else is ErrCorrupt, naming the file, the index and the byte
//     offset: a bad record followed by an intact record of a later batch
//     (found by trying every offset after the damage, so that a damaged
//     length prefix cannot hide later data), a bad record in any segment but
//     the last, segments that are not contiguous (a missing segment), or a
//     log that starts after the compaction point. Refusing to start is the
//     only safe answer: the lost entries may have been acknowledged.
//   - A truncation interrupted by a crash (tidwall's START/END files) is
//     finished first, exactly as tidwall would, so that the tail we check is
//     the one tidwall appends to; stale temporary files are removed.
//
// # Reads and the tail cache
//
// The newest entries (CacheEntriesMax, CacheBytesMax) are kept decoded in a
// ring, so Term, LastTerm and the follower hot path of Entries never touch
// the disk or decode. Readers take a read lock that Append holds only to
// publish, after its fsync: reads go on during the fsync and never see an
// entry that is not yet durable. Returned entries share Data with the cache
// and must not be modified. Reads that miss the cache are serialised:
// tidwall's Read fills its segment cache under a read lock, so two at once
// race inside it.
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
// tidwall/wal keeps the whole tail segment in memory and grows it by
// append, so each appended byte is copied a few times on average, and it
// keeps the segment it just closed (its segment cache, at least one
// segment). With the tail cache that is the WAL's memory: about 2.5 x
// SegmentBytes + CacheBytesMax, 12-16 MB with the 4 MiB defaults (it was
// 78 MB with 16 MiB of both and tidwall's two cached segments: 78 B per
// key of a 1 M-key load, bench/RESULTS.md). Both bounds only need to cover
// the followers' normal lag; smaller segments also make compaction's
// rewrite of the first segment cheaper. Reads that miss the cache go
// through tidwall, which copies each record once.
package wal
