package wal

import (
	"errors"
	"os"
	"syscall"
)

// fdatasyncIfSize flushes f's data and the metadata needed to read it back
// (its size, its block map), not its timestamps, if f holds exactly
// wantBytes; it reports whether it synced. For an append-only file that is
// all that fsync would make durable that matters, and the journal commit
// of the inode's times is what fdatasync saves. The size check and the
// sync share one descriptor access and allocate nothing.
func fdatasyncIfSize(f *os.File, wantBytes int64) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var synced bool
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var st syscall.Stat_t
		if serr = syscall.Fstat(int(fd), &st); serr != nil || st.Size != wantBytes {
			return
		}
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				break
			}
		}
		synced = serr == nil
	}); err != nil {
		return false, err
	}
	return synced, serr
}
