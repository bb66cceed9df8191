package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Frame types. A connection carries handshake frames first, then only
// frameBatch frames from the dialer to the acceptor.
const (
	frameBatch    byte = 1 // payload: messages, back to back, until the end
	frameHello    byte = 2 // dialer's hello
	frameHelloAck byte = 3 // acceptor's hello and proof
	frameProof    byte = 4 // dialer's proof
	frameAccept   byte = 5 // acceptor: handshake done
	frameRefuse   byte = 6 // either side: reason text, then close
)

const (
	// frameHeaderBytes is length:uint32 + type:uint8.
	frameHeaderBytes = 5
	// frameTrailerBytes is crc32c:uint32.
	frameTrailerBytes = 4
	// frameReadChunkBytes bounds how much is allocated ahead of bytes
	// actually received: a frame that claims to be large but stalls costs
	// at most this much more than what it sent.
	frameReadChunkBytes = 1 << 20
)

// Errors of the frame layer.
var (
	// ErrFrameTooLarge: a frame's length header exceeds the limit. Nothing
	// was allocated for it; the connection must be closed.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrChecksum: a frame's crc32c does not match its bytes.
	ErrChecksum = errors.New("transport: frame checksum mismatch")
)

// castagnoliTable is read-only after package initialisation.
var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// beginFrame appends a frame header with a placeholder length and returns
// the new slice and the frame's start offset, to be passed to endFrame.
func beginFrame(dst []byte, typ byte) ([]byte, int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, typ)
	return dst, start
}

// endFrame fills in the length of the frame begun at start and appends its
// checksum over type and payload.
func endFrame(dst []byte, start int) []byte {
	body := dst[start+4:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(body, castagnoliTable))
}

// appendFrame appends a whole frame with the given payload.
func appendFrame(dst []byte, typ byte, payload []byte) []byte {
	dst, start := beginFrame(dst, typ)
	dst = append(dst, payload...)
	return endFrame(dst, start)
}

// frameReader reads frames from a stream. Its header scratch space is
// reused so that a read allocates only the frame's own bytes.
type frameReader struct {
	r   io.Reader
	hdr [frameHeaderBytes]byte
}

// readFrame reads one frame of at most frameBytesMax bytes (type+payload)
// and returns its type and payload. The payload is a fresh slice owned by
// the caller. A length over the limit is refused with ErrFrameTooLarge
// before anything is allocated; a frame that ends early gives an error
// wrapping io.ErrUnexpectedEOF (io.EOF when the stream ends between frames).
func (fr *frameReader) readFrame(frameBytesMax int) (byte, []byte, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("transport: reading frame header: %w", err)
	}
	length := binary.BigEndian.Uint32(fr.hdr[:4])
	typ := fr.hdr[4]
	if length == 0 {
		return 0, nil, fmt.Errorf("%w: frame length 0 (must cover the type byte)", ErrMalformed)
	}
	if uint64(length) > uint64(frameBytesMax) {
		return 0, nil, fmt.Errorf("%w: %d bytes declared, limit %d", ErrFrameTooLarge, length, frameBytesMax)
	}
	// Payload then checksum: length-1 + 4 bytes, read in bounded chunks.
	want := int(length) - 1 + frameTrailerBytes
	buf := make([]byte, 0, min(want, frameReadChunkBytes))
	for len(buf) < want {
		chunk := min(want-len(buf), frameReadChunkBytes)
		if cap(buf)-len(buf) < chunk {
			grown := make([]byte, len(buf), min(want, 2*cap(buf)+chunk))
			copy(grown, buf)
			buf = grown
		}
		n, err := io.ReadFull(fr.r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, fmt.Errorf("transport: reading %d-byte frame of type %d (got %d): %w", length, typ, len(buf), err)
		}
	}
	payload := buf[: want-frameTrailerBytes : want-frameTrailerBytes]
	wantSum := binary.BigEndian.Uint32(buf[want-frameTrailerBytes:])
	sum := crc32.Update(0, castagnoliTable, fr.hdr[4:5])
	sum = crc32.Update(sum, castagnoliTable, payload)
	if sum != wantSum {
		return 0, nil, fmt.Errorf("%w: frame of type %d, %d bytes: computed %#08x, stored %#08x", ErrChecksum, typ, length, sum, wantSum)
	}
	return typ, payload, nil
}
