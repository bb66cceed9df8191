package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A simulated write is "set key value" where value is the id of the client
// operation that wrote it: every write is unique, so a read names exactly
// which write it saw, and an applied entry names the request it came from.
//
// Entry.Data layout: version byte (1), key uvarint, value uvarint.

const (
	commandVersion  = 1
	commandBytesMax = 1 + 2*binary.MaxVarintLen64
)

var errBadCommand = errors.New("sim: bad command")

func appendSetCommand(dst []byte, key, value uint64) []byte {
	dst = append(dst, commandVersion)
	dst = binary.AppendUvarint(dst, key)
	return binary.AppendUvarint(dst, value)
}

// decodeSetCommand reads a command written by appendSetCommand. It never
// panics: bad bytes give an error saying what was wrong and where.
func decodeSetCommand(data []byte) (key, value uint64, err error) {
	if len(data) == 0 || len(data) > commandBytesMax {
		return 0, 0, fmt.Errorf("%w: %d bytes, want 1..%d", errBadCommand, len(data), commandBytesMax)
	}
	if data[0] != commandVersion {
		return 0, 0, fmt.Errorf("%w: version %d at offset 0, want %d", errBadCommand, data[0], commandVersion)
	}
	key, n := uvarintCanonical(data[1:])
	if n <= 0 {
		return 0, 0, fmt.Errorf("%w: key uvarint at offset 1 is malformed or not minimal", errBadCommand)
	}
	off := 1 + n
	value, m := uvarintCanonical(data[off:])
	if m <= 0 {
		return 0, 0, fmt.Errorf("%w: value uvarint at offset %d is malformed or not minimal", errBadCommand, off)
	}
	if off+m != len(data) {
		return 0, 0, fmt.Errorf("%w: %d trailing bytes at offset %d", errBadCommand, len(data)-off-m, off+m)
	}
	return key, value, nil
}

// registers is a node's state machine: one register per key, zero meaning
// "never written". Keys are small integers, so a slice beats a map and has no
// iteration order to worry about.
type registers struct {
	values  []uint64
	applied uint64
}

func newRegisters(keys uint64) *registers {
	return &registers{values: make([]uint64, keys)}
}

func (r *registers) get(key uint64) uint64 {
	if key >= uint64(len(r.values)) {
		return 0
	}
	return r.values[key]
}

// apply executes one committed write; the caller has checked ordering.
func (r *registers) set(key, value uint64) error {
	if key >= uint64(len(r.values)) {
		return fmt.Errorf("%w: key %d out of range (%d keys)", errBadCommand, key, len(r.values))
	}
	r.values[key] = value
	return nil
}

// uvarintCanonical is binary.Uvarint that also refuses padded encodings
// (a zero final byte after continuation bytes), so that every command has
// exactly one byte form.
func uvarintCanonical(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -1
	}
	return v, n
}

// snapshot encodes the registers: a count, then each value, as uvarints.
func (r *registers) snapshot() []byte {
	out := binary.AppendUvarint(make([]byte, 0, 1+len(r.values)*4), uint64(len(r.values)))
	for _, v := range r.values {
		out = binary.AppendUvarint(out, v)
	}
	return out
}

// restore replaces the registers with a snapshot's, applied through index.
// Bad bytes give an error naming the offset; r is unchanged then.
func (r *registers) restore(data []byte, index uint64) error {
	count, n := uvarintCanonical(data)
	if n <= 0 {
		return fmt.Errorf("%w: snapshot count at offset 0 is malformed", errBadCommand)
	}
	if count != uint64(len(r.values)) {
		return fmt.Errorf("%w: snapshot holds %d registers, want %d", errBadCommand, count, len(r.values))
	}
	values := make([]uint64, count)
	off := n
	for i := range values {
		v, m := uvarintCanonical(data[off:])
		if m <= 0 {
			return fmt.Errorf("%w: snapshot register %d at offset %d is malformed", errBadCommand, i, off)
		}
		values[i], off = v, off+m
	}
	if off != len(data) {
		return fmt.Errorf("%w: %d trailing snapshot bytes at offset %d", errBadCommand, len(data)-off, off)
	}
	r.values, r.applied = values, index
	return nil
}
