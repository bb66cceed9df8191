package kvsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// batchFormatV1 is the first byte of every encoded batch. A reader that
// meets another value refuses the batch rather than guessing.
const batchFormatV1 = 1

// Limits on a decoded batch. They bound what a hostile or damaged entry can
// make DecodeBatch allocate; the RESP layer refuses larger requests long
// before they reach the log.
const (
	batchCommandsMax = 1 << 20 // commands in one entry
	commandArgsMax   = 1 << 20 // arguments of one command
	databaseIndexMax = 1 << 16 // a DB field above this is damage, not a SELECT
)

// ErrBadBatch is wrapped by every DecodeBatch error.
var ErrBadBatch = errors.New("kvsm: bad command batch")

// AppendBatch appends the encoding of cmds to dst and returns the extended
// slice. The layout (see doc.go) is: format byte, uvarint command count, then
// per command uvarint DB, uvarint argument count and, per argument, uvarint
// length and the bytes.
//
// It grows dst once, to the exact size (the encoding is the entry's data:
// one allocation per write pipeline, not one per append).
func AppendBatch(dst []byte, cmds []Command) []byte {
	dst = slices.Grow(dst, batchBytes(cmds))
	dst = append(dst, batchFormatV1)
	dst = binary.AppendUvarint(dst, uint64(len(cmds)))
	for i := range cmds {
		c := &cmds[i]
		db := c.DB
		if db < 0 || db > databaseIndexMax {
			// Never produced by the RESP layer; encode as an index no
			// store has, so that this command (not the whole batch)
			// fails, the same way everywhere.
			db = databaseIndexMax
		}
		dst = binary.AppendUvarint(dst, uint64(db))
		dst = binary.AppendUvarint(dst, uint64(len(c.Args)))
		for _, a := range c.Args {
			dst = binary.AppendUvarint(dst, uint64(len(a)))
			dst = append(dst, a...)
		}
	}
	return dst
}

// batchBytes is the length of cmds' encoding.
func batchBytes(cmds []Command) int {
	n := 1 + uvarintBytes(uint64(len(cmds)))
	for i := range cmds {
		db := cmds[i].DB
		if db < 0 || db > databaseIndexMax {
			db = databaseIndexMax // as AppendBatch encodes it
		}
		n += uvarintBytes(uint64(db)) + uvarintBytes(uint64(len(cmds[i].Args)))
		for _, a := range cmds[i].Args {
			n += uvarintBytes(uint64(len(a))) + len(a)
		}
	}
	return n
}

