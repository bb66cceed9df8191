package resp

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

var genDocs = flag.Bool("resp.gendocs", false, "regenerate command_docs.resp3 from a redis-server started for the purpose (go generate)")

// TestGenerateCommandDocs asks a real redis-server for COMMAND DOCS of
// every command in our table and writes its RESP3 reply to
// command_docs.resp3. Run by go generate; skipped otherwise.
func TestGenerateCommandDocs(t *testing.T) {
	if !*genDocs {
		t.Skip("run with -resp.gendocs (go generate) to regenerate command_docs.resp3")
	}
	prog, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := exec.Command(prog, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	var nc net.Conn
	for i := 0; i < 100; i++ {
		if nc, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
	names := []string{"COMMAND", "DOCS"}
	for _, sp := range commandSpecs {
		names = append(names, sp.name)
	}
	req = fmt.Appendf(req, "*%d\r\n", len(names))
	for _, n := range names {
		req = fmt.Appendf(req, "$%d\r\n%s\r\n", len(n), n)
	}
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	// Skip HELLO's reply, then keep COMMAND DOCS's bytes.
	var all []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := rd.Read(buf)
		all = append(all, buf[:n]...)
		if i := bytes.Index(all, []byte("*0\r\n")); i >= 0 {
			rest := all[i+4:]
			if _, perr := parseCommandDocs(rest); perr == nil {
				if err := os.WriteFile("command_docs.resp3", rest, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote command_docs.resp3 (%d bytes, %d commands)", len(rest), len(commandSpecs))
				return
			}
		}
		if err != nil {
			t.Fatalf("reading COMMAND DOCS: %v (%d bytes so far)", err, len(all))
		}
	}
}

// TestCommandDocsCoverTable: the embedded documents parse, and every
// command of the table has its document with Redis's fields.
func TestCommandDocsCoverTable(t *testing.T) {
	docs, err := commandDocs()
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range commandSpecs {
		doc, ok := docs[sp.name]
		if !ok {
			t.Errorf("%s: no COMMAND DOCS entry (run go generate ./resp)", sp.name)
			continue
		}
		fields := map[string]bool{}
		for i := 0; i+1 < len(doc.Elems); i += 2 {
			fields[string(doc.Elems[i].Str)] = true
		}
		for _, f := range []string{"summary", "since", "group"} {
			if !fields[f] {
				t.Errorf("%s: COMMAND DOCS entry lacks %q", sp.name, f)
			}
		}
	}
}

// TestParseCommandDocsRejectsDamage: a damaged document is an error, never
// a panic.
func TestParseCommandDocsRejectsDamage(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"not a map", "*0\r\n"},
		{"short bulk", "%1\r\n$10\r\nabc\r\n"},
		{"huge aggregate", "%99999999\r\n"},
		{"bad integer", "%1\r\n$1\r\na\r\n:x\r\n"},
		{"unknown type", "%1\r\n$1\r\na\r\n?\r\n"},
		{"trailing", "%0\r\n+x\r\n"},
		{"truncated", commandDocsStringPrefix(100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseCommandDocs([]byte(tc.in)); err == nil {
				t.Fatalf("parseCommandDocs(%q) succeeded", tc.in)
			}
		})
	}
}

func commandDocsStringPrefix(n int) string { return string(commandDocsRESP3[:n]) }

func FuzzParseCommandDocs(f *testing.F) {
	f.Add(commandDocsRESP3[:200])
	f.Add([]byte("%1\r\n$3\r\nget\r\n%1\r\n$7\r\nsummary\r\n+x\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := parseCommandDocs(data)
		if err == nil && docs == nil {
			t.Fatal("nil docs without an error")
		}
	})
}
