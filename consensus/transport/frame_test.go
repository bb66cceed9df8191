package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		typ     byte
		payload []byte
	}{
		{"empty payload", frameAccept, nil},
		{"small", frameBatch, []byte("hello")},
		{"over one read chunk", frameBatch, bytes.Repeat([]byte{0xab}, frameReadChunkBytes+123)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendFrame(nil, tc.typ, tc.payload)
			if len(enc) != frameHeaderBytes+len(tc.payload)+frameTrailerBytes {
				t.Fatalf("frame is %d bytes, want %d", len(enc), frameHeaderBytes+len(tc.payload)+frameTrailerBytes)
			}
			fr := frameReader{r: bytes.NewReader(enc)}
			typ, payload, err := fr.readFrame(len(tc.payload) + 1)
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			if typ != tc.typ || !bytes.Equal(payload, tc.payload) {
				t.Fatalf("got type %d, %d bytes; want type %d, %d bytes", typ, len(payload), tc.typ, len(tc.payload))
			}
			if _, _, err := fr.readFrame(len(tc.payload) + 1); err != io.EOF {
				t.Fatalf("after the last frame: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestReadFrameRefuses(t *testing.T) {
	good := appendFrame(nil, frameBatch, []byte("payload"))
	flipped := bytes.Clone(good)
	flipped[7] ^= 1
	badType := bytes.Clone(good)
	badType[4] = frameHello // type is covered by the checksum
	zeroLen := []byte{0, 0, 0, 0, 1}
	tests := []struct {
		name     string
		input    []byte
		maxBytes int
		want     error
	}{
		{"payload bit flip", flipped, 100, ErrChecksum},
		{"type changed", badType, 100, ErrChecksum},
		{"over the limit", good, 7, ErrFrameTooLarge},
		{"zero length", zeroLen, 100, ErrMalformed},
		{"truncated header", good[:3], 100, io.ErrUnexpectedEOF},
		{"truncated payload", good[:9], 100, io.ErrUnexpectedEOF},
		{"truncated checksum", good[:len(good)-1], 100, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := frameReader{r: bytes.NewReader(tc.input)}
			_, _, err := fr.readFrame(tc.maxBytes)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// TestReadFrameHugeLengthAllocatesNothing: a 2 GiB length header is refused
// before any allocation, and a frame within the limit that declares far
// more than it sends costs no more than one read chunk.
func TestReadFrameHugeLengthAllocatesNothing(t *testing.T) {
	tests := []struct {
		name        string
		length      uint32
		maxBytes    int
		want        error
		allocMaxMiB uint64
	}{
		{"2 GiB over a 64 MiB limit", 2 << 30, 64 << 20, ErrFrameTooLarge, 0},
		{"60 MiB declared, 10 bytes sent", 60 << 20, 64 << 20, io.ErrUnexpectedEOF, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr [frameHeaderBytes + 10]byte
			binary.BigEndian.PutUint32(hdr[:], tc.length)
			hdr[4] = frameBatch
			cr := &countingReader{r: bytes.NewReader(hdr[:])}
			fr := frameReader{r: cr}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := fr.readFrame(tc.maxBytes)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			if allocated > tc.allocMaxMiB<<20+64<<10 {
				t.Fatalf("allocated %d bytes for a refused frame, want at most %d MiB", allocated, tc.allocMaxMiB)
			}
			if tc.want == ErrFrameTooLarge && cr.read != frameHeaderBytes {
				t.Fatalf("read %d bytes past a refused header, want exactly the %d-byte header", cr.read, frameHeaderBytes)
			}
		})
	}
}

func BenchmarkReadFrame(b *testing.B) {
	m := appMessage()
	frame := appendFrame(nil, frameBatch, AppendMessage(nil, &m))
	r := bytes.NewReader(frame)
	fr := frameReader{r: r}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		if _, _, err := fr.readFrame(1 << 20); err != nil {
			b.Fatal(err)
		}
	}
}
