package transport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/consensus"
)

// ErrMalformed is wrapped by every error that reports bytes which do not
// decode as a message, a frame or a handshake.
var ErrMalformed = errors.New("transport: malformed input")

// Bit flags of a message's flags byte. Unknown bits are refused so that a
// future flag cannot be silently ignored by an old reader.
const (
	flagReject   byte = 1 << 0
	flagSnapDone byte = 1 << 1
	flagsKnown        = flagReject | flagSnapDone
)

// Smallest encodings, used to check counts against the remaining bytes
// before allocating: an entry is at least term, index, type, time and data
// length (one byte each); a node id is at least one byte.
const (
	entryBytesMin  = 5
	nodeIDBytesMin = 1
)

// AppendMessage appends the binary encoding of m to dst and returns the
// extended slice. It allocates only when dst must grow. The layout is
// documented field by field in doc.go.
func AppendMessage(dst []byte, m *consensus.Message) []byte {
	dst = append(dst, byte(m.Type))
	dst = binary.AppendUvarint(dst, uint64(m.From))
	dst = binary.AppendUvarint(dst, uint64(m.To))
	dst = binary.AppendUvarint(dst, m.Term)
	dst = binary.AppendUvarint(dst, m.LogTerm)
	dst = binary.AppendUvarint(dst, m.Index)
	dst = binary.AppendUvarint(dst, m.Commit)
	var flags byte
	if m.Reject {
		flags |= flagReject
	}
	if m.SnapDone {
		flags |= flagSnapDone
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, m.RejectHint)
	dst = binary.AppendUvarint(dst, m.Context)
	dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		dst = binary.AppendUvarint(dst, e.Term)
		dst = binary.AppendUvarint(dst, e.Index)
		dst = append(dst, byte(e.Type))
		dst = binary.AppendVarint(dst, e.TimeMs)
		dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
		dst = append(dst, e.Data...)
	}
	dst = binary.AppendUvarint(dst, m.Snapshot.Index)
	dst = binary.AppendUvarint(dst, m.Snapshot.Term)
	dst = appendNodeIDs(dst, m.Snapshot.ConfState.Voters)
	dst = appendNodeIDs(dst, m.Snapshot.ConfState.Learners)
	dst = binary.AppendVarint(dst, m.Snapshot.TimeMs)
	dst = binary.AppendUvarint(dst, m.SnapOffset)
	dst = binary.AppendUvarint(dst, uint64(len(m.Data)))
	dst = append(dst, m.Data...)
	return dst
}

func appendNodeIDs(dst []byte, ids []consensus.NodeID) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id))
	}
	return dst
}

// MessageSize returns the number of bytes AppendMessage would append for m.
func MessageSize(m *consensus.Message) int {
	n := 1 + uvarintLen(uint64(m.From)) + uvarintLen(uint64(m.To)) +
		uvarintLen(m.Term) + uvarintLen(m.LogTerm) + uvarintLen(m.Index) +
		uvarintLen(m.Commit) + 1 + uvarintLen(m.RejectHint) + uvarintLen(m.Context) +
		uvarintLen(uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		n += uvarintLen(e.Term) + uvarintLen(e.Index) + 1 + varintLen(e.TimeMs) +
			uvarintLen(uint64(len(e.Data))) + len(e.Data)
	}
	n += uvarintLen(m.Snapshot.Index) + uvarintLen(m.Snapshot.Term)
	n += uvarintLen(uint64(len(m.Snapshot.ConfState.Voters)))
	for _, id := range m.Snapshot.ConfState.Voters {
		n += uvarintLen(uint64(id))
	}
	n += uvarintLen(uint64(len(m.Snapshot.ConfState.Learners)))
	for _, id := range m.Snapshot.ConfState.Learners {
		n += uvarintLen(uint64(id))
	}
	n += varintLen(m.Snapshot.TimeMs)
	n += uvarintLen(m.SnapOffset) + uvarintLen(uint64(len(m.Data))) + len(m.Data)
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// decoder reads fields from buf in order. The first failure is kept in err
// with the name of the field and its byte offset; later reads return
// harmless values (counts stay checked against the bytes left), so callers
// check err once at the end.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(field string, reason string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d: %s", ErrMalformed, field, d.off, reason)
	}
}

func (d *decoder) remaining() int { return len(d.buf) - d.off }

// uvarint reads one uvarint. The one-byte case (most ids, small counts and
// lengths) is inlined; the rest goes through uvarintSlow.
func (d *decoder) uvarint(field string) uint64 {
	if off := d.off; off < len(d.buf) && d.buf[off] < 0x80 {
		d.off = off + 1
		return uint64(d.buf[off])
	}
	return d.uvarintSlow(field)
}

