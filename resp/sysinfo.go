package resp

import (
	"crypto/rand"
	"encoding/hex"
	"syscall"
	"time"
)

// newRunID returns 40 random hex digits, as Redis's run_id.
func newRunID() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's documented contract)
	return hex.EncodeToString(b[:])
}

// cpuSeconds returns the process's system and user CPU time (INFO cpu).
func cpuSeconds() (sys, user float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	tv := func(t syscall.Timeval) float64 {
		return (time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond).Seconds()
	}
	return tv(ru.Stime), tv(ru.Utime)
}
