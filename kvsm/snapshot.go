package kvsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"math"
	"slices"
	"time"

	"github.com/raftkv/raftkv/consensus"
	"github.com/tidwall/btree"
)

// Snapshot format constants; see doc.go for the layout.
const (
	snapshotMagic     = "RKVSNAP\x00"
	snapshotVersion   = 2 // 2 adds each key's modIndex; 1 is still read
	snapshotBufBytes  = 64 << 10
	snapshotChunkMax  = 1 << 20 // largest single read while restoring a long string
	snapshotKindStr   = 0
	snapshotKindHash  = 1
	snapshotNoExpire  = 0
	snapshotStringMax = stringBytesMax
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadSnapshot is wrapped by every Restore error about the data itself.
var ErrBadSnapshot = errors.New("kvsm: bad snapshot")

// Snapshot returns a point-in-time view of every database. It costs O(number
// of databases): the trees are copied on write, and compound values from
// before the snapshot are cloned by the writer before it changes them (the
// epoch), so the view can be written out by another goroutine while Apply
// goes on. Applier goroutine only; the returned reader may be used anywhere.
func (s *Store) Snapshot() (consensus.SnapshotReader, error) {
	sr := &snapshotReader{applied: s.applied.Load(), trees: make([]*btree.BTreeG[item], len(s.dbs))}
	// Copy marks the tree's nodes shared, a write that shared readers
	// (ExecShared) must not overlap.
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range s.dbs {
		sr.trees[i] = d.keys.Copy()
	}
	s.epoch++
	return sr, nil
}

type snapshotReader struct {
	applied uint64
	trees   []*btree.BTreeG[item]
}

// crcWriter counts and checksums what passes through it.
type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

func (cw *crcWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.crc = crc32.Update(cw.crc, castagnoli, p[:n])
	cw.n += int64(n)
	return n, err
}

// WriteTo writes the snapshot to w. It may be called more than once.
func (sr *snapshotReader) WriteTo(w io.Writer) (int64, error) {
	if sr.trees == nil {
		return 0, errors.New("kvsm: snapshot reader closed")
	}
	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, snapshotBufBytes)
	buf := make([]byte, 0, 256)
	buf = append(buf, snapshotMagic...)
	buf = binary.AppendUvarint(buf, snapshotVersion)
	buf = binary.AppendUvarint(buf, sr.applied)
	buf = binary.AppendUvarint(buf, uint64(len(sr.trees)))
	var werr error
	write := func() {
		if werr == nil {
			_, werr = bw.Write(buf)
		}
		buf = buf[:0]
	}
	write()
	for i, tr := range sr.trees {
		buf = binary.AppendUvarint(buf, uint64(i))
		buf = binary.AppendUvarint(buf, uint64(tr.Len()))
		write()
		tr.Scan(func(it item) bool {
			kind := byte(snapshotKindStr)
			if it.obj() != nil {
				kind = snapshotKindHash
			}
			buf = append(buf, kind)
			buf = binary.AppendUvarint(buf, uint64(it.expireAtMs))
			buf = binary.AppendUvarint(buf, it.modIndex)
			buf = binary.AppendUvarint(buf, uint64(len(it.key())))
			buf = append(buf, it.key()...)
			if it.obj() == nil {
				buf = binary.AppendUvarint(buf, uint64(len(it.str())))
				write()
				if werr == nil {
					_, werr = bw.Write(it.str())
				}
				return werr == nil
			}
			buf = binary.AppendUvarint(buf, uint64(it.obj().hash.Len()))
			write()
			it.obj().hash.Scan(func(f field) bool {
				buf = binary.AppendUvarint(buf, uint64(len(f.name)))
				buf = append(buf, f.name...)
				buf = binary.AppendUvarint(buf, uint64(len(f.val)))
				write()
				if werr == nil {
					_, werr = bw.Write(f.val)
				}
				return werr == nil
			})
			return werr == nil
		})
		if werr != nil {
			break
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		return cw.n, fmt.Errorf("kvsm: write snapshot: %w", werr)
	}
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], cw.crc)
	n, err := w.Write(tail[:])
	if err != nil {
		return cw.n + int64(n), fmt.Errorf("kvsm: write snapshot checksum: %w", err)
	}
	return cw.n + int64(n), nil
}

// Close releases the view.
func (sr *snapshotReader) Close() error {
	sr.trees = nil
	return nil
}

