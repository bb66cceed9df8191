package transport

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/consensus"
)

// fillNonZero sets every field reachable from v to a non-zero value derived
// from seed, so that a field the codec forgets cannot survive a round trip.
// Slices get two elements.
func fillNonZero(t *testing.T, v reflect.Value, seed uint64) {
	t.Helper()
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8:
		v.SetUint(seed%7 + 1)
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(seed*0x9E3779B97F4A7C15 | 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(seed%1000) - 1)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillNonZero(t, s.Index(i), seed*31+uint64(i)+1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fillNonZero(t, v.Field(i), seed*17+uint64(i)+1)
		}
	default:
		t.Fatalf("fillNonZero: kind %s of %s not handled: teach the test (and the codec) about it", v.Kind(), v.Type())
	}
}

// fullMessage returns a message of type typ with every field non-zero.
func fullMessage(t *testing.T, typ consensus.MessageType, seed uint64) consensus.Message {
	t.Helper()
	var m consensus.Message
	fillNonZero(t, reflect.ValueOf(&m).Elem(), seed)
	m.Type = typ
	return m
}

func roundTrip(t *testing.T, m *consensus.Message) consensus.Message {
	t.Helper()
	enc := AppendMessage(nil, m)
	if got := MessageSize(m); got != len(enc) {
		t.Fatalf("MessageSize = %d, encoding is %d bytes", got, len(enc))
	}
	var out consensus.Message
	n, err := DecodeMessage(enc, &out)
	if err != nil {
		t.Fatalf("DecodeMessage(%s): %v", m.Type, err)
	}
	if n != len(enc) {
		t.Fatalf("DecodeMessage used %d of %d bytes", n, len(enc))
	}
	return out
}

func TestMessageRoundTripEveryTypeEveryField(t *testing.T) {
	for typ := consensus.MsgPreVote; typ.Valid(); typ++ {
		t.Run(typ.String(), func(t *testing.T) {
			m := fullMessage(t, typ, uint64(typ))
			if got := roundTrip(t, &m); !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

// TestMessageRoundTripEachFieldAlone sets one top-level field at a time, so
// that a field the codec skips or swaps with another shows up by name.
func TestMessageRoundTripEachFieldAlone(t *testing.T) {
	typ := reflect.TypeFor[consensus.Message]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Type" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			m := consensus.Message{Type: consensus.MsgApp}
			fillNonZero(t, reflect.ValueOf(&m).Elem().Field(i), uint64(i)+3)
			if got := roundTrip(t, &m); !reflect.DeepEqual(got, m) {
				t.Fatalf("field %s lost:\n got %+v\nwant %+v", f.Name, got, m)
			}
		})
	}
}

func TestMessageRoundTripEdgeValues(t *testing.T) {
	tests := []struct {
		name string
		m    consensus.Message
	}{
		{"zero fields", consensus.Message{Type: consensus.MsgHeartbeat}},
		{"max uint64", consensus.Message{Type: consensus.MsgApp, From: ^consensus.NodeID(0), Term: ^uint64(0), Commit: ^uint64(0),
			Entries: []consensus.Entry{{Term: ^uint64(0), Index: ^uint64(0), Type: 255, TimeMs: -1 << 63}}}},
		{"max int64 time", consensus.Message{Type: consensus.MsgApp, Entries: []consensus.Entry{{TimeMs: 1<<63 - 1, Data: []byte{0}}}}},
		{"entry without data", consensus.Message{Type: consensus.MsgApp, Entries: []consensus.Entry{{Term: 1, Index: 2}, {Term: 1, Index: 3, Data: []byte("x")}}}},
		{"flags apart", consensus.Message{Type: consensus.MsgSnapResp, Reject: true}},
		{"snap done only", consensus.Message{Type: consensus.MsgSnap, SnapDone: true, Data: bytes.Repeat([]byte{7}, 300)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundTrip(t, &tc.m); !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, tc.m)
			}
		})
	}
}

func TestDecodeMessageRefusesBadInput(t *testing.T) {
	valid := AppendMessage(nil, &consensus.Message{Type: consensus.MsgApp, From: 1, To: 2,
		Entries: []consensus.Entry{{Term: 1, Index: 1, Data: []byte("abc")}}, Data: []byte("zz")})
	tests := []struct {
		name  string
		input []byte
		want  string // in the error text
	}{
		{"empty", nil, "Type at byte 0: truncated"},
		{"invalid type zero", []byte{0}, "unknown message type 0"},
		{"unknown type", []byte{200}, "unknown message type 200"},
		{"truncated varint", []byte{byte(consensus.MsgApp), 0x80}, "From at byte 1: truncated varint"},
		{"overlong varint", append([]byte{byte(consensus.MsgApp)}, bytes.Repeat([]byte{0xff}, 11)...), "varint overflows"},
		{"unknown flag", []byte{byte(consensus.MsgApp), 0, 0, 0, 0, 0, 0, 0x80}, "unknown flag bits 0x80"},
		{"entry count too large", []byte{byte(consensus.MsgApp), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "Entries at byte"},
		{"data overruns", append(valid[:len(valid)-3:len(valid)-3], 0x7f, 1), "Data at byte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m consensus.Message
			_, err := DecodeMessage(tc.input, &m)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestDecodeMessageEveryTruncation: every proper prefix of a valid encoding
// is an error, never a panic or a silently shorter message.
func TestDecodeMessageEveryTruncation(t *testing.T) {
	m := fullMessage(t, consensus.MsgSnap, 9)
	enc := AppendMessage(nil, &m)
	for n := range len(enc) {
		var out consensus.Message
		if _, err := DecodeMessage(enc[:n], &out); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded without error", n, len(enc))
		}
	}
}

func TestAppendMessageAppends(t *testing.T) {
	m := fullMessage(t, consensus.MsgVote, 4)
	prefix := []byte("keep")
	enc := AppendMessage(append([]byte(nil), prefix...), &m)
	if !bytes.HasPrefix(enc, prefix) {
		t.Fatalf("AppendMessage overwrote dst's existing bytes")
	}
	var out consensus.Message
	if _, err := DecodeMessage(enc[len(prefix):], &out); err != nil || !reflect.DeepEqual(out, m) {
		t.Fatalf("decode after prefix: err %v, equal %v", err, reflect.DeepEqual(out, m))
	}
}

// appMessage is the benchmark's MsgApp: 64 entries of 100 bytes.
func appMessage() consensus.Message {
	m := consensus.Message{Type: consensus.MsgApp, From: 1, To: 2, Term: 7, LogTerm: 7, Index: 1000, Commit: 990}
	payload := bytes.Repeat([]byte{'v'}, 100)
	for i := range 64 {
		m.Entries = append(m.Entries, consensus.Entry{Term: 7, Index: 1001 + uint64(i), TimeMs: 1_700_000_000_000 + int64(i), Data: payload})
	}
	return m
}

func BenchmarkAppendMessageApp64x100(b *testing.B) {
	m := appMessage()
	buf := make([]byte, 0, MessageSize(&m))
	b.SetBytes(int64(MessageSize(&m)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
	}
}

func BenchmarkDecodeMessageApp64x100(b *testing.B) {
	m := appMessage()
	enc := AppendMessage(nil, &m)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	var out consensus.Message
	for b.Loop() {
		if _, err := DecodeMessage(enc, &out); err != nil {
			b.Fatal(err)
		}
	}
}
