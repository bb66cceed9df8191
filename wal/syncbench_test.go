package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSyncKinds measures the disk primitive under the segment writer,
// without the Log around it: one write of batchBytes then one sync, by 1 or
// 3 writers at once (each on its own file, as three nodes on one disk).
//
//   - append-fsync: the file grows by each write (what tidwall/wal did).
//   - prealloc-fdatasync: the write overwrites a file that was zero-filled
//     with real writes and fsynced up front, so its blocks are allocated and
//     written; fdatasync then has no metadata to commit.
//
// It reports the sync's wall time (µs/sync, the loop's ns/op is per
// write+sync of one writer) and the kernel CPU per sync of the whole process
// (getrusage).
func BenchmarkSyncKinds(b *testing.B) {
	for _, kind := range []string{"append-fsync", "prealloc-fdatasync"} {
		for _, writers := range []int{1, 3} {
			for _, batchBytes := range []int{700, 4096, 16384} {
				b.Run(fmt.Sprintf("%s/writers=%d/bytes=%d", kind, writers, batchBytes), func(b *testing.B) {
					benchSyncKind(b, kind, writers, batchBytes)
				})
			}
		}
	}
}

func benchSyncKind(b *testing.B, kind string, writers, batchBytes int) {
	const fileBytes = 16 << 20
	dir := b.TempDir()
	files := make([]*os.File, writers)
	for w := range files {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(w)), os.O_CREATE|os.O_RDWR, 0o640)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if kind == "prealloc-fdatasync" {
			zeros := make([]byte, 1<<20)
			for off := 0; off < fileBytes; off += len(zeros) {
				if _, err := f.Write(zeros); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		files[w] = f
	}
	if err := syncDir(dir); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, batchBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	// b.N rounds; in each, every writer does one write+sync concurrently.
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			f := files[w]
			off := int64(0)
			for range b.N {
				if off+int64(batchBytes) > fileBytes {
					off = 0
					if kind == "append-fsync" {
						if err := f.Truncate(0); err != nil {
							errs <- err
							return
						}
					}
				}
				if _, err := f.WriteAt(buf, off); err != nil {
					errs <- err
					return
				}
				off += int64(batchBytes)
				var err error
				if kind == "append-fsync" {
					err = f.Sync()
				} else {
					err = syscall.Fdatasync(int(f.Fd()))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		b.Fatal(err)
	}
	syncs := float64(b.N * writers)
	sysUs := float64(after.Stime.Nano()-before.Stime.Nano()) / 1e3
	b.ReportMetric(sysUs/syncs, "sys-µs/sync")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/round")
}
