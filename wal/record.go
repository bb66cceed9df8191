package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/raftkv/raftkv/consensus"
)

// ErrCorrupt marks damage that repair must not paper over: a bad checksum
// before the torn tail, a missing segment, a state file that fails its
// checksum. Callers branch on it with errors.Is; the wrapping error names
// the file and the index or offset.
var ErrCorrupt = errors.New("wal: corrupt")

// castagnoli is the CRC32C table. It is computed once and never written, so
// sharing it is not mutable global state.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	// recordCRCBytes is the CRC32C trailer of every record.
	recordCRCBytes = 4
	// recordBytesMin is the smallest valid record: one byte each for term,
	// index, batch position, type and time, then the trailer.
	recordBytesMin = 5 + recordCRCBytes
	// recordHeaderBytesMax bounds the varint header (3 uvarints, a type
	// byte, a varint) so that encoders can size buffers.
	recordHeaderBytesMax = 3*binary.MaxVarintLen64 + 1 + binary.MaxVarintLen64
)

// appendRecord appends the encoding of e to dst. batchPos is e's position in
// the Append call that wrote it (0 for the first entry); repair uses it to
// tell a torn last batch from damage in a batch that was followed by others.
func appendRecord(dst []byte, e *consensus.Entry, batchPos uint64) []byte {
	start := len(dst)
	dst = binary.AppendUvarint(dst, e.Term)
	dst = binary.AppendUvarint(dst, e.Index)
	dst = binary.AppendUvarint(dst, batchPos)
	dst = append(dst, byte(e.Type))
	dst = binary.AppendVarint(dst, e.TimeMs)
	dst = append(dst, e.Data...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// recordBytes is the length of appendRecord's encoding of e.
func recordBytes(e *consensus.Entry, batchPos uint64) int {
	zigzag := uint64(e.TimeMs<<1) ^ uint64(e.TimeMs>>63)
	return uvarintBytes(e.Term) + uvarintBytes(e.Index) + uvarintBytes(batchPos) + 1 +
		uvarintBytes(zigzag) + len(e.Data) + recordCRCBytes
}

// decodeRecord checks rec's CRC and decodes it. The returned entry's Data
// aliases rec. Errors say what is wrong, not where: the caller knows the
// file and index and wraps them around.
func decodeRecord(rec []byte) (e consensus.Entry, batchPos uint64, err error) {
	if len(rec) < recordBytesMin {
		return e, 0, fmt.Errorf("record of %d bytes is shorter than the minimum %d: %w", len(rec), recordBytesMin, ErrCorrupt)
	}
	body := rec[:len(rec)-recordCRCBytes]
	want := binary.LittleEndian.Uint32(rec[len(body):])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return e, 0, fmt.Errorf("record checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	return decodeRecordBody(body)
}

// decodeRecordBody parses a record whose CRC was checked (or is about to
// be: resync peeks at the header before paying for a checksum).
func decodeRecordBody(body []byte) (e consensus.Entry, batchPos uint64, err error) {
	off := 0
	var n int
	if e.Term, n = binary.Uvarint(body[off:]); n <= 0 {
		return e, 0, fmt.Errorf("record term: bad uvarint: %w", ErrCorrupt)
	}
	off += n
	if e.Index, n = binary.Uvarint(body[off:]); n <= 0 {
		return e, 0, fmt.Errorf("record index: bad uvarint: %w", ErrCorrupt)
	}
	off += n
	if batchPos, n = binary.Uvarint(body[off:]); n <= 0 {
		return e, 0, fmt.Errorf("record batch position: bad uvarint: %w", ErrCorrupt)
	}
	off += n
	if off >= len(body) {
		return e, 0, fmt.Errorf("record truncated before type: %w", ErrCorrupt)
	}
	e.Type = consensus.EntryType(body[off])
	if e.Type > consensus.EntryConfChange {
		return e, 0, fmt.Errorf("record entry type %d unknown: %w", e.Type, ErrCorrupt)
	}
	off++
	if e.TimeMs, n = binary.Varint(body[off:]); n <= 0 {
		return e, 0, fmt.Errorf("record time: bad varint: %w", ErrCorrupt)
	}
	off += n
	if e.Index == 0 || batchPos >= e.Index {
		return e, 0, fmt.Errorf("record index %d with batch position %d: %w", e.Index, batchPos, ErrCorrupt)
	}
	if off < len(body) {
		e.Data = body[off:len(body):len(body)]
	}
	return e, batchPos, nil
}

// uvarintBytes is the length of x as a uvarint.
func uvarintBytes(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
