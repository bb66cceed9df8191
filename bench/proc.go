package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// procFileBytesMax bounds what is read from one /proc file; stat and status
// are a few hundred bytes to a few KiB.
const procFileBytesMax = 64 << 10

// cpuTicks returns utime+stime of a process (all its threads) in clock
// ticks, from /proc/<pid>/stat.
func cpuTicks(pid int) (uint64, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	b, err := readProcFile(path)
	if err != nil {
		return 0, err
	}
	t, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// parseStatCPU reads fields 14 (utime) and 15 (stime) of a /proc/<pid>/stat
// line. Field 2, the command name, is in parentheses and may itself hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("stat: no ')' closing the command name")
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state), so field n is fields[n-3].
	const utimeField, stimeField = 14, 15
	if len(fields) < stimeField-2 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least %d", len(fields), stimeField-2)
	}
	utime, err := strconv.ParseUint(fields[utimeField-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime %q: %w", fields[utimeField-3], err)
	}
	stime, err := strconv.ParseUint(fields[stimeField-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime %q: %w", fields[stimeField-3], err)
	}
	return utime + stime, nil
}

// rssBytes returns the resident set size of a process from
// /proc/<pid>/status (VmRSS).
func rssBytes(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := readProcFile(path)
	if err != nil {
		return 0, err
	}
	v, err := parseVmRSS(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// parseVmRSS finds the "VmRSS:  1234 kB" line of a /proc/<pid>/status file.
func parseVmRSS(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"<n> kB\"", bytes.TrimSpace(line))
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kib < 0 || kib > 1<<40 {
			return 0, fmt.Errorf("VmRSS value %q: not a size in kB", f[0])
		}
		return kib << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line (kernel thread or zombie?)")
}

func readProcFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, procFileBytesMax)
	n, err := f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf[:n], nil
}

// clockTicksPerSecond is USER_HZ, the unit of utime and stime. It is 100 on
// every Linux build that matters, but getconf knows for sure.
func clockTicksPerSecond() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}
