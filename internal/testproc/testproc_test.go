package testproc

import (
	"os"
	"testing"
)

func TestFreePortsAreDistinct(t *testing.T) {
	ports := FreePorts(t, 20)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: %d repeated or invalid", ports, p)
		}
		seen[p] = true
	}
}

func TestBuildRaftkv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := BuildRaftkv(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("built %s: %v %v", bin, st, err)
	}
}