// crcReader checksums and counts what is read through it, so that errors can
// name the offset. It buffers the source itself and checksums what was
// consumed a buffer at a time (lazily, in sum and before each refill):
// checksumming byte by byte was a fifth of a restart's time.
type crcReader struct {
	src      io.Reader
	buf      []byte
	pos, end int // unread bytes: buf[pos:end]
	crcFrom  int // buf[crcFrom:pos] is consumed but not yet checksummed
	crc      uint32
	off      int64
	err      error // the source's error, once it gave no more bytes
}

func newCRCReader(src io.Reader) *crcReader {
	return &crcReader{src: src, buf: make([]byte, snapshotBufBytes)}
}

// fill refills an exhausted buffer.
func (cr *crcReader) fill() error {
	cr.sum()
	if cr.err != nil {
		return cr.err
	}
	for range 100 { // a Reader may return 0, nil a few times
		n, err := cr.src.Read(cr.buf)
		cr.pos, cr.end, cr.crcFrom = 0, n, 0
		if err != nil {
			cr.err = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	cr.err = io.ErrNoProgress
	return cr.err
}

// sum returns the checksum of everything consumed so far.
func (cr *crcReader) sum() uint32 {
	cr.crc = crc32.Update(cr.crc, castagnoli, cr.buf[cr.crcFrom:cr.pos])
	cr.crcFrom = cr.pos
	return cr.crc
}

func (cr *crcReader) ReadByte() (byte, error) {
	if cr.pos == cr.end {
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	b := cr.buf[cr.pos]
	cr.pos++
	cr.off++
	return b, nil
}

// readFull fills p, with io.ReadFull's errors (io.EOF when nothing was
// read, io.ErrUnexpectedEOF when part of p was).
func (cr *crcReader) readFull(p []byte) error {
	read := 0
	for read < len(p) {
		if cr.pos == cr.end {
			if err := cr.fill(); err != nil {
				if errors.Is(err, io.EOF) && read > 0 {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		n := copy(p[read:], cr.buf[cr.pos:cr.end])
		cr.pos += n
		cr.off += int64(n)
		read += n
	}
	return nil
}

func (cr *crcReader) fail(what string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		return fmt.Errorf("%w: %s at offset %d", ErrBadSnapshot, what, cr.off)
	}
	return fmt.Errorf("%w: %s at offset %d: %w", ErrBadSnapshot, what, cr.off, err)
}

func (cr *crcReader) uvarint(what string, max uint64) (uint64, error) {
	at := cr.off
	v, err := binary.ReadUvarint(cr)
	if err != nil {
		return 0, cr.fail("reading "+what, err)
	}
	if v > max {
		return 0, fmt.Errorf("%w: %s %d exceeds %d at offset %d", ErrBadSnapshot, what, v, max, at)
	}
	return v, nil
}

// bytes reads a length-prefixed byte string. A long string is read in
// chunks so that a damaged length cannot make Restore allocate much more
// than the input actually holds.
func (cr *crcReader) bytes(what string) ([]byte, error) {
	return cr.bytesAfter(nil, what)
}

// bytesInto is bytes into dst's array when it is small and fits (a key
// read into a reused buffer); otherwise as bytes.
func (cr *crcReader) bytesInto(dst []byte, what string) ([]byte, error) {
	n, err := cr.uvarint(what+" length", snapshotStringMax)
	if err != nil {
		return nil, err
	}
	if n > snapshotChunkMax {
		return cr.chunked(nil, n, what)
	}
	dst = slices.Grow(dst[:0], int(n))[:n]
	if err := cr.readFull(dst); err != nil {
		return nil, cr.fail("reading "+what, err)
	}
	return dst, nil
}

// bytesAfter reads a length-prefixed byte string and returns prefix
// followed by it, in one allocation when it is small (a string key's item
// keeps its key and value so).
func (cr *crcReader) bytesAfter(prefix []byte, what string) ([]byte, error) {
	n, err := cr.uvarint(what+" length", snapshotStringMax)
	if err != nil {
		return nil, err
	}
	if n <= snapshotChunkMax {
		b := make([]byte, len(prefix)+int(n))
		copy(b, prefix)
		if err := cr.readFull(b[len(prefix):]); err != nil {
			return nil, cr.fail("reading "+what, err)
		}
		return b, nil
	}
	return cr.chunked(prefix, n, what)
}

// chunked returns prefix followed by n bytes read, growing the copy a
// chunk at a time (see bytes).
func (cr *crcReader) chunked(prefix []byte, n uint64, what string) ([]byte, error) {
	b := make([]byte, len(prefix), len(prefix)+snapshotChunkMax)
	copy(b, prefix)
	n += uint64(len(prefix))
	for uint64(len(b)) < n {
		chunk := int(min(n-uint64(len(b)), snapshotChunkMax))
		b = append(b, make([]byte, chunk)...)
		if err := cr.readFull(b[len(b)-chunk:]); err != nil {
			return nil, cr.fail("reading "+what, err)
		}
	}
	return b, nil
}

// Restore replaces the whole state with the snapshot read from r. The
// snapshot is decoded into new databases and checked (format, limits, CRC)
// before anything is replaced, so on error the state is unchanged and the
// error names the offset. Applier goroutine only.
func (s *Store) Restore(r io.Reader) error {
	cr := newCRCReader(r)
	magic := make([]byte, len(snapshotMagic))
	if err := cr.readFull(magic); err != nil || string(magic) != snapshotMagic {
		return cr.fail("bad magic", err)
	}
	version, err := cr.uvarint("version", math.MaxUint32)
	if err != nil {
		return err
	}
	if version != snapshotVersion && version != 1 {
		return fmt.Errorf("%w: unknown version %d at offset %d", ErrBadSnapshot, version, len(snapshotMagic))
	}
	applied, err := cr.uvarint("applied index", math.MaxUint64)
	if err != nil {
		return err
	}
	ndb, err := cr.uvarint("database count", databasesMax)
	if err != nil {
		return err
	}
	if int(ndb) != len(s.dbs) {
		return fmt.Errorf("%w: snapshot has %d databases, the store %d (offset %d)", ErrBadSnapshot, ndb, len(s.dbs), cr.off)
	}
	dbs := make([]*database, ndb)
	epoch := s.epoch + 1
	// Restored keys' access data starts now: it is not in snapshots.
	c := execCtx{s: s, cfg: s.evictCfg.Load(), nowMs: time.Now().UnixMilli()}
	for i := range dbs {
		idx, err := cr.uvarint("database index", databasesMax)
		if err != nil {
			return err
		}
		if idx != uint64(i) {
			return fmt.Errorf("%w: database %d where %d was expected (offset %d)", ErrBadSnapshot, idx, i, cr.off)
		}
		d := newDatabase()
		dbs[i] = d
		if err := restoreDatabase(cr, &c, d, epoch, version); err != nil {
			return err
		}
	}
	want := cr.sum()
	var tail [4]byte
	at := cr.off
	if err := cr.readFull(tail[:]); err != nil {
		return cr.fail("reading checksum", err)
	}
	if got := binary.LittleEndian.Uint32(tail[:]); got != want {
		return fmt.Errorf("%w: checksum %08x, computed %08x (checksum at offset %d)", ErrBadSnapshot, got, want, at)
	}
	if _, err := cr.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the checksum at offset %d", ErrBadSnapshot, at+4)
	}
	// Success: switch over. Objects were made in the new epoch; the old
	// state is simply dropped (any snapshot reader keeps its own view).
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch = epoch
	for i, d := range dbs {
		s.dbs[i].keys = d.keys
		s.dbs[i].expires = d.expires
		s.dbs[i].mem, s.dbs[i].payload = d.mem, d.payload
		s.dbs[i].publish()
	}
	s.evictPool = s.evictPool[:0]
	s.publishMemory()
	s.applied.Store(applied)
	return nil
}

func restoreDatabase(cr *crcReader, c *execCtx, d *database, epoch, version uint64) error {
	nkeys, err := cr.uvarint("key count", math.MaxInt64)
	if err != nil {
		return err
	}
	// keyBuf holds the key read before its value (reused); last is the
	// greatest key stored so far: a snapshot lists keys in tree order, so
	// each normally sorts after it and is appended without a search.
	var keyBuf, prefixBuf []byte
	var last item
	for k := uint64(0); k < nkeys; k++ {
		at := cr.off
		kind, err := cr.ReadByte()
		if err != nil {
			return cr.fail("reading value kind", err)
		}
		if kind != snapshotKindStr && kind != snapshotKindHash {
			return fmt.Errorf("%w: unknown value kind %d at offset %d", ErrBadSnapshot, kind, at)
		}
		exp, err := cr.uvarint("deadline", math.MaxInt64)
		if err != nil {
			return err
		}
		var modIndex uint64
		if version >= 2 {
			if modIndex, err = cr.uvarint("modification index", math.MaxUint64); err != nil {
				return err
			}
		}
		key, err := cr.bytesInto(keyBuf[:0], "key")
		if err != nil {
			return err
		}
		keyBuf = key
		var it item
		if kind == snapshotKindStr {
			// The item's allocation: access data, key, value.
			prefixBuf = append(append(prefixBuf[:0], make([]byte, accessBytes)...), key...)
			buf, err := cr.bytesAfter(prefixBuf, "string value")
			if err != nil {
				return err
			}
			it = stringItemOf(buf, len(key), int64(exp))
		} else {
			o, err := restoreHash(cr, epoch)
			if err != nil {
				return err
			}
			o.key = string(key)
			it = newObjectItem(o, int64(exp))
		}
		it.modIndex = modIndex
		if k > 0 && !itemLess(last, it) {
			// Out of tree order (not written by Snapshot): search.
			if _, dup := d.keys.Get(it); dup {
				return fmt.Errorf("%w: duplicate key at offset %d", ErrBadSnapshot, at)
			}
			c.put(d, it)
			continue
		}
		c.putLast(d, it)
		last = it
	}
	return nil
}

func restoreHash(cr *crcReader, epoch uint64) (*object, error) {
	at := cr.off
	n, err := cr.uvarint("field count", math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty hash at offset %d", ErrBadSnapshot, at)
	}
	o := &object{kind: kindHash, epoch: epoch, hash: newFieldTree()}
	for i := uint64(0); i < n; i++ {
		fat := cr.off
		name, err := cr.bytes("field name")
		if err != nil {
			return nil, err
		}
		val, err := cr.bytes("field value")
		if err != nil {
			return nil, err
		}
		f := field{order: keyOrder(name), name: string(name), val: val}
		if _, dup := o.hash.Set(f); dup {
			return nil, fmt.Errorf("%w: duplicate hash field at offset %d", ErrBadSnapshot, fat)
		}
		o.bytes += fieldBytes(&f)
		o.payload += int64(len(f.name) + len(f.val))
	}
	return o, nil
}

// Digest hashes the whole state: every database's keys in order with their
// type, deadline and value. Replicas that applied the same entries have the
// same Digest; tests use it to compare them. Applier goroutine only.
func (s *Store) Digest() uint64 {
	h := fnv.New64a()
	var buf []byte
	for i, d := range s.dbs {
		buf = binary.AppendUvarint(buf[:0], uint64(i))
		buf = binary.AppendUvarint(buf, uint64(d.keys.Len()))
		h.Write(buf)
		d.keys.Scan(func(it item) bool {
			buf = binary.AppendUvarint(buf[:0], uint64(len(it.key())))
			buf = append(buf, it.key()...)
			buf = append(buf, byte(it.kind()))
			buf = binary.AppendVarint(buf, it.expireAtMs)
			buf = binary.AppendUvarint(buf, it.modIndex) // WATCH decisions depend on it
			if it.obj() == nil {
				buf = binary.AppendUvarint(buf, uint64(len(it.str())))
				buf = append(buf, it.str()...)
			} else {
				buf = binary.AppendUvarint(buf, uint64(it.obj().hash.Len()))
				it.obj().hash.Scan(func(f field) bool {
					buf = binary.AppendUvarint(buf, uint64(len(f.name)))
					buf = append(buf, f.name...)
					buf = binary.AppendUvarint(buf, uint64(len(f.val)))
					buf = append(buf, f.val...)
					return true
				})
			}
			h.Write(buf)
			return true
		})
	}
	return h.Sum64()
}

// ExpiredKeys returns up to max keys of db whose deadline is at or before
// nowMs, earliest first, as copies. The leader proposes them back with
// PurgeExpiredCommand (active expiry). Applier goroutine only.
func (s *Store) ExpiredKeys(db int, nowMs int64, max int) [][]byte {
	if db < 0 || db >= len(s.dbs) || max <= 0 {
		return nil
	}
	var keys [][]byte
	s.dbs[db].expires.Scan(func(dl deadline) bool {
		if dl.atMs > nowMs || len(keys) >= max {
			return false
		}
		keys = append(keys, []byte(dl.key))
		return true
	})
	return keys
}
