package testproc

import (
	"os"
	"strings"
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

// FuzzParseInfo: INFO replies come from the server; parsing never panics
// and keeps only "key:value" lines.
func FuzzParseInfo(f *testing.F) {
	f.Add("# Raft\r\nraft_role:leader\r\nraft_leader_id:1\r\n")
	f.Add(":x\n#y:z\nk:v:w\n")
	f.Fuzz(func(t *testing.T, s string) {
		for k := range ParseInfo(s) {
			if k == "" || strings.ContainsAny(k, "\n") {
				t.Fatalf("bad key %q from %q", k, s)
			}
		}
	})
}
