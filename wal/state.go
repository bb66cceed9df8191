package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/raftkv/raftkv/consensus"
)

// Small state files: the hard state and the log meta (the snapshot point
// that the log was compacted to). Each is written whole to a temporary file,
// fsynced, renamed over the old one and the directory fsynced, so a reader
// sees either the old or the new version and never a mix.

const (
	hardStateFileName = "hardstate"
	logMetaFileName   = "logmeta"
	tempSuffix        = ".tmp"

	stateFormatVersion = 1
	// hardStateFileBytes: magic(4) version(1) term(8) vote(8) commit(8) crc(4).
	hardStateFileBytes = 4 + 1 + 8 + 8 + 8 + 4
	// logMetaFileBytes: magic(4) version(1) index(8) term(8) crc(4).
	logMetaFileBytes = 4 + 1 + 8 + 8 + 4
)

var (
	hardStateMagic = [4]byte{'R', 'K', 'V', 'H'}
	logMetaMagic   = [4]byte{'R', 'K', 'V', 'M'}
)

// logMeta is the point the log was compacted to: entries up to and including
// Index are gone, and Index had Term.
type logMeta struct {
	Index uint64
	Term  uint64
}

func encodeHardState(hs consensus.HardState) []byte {
	b := make([]byte, 0, hardStateFileBytes)
	b = append(b, hardStateMagic[:]...)
	b = append(b, stateFormatVersion)
	b = binary.LittleEndian.AppendUint64(b, hs.Term)
	b = binary.LittleEndian.AppendUint64(b, uint64(hs.Vote))
	b = binary.LittleEndian.AppendUint64(b, hs.Commit)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHardState(b []byte) (consensus.HardState, error) {
	var hs consensus.HardState
	if err := checkStateFile(b, hardStateMagic, hardStateFileBytes); err != nil {
		return hs, err
	}
	hs.Term = binary.LittleEndian.Uint64(b[5:])
	hs.Vote = consensus.NodeID(binary.LittleEndian.Uint64(b[13:]))
	hs.Commit = binary.LittleEndian.Uint64(b[21:])
	return hs, nil
}

func encodeLogMeta(m logMeta) []byte {
	b := make([]byte, 0, logMetaFileBytes)
	b = append(b, logMetaMagic[:]...)
	b = append(b, stateFormatVersion)
	b = binary.LittleEndian.AppendUint64(b, m.Index)
	b = binary.LittleEndian.AppendUint64(b, m.Term)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeLogMeta(b []byte) (logMeta, error) {
	var m logMeta
	if err := checkStateFile(b, logMetaMagic, logMetaFileBytes); err != nil {
		return m, err
	}
	m.Index = binary.LittleEndian.Uint64(b[5:])
	m.Term = binary.LittleEndian.Uint64(b[13:])
	return m, nil
}

func checkStateFile(b []byte, magic [4]byte, size int) error {
	if len(b) != size {
		return fmt.Errorf("%d bytes, want %d: %w", len(b), size, ErrCorrupt)
	}
	if [4]byte(b[:4]) != magic {
		return fmt.Errorf("bad magic %q: %w", b[:4], ErrCorrupt)
	}
	if b[4] != stateFormatVersion {
		return fmt.Errorf("format version %d, want %d: %w", b[4], stateFormatVersion, ErrCorrupt)
	}
	body := b[:size-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[size-4:]); got != want {
		return fmt.Errorf("checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	return nil
}

// readStateFile reads a small state file; a missing file is (nil, nil).
func readStateFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	return b, nil
}

// syncClose fsyncs f (unless noSync) and closes it; f is closed whatever
// happens. name is the file's path, for the error.
func syncClose(f *os.File, name string, noSync bool) error {
	if !noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("wal: fsync %s: %w", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", name, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// of the directory. With noSync the fsyncs are skipped (tests only).
func writeFileAtomic(path string, data []byte, noSync bool) error {
	tmp := path + tempSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("wal: write %s: %w", tmp, err)
	}
	if err := syncClose(f, tmp, noSync); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("wal: rename %s: %w", tmp, err)
	}
	if noSync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so that renames, creations and removals in it
// survive a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: fsync dir %s: %w", dir, err)
	}
	return nil
}
