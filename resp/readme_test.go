package resp

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("resp.readme", false, "rewrite README.md's command list from the command table")

const (
	readmePath         = "../README.md"
	readmeCommandsOpen = "<!-- commands -->"
	readmeCommandsEnd  = "<!-- /commands -->"
)

// commandListMarkdown renders the command table as README's list: one
// line per Redis documentation group, commands in upper case, sorted.
func commandListMarkdown(t *testing.T) string {
	t.Helper()
	docs, err := commandDocs()
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	for _, sp := range commandSpecs {
		group := "other"
		doc := docs[sp.name]
		for i := 0; i+1 < len(doc.Elems); i += 2 {
			if string(doc.Elems[i].Str) == "group" {
				group = string(doc.Elems[i+1].Str)
			}
		}
		groups[group] = append(groups[group], strings.ToUpper(sp.name))
	}
	var names []string
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(readmeCommandsOpen + "\n")
	for _, g := range names {
		slices.Sort(groups[g])
		b.WriteString("- **" + g + "**: `" + strings.Join(groups[g], "`, `") + "`\n")
	}
	b.WriteString(readmeCommandsEnd)
	return b.String()
}

// TestREADMECommandList fails when README's "Supported commands" list is
// not the command table's; -resp.readme rewrites it.
func TestREADMECommandList(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(data, []byte(readmeCommandsOpen))
	end := bytes.Index(data, []byte(readmeCommandsEnd))
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the %s ... %s markers", readmeCommandsOpen, readmeCommandsEnd)
	}
	end += len(readmeCommandsEnd)
	want := commandListMarkdown(t)
	if string(data[start:end]) == want {
		return
	}
	if *updateReadme {
		out := append(append(append([]byte{}, data[:start]...), want...), data[end:]...)
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md's command list differs from the command table; run go test ./resp -run TestREADMECommandList -resp.readme\nwant:\n%s", want)
}
