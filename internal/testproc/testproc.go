package testproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildRaftkv builds ./cmd/raftkv with the given build tags into dir and
// returns the binary's path.
func BuildRaftkv(dir string, tags string) (string, error) {
	bin := filepath.Join(dir, "raftkv")
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "github.com/raftkv/raftkv/cmd/raftkv")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return bin, nil
}

// MainWithRaftkv is a TestMain body: it builds the binary once into a
// temporary directory, stores its path in *bin, runs the tests and removes
// the directory. It returns the exit code for os.Exit.
func MainWithRaftkv(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "raftkv-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testproc:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildRaftkv(dir, ""); err != nil {
		fmt.Fprintln(os.Stderr, "testproc: build raftkv:", err)
		return 1
	}
	return m.Run()
}

// RequireProgram returns the path of an outside program. When it is
// missing the test fails under CI=true (CI must install it) and skips
// loudly elsewhere.
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (CI=true: scripts/test must install it)", name)
	}
	t.Skipf("SKIPPED LOUDLY: %s is not installed; run scripts/test as root to install it", name)
	return ""
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when it returns; a test binds them soon after.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
