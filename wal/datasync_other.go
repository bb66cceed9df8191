//go:build !linux

package wal

import "os"

// fdatasyncIfSize is fsync where Go exposes no fdatasync: correct, just
// without the saving. It syncs only if f holds exactly wantBytes.
func fdatasyncIfSize(f *os.File, wantBytes int64) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() != wantBytes {
		return false, err
	}
	return true, f.Sync()
}