// uvarintBytes is the length of x's uvarint encoding.
func uvarintBytes(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// DecodeBatch decodes a batch written by AppendBatch. The argument slices
// alias data (no copy): the caller must keep data unchanged while it uses the
// commands. The store copies whatever it keeps. DecodeBatch never panics;
// every count is checked against the bytes that remain before anything is
// allocated, so a damaged length cannot make it allocate more than a small
// multiple of len(data).
func DecodeBatch(data []byte) ([]Command, error) {
	cmds, _, err := decodeBatchInto(data, nil, nil)
	return cmds, err
}

// decodeBatchInto is DecodeBatch into the arrays of cmds and args when they
// are large enough (the applier reuses them from entry to entry); it also
// returns the argument array it used, for the next call.
func decodeBatchInto(data []byte, cmds []Command, args [][]byte) ([]Command, [][]byte, error) {
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: empty", ErrBadBatch)
	}
	if data[0] != batchFormatV1 {
		return nil, nil, fmt.Errorf("%w: unknown format %d at offset 0", ErrBadBatch, data[0])
	}
	// First pass: validate everything and count the arguments so that the
	// second pass can carve all argument slices from one allocation.
	d := decoder{data: data, off: 1}
	n, err := d.count("command count", 3, batchCommandsMax) // db, argc, one arg length
	if err != nil {
		return nil, nil, err
	}
	start := d.off
	totalArgs := 0
	for i := uint64(0); i < n; i++ {
		if _, err := d.uvarint("database index", databaseIndexMax); err != nil {
			return nil, nil, err
		}
		argc, err := d.count("argument count", 1, commandArgsMax)
		if err != nil {
			return nil, nil, err
		}
		if argc == 0 {
			return nil, nil, fmt.Errorf("%w: command %d has no arguments (offset %d)", ErrBadBatch, i, d.off)
		}
		for j := uint64(0); j < argc; j++ {
			if _, err := d.bytes(); err != nil {
				return nil, nil, err
			}
		}
		totalArgs += int(argc)
	}
	if d.off != len(data) {
		return nil, nil, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrBadBatch, len(data)-d.off, d.off)
	}
	// Second pass: the input is known good; build the result.
	if uint64(cap(cmds)) < n {
		cmds = make([]Command, n)
	}
	cmds = cmds[:n]
	if cap(args) < totalArgs {
		args = make([][]byte, totalArgs)
	}
	args = args[:totalArgs]
	allArgs := args
	d.off = start
	for i := range cmds {
		db, _ := d.uvarint("", databaseIndexMax)
		argc, _ := d.uvarint("", commandArgsMax)
		cmdArgs := args[:argc:argc]
		args = args[argc:]
		for j := range cmdArgs {
			cmdArgs[j], _ = d.bytes()
		}
		cmds[i] = Command{DB: int(db), Args: cmdArgs}
	}
	return cmds, allArgs, nil
}

// decoder walks a byte slice, reporting errors with the offset they occur at.
type decoder struct {
	data []byte
	off  int
}

// uvarint reads a uvarint of at most max. Almost every one in a batch
// (database, argument count, argument lengths under 128) is one byte: that
// case is read inline, without binary.Uvarint's loop and call.
func (d *decoder) uvarint(what string, max uint64) (uint64, error) {
	if d.off < len(d.data) {
		if b := d.data[d.off]; b < 0x80 && uint64(b) <= max {
			d.off++
			return uint64(b), nil
		}
	}
	return d.uvarintSlow(what, max)
}

func (d *decoder) uvarintSlow(what string, max uint64) (uint64, error) {
	v, n := binary.Uvarint(d.data[d.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad %s varint at offset %d", ErrBadBatch, what, d.off)
	}
	if v > max {
		return 0, fmt.Errorf("%w: %s %d exceeds %d at offset %d", ErrBadBatch, what, v, max, d.off)
	}
	d.off += n
	return v, nil
}

// count reads a count of items each at least minBytes long and refuses it
// when the remaining input could not hold that many.
func (d *decoder) count(what string, minBytes int, max uint64) (uint64, error) {
	at := d.off
	v, err := d.uvarint(what, max)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(d.data)-d.off)/uint64(minBytes) {
		return 0, fmt.Errorf("%w: %s %d does not fit in the %d remaining bytes at offset %d",
			ErrBadBatch, what, v, len(d.data)-d.off, at)
	}
	return v, nil
}

// bytes reads a length-prefixed argument, aliasing data. An argument
// shorter than 128 bytes that fits (keys, small values, command names) is
// read inline.
func (d *decoder) bytes() ([]byte, error) {
	if d.off < len(d.data) {
		if n := int(d.data[d.off]); n < 0x80 && n < len(d.data)-d.off {
			from := d.off + 1
			d.off = from + n
			return d.data[from:d.off:d.off], nil
		}
	}
	return d.bytesSlow()
}

func (d *decoder) bytesSlow() ([]byte, error) {
	at := d.off
	n, err := d.uvarint("argument length", math.MaxInt32)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.data)-d.off) {
		return nil, fmt.Errorf("%w: argument length %d exceeds the %d remaining bytes at offset %d",
			ErrBadBatch, n, len(d.data)-d.off, at)
	}
	b := d.data[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b, nil
}
