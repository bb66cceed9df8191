package testproc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// WALSegments returns the log segment files of a node's data directory,
// oldest first (the wal package's layout: <dir>/wal/segments/<first
// index>.seg, fixed-size files whose unused end is zeros).
func WALSegments(dataDir string) ([]string, error) {
	segs, err := filepath.Glob(filepath.Join(dataDir, "wal", "segments", "[0-9]*.seg"))
	if err != nil {
		return nil, fmt.Errorf("wal segments of %s: %w", dataDir, err)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("no wal segments under %s", dataDir)
	}
	sort.Strings(segs) // fixed-width names: by first index
	return segs, nil
}

// TearWALTail zeroes the last n bytes of a segment's records (up to its last
// non-zero byte), as a write torn by a crash leaves them: the segment is
// preallocated, so a torn write is zeros where the record should be, not a
// shorter file. It returns the offset of the first zeroed byte.
func TearWALTail(path string, n int64) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("tear %s: %w", path, err)
	}
	end := int64(len(b))
	for end > 0 && b[end-1] == 0 {
		end--
	}
	// Never into the 16-byte segment header: a torn record, not a
	// damaged header (a segment's header is synced before it is used).
	from := max(end-n, 16)
	if from >= end {
		return end, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("tear %s: %w", path, err)
	}
	if _, err := f.WriteAt(make([]byte, end-from), from); err != nil {
		f.Close()
		return 0, fmt.Errorf("tear %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("tear %s: %w", path, err)
	}
	return from, nil
}
