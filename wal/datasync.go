package wal

import (
	"fmt"
	"os"
	"path/filepath"
)

// tailSyncer makes the tail segment's appended bytes durable with
// fdatasync(2) on a descriptor of its own, instead of tidwall's Sync, which
// is fsync(2) on tidwall's descriptor (doc.go, "Durability contract", says
// why). It is owned by the holder of Log.writeMu.
//
// The descriptor follows the tail by name: Append tells it which segment
// is the tail after each batch (Log.segments mirrors tidwall's cycling),
// and every truncation or reset, which may replace the tail file by a
// rename, drops it. Before each sync the descriptor's size is checked
// against the mirrored tail size: a mismatch means the mirror and tidwall
// disagree about which file is the tail, and then the batch is made
// durable with tidwall's own Sync instead (and counted), so that a bug in
// the mirror costs speed, never durability.
type tailSyncer struct {
	file  *os.File
	first uint64 // first index of the segment file is open on (its name)
	// fallbacks counts syncs that went through tidwall because the size
	// check failed; tests require it to stay 0.
	fallbacks int
}

// sync makes the tail segment (the last of segments, named by their first
// indexes), which should hold tailBytes bytes, durable. fallback is tidwall's fsync of its own
// tail descriptor.
func (ts *tailSyncer) sync(logDir string, segments []uint64, tailBytes int, fallback func() error) error {
	if len(segments) == 0 { // never with tidwall's AllowEmpty, but never a panic
		ts.fallbacks++
		return fallback()
	}
	first := segments[len(segments)-1]
	if ts.file != nil && ts.first != first {
		ts.drop()
	}
	if ts.file == nil {
		f, err := os.Open(filepath.Join(logDir, segmentName(first)))
		if err != nil {
			return fmt.Errorf("wal: open tail segment for fdatasync: %w", err)
		}
		ts.file, ts.first = f, first
	}
	synced, err := fdatasyncIfSize(ts.file, int64(tailBytes))
	if err != nil {
		return fmt.Errorf("wal: fdatasync %s: %w", ts.file.Name(), err)
	}
	if !synced {
		ts.fallbacks++
		ts.drop()
		return fallback()
	}
	return nil
}

// drop closes the descriptor; the next sync reopens the tail by name.
func (ts *tailSyncer) drop() {
	if ts.file != nil {
		_ = ts.file.Close()
		ts.file = nil
	}
}