func (d *decoder) uvarintSlow(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if !d.consumeVarint(field, n) {
		return 0
	}
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if !d.consumeVarint(field, n) {
		return 0
	}
	return v
}

// consumeVarint moves past a varint of n bytes, as binary.Uvarint and
// binary.Varint report it, or records why there is none (n <= 0).
func (d *decoder) consumeVarint(field string, n int) bool {
	switch {
	case n == 0:
		d.fail(field, "truncated varint")
		return false
	case n < 0:
		d.fail(field, "varint overflows 64 bits")
		return false
	}
	d.off += n
	return true
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.fail(field, "truncated")
		return 0
	}
	b := d.buf[d.off]
	d.off++
	return b
}

// count reads a length prefix and checks that count items of at least
// itemBytesMin bytes each fit in what remains, so that no allocation is
// larger than the input that justifies it.
func (d *decoder) count(field string, itemBytesMin int) int {
	v := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if v > uint64(d.remaining()/itemBytesMin) {
		d.fail(field, fmt.Sprintf("count %d exceeds the %d bytes left", v, d.remaining()))
		return 0
	}
	return int(v)
}

// bytes returns a length-prefixed byte string aliasing buf (nil when empty).
func (d *decoder) bytes(field string) []byte {
	n := d.count(field, 1)
	if d.err != nil || n == 0 {
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

func (d *decoder) nodeIDs(field string) []consensus.NodeID {
	n := d.count(field, nodeIDBytesMin)
	if d.err != nil || n == 0 {
		return nil
	}
	ids := make([]consensus.NodeID, n)
	for i := range ids {
		ids[i] = consensus.NodeID(d.uvarint(field))
	}
	return ids
}

// DecodeMessage decodes one message from the front of src into m and returns
// the number of bytes it used. The byte slices of m (Data, Entries[i].Data)
// alias src: the caller must not reuse src while m is in use. Zero-length
// byte strings and lists decode as nil. It never panics, and it allocates
// only the Entries and node-id slices, each after checking that src holds
// enough bytes for the count it declares.
func DecodeMessage(src []byte, m *consensus.Message) (int, error) {
	d := decoder{buf: src}
	*m = consensus.Message{}
	m.Type = consensus.MessageType(d.byte("Type"))
	if d.err == nil && !m.Type.Valid() {
		d.off--
		d.fail("Type", fmt.Sprintf("unknown message type %d", m.Type))
	}
	m.From = consensus.NodeID(d.uvarint("From"))
	m.To = consensus.NodeID(d.uvarint("To"))
	m.Term = d.uvarint("Term")
	m.LogTerm = d.uvarint("LogTerm")
	m.Index = d.uvarint("Index")
	m.Commit = d.uvarint("Commit")
	flags := d.byte("Flags")
	if d.err == nil && flags&^flagsKnown != 0 {
		d.off--
		d.fail("Flags", fmt.Sprintf("unknown flag bits %#x", flags&^flagsKnown))
	}
	m.Reject = flags&flagReject != 0
	m.SnapDone = flags&flagSnapDone != 0
	m.RejectHint = d.uvarint("RejectHint")
	m.Context = d.uvarint("Context")
	if n := d.count("Entries", entryBytesMin); n > 0 {
		m.Entries = make([]consensus.Entry, n)
		for i := range m.Entries {
			e := &m.Entries[i]
			e.Term = d.uvarint("Entry.Term")
			e.Index = d.uvarint("Entry.Index")
			e.Type = consensus.EntryType(d.byte("Entry.Type"))
			e.TimeMs = d.varint("Entry.TimeMs")
			e.Data = d.bytes("Entry.Data")
			if d.err != nil {
				break
			}
		}
	}
	m.Snapshot.Index = d.uvarint("Snapshot.Index")
	m.Snapshot.Term = d.uvarint("Snapshot.Term")
	m.Snapshot.ConfState.Voters = d.nodeIDs("Snapshot.ConfState.Voters")
	m.Snapshot.ConfState.Learners = d.nodeIDs("Snapshot.ConfState.Learners")
	m.Snapshot.TimeMs = d.varint("Snapshot.TimeMs")
	m.SnapOffset = d.uvarint("SnapOffset")
	m.Data = d.bytes("Data")
	if d.err != nil {
		*m = consensus.Message{}
		return 0, d.err
	}
	return d.off, nil
}
