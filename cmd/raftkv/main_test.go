package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunCommandLine checks the command line forms that answer without
// starting a node: help and version on stdout with exit 0, usage errors on
// stderr with exit 1 (bad configuration) or 2 (bad subcommand arguments).
func TestRunCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		stdoutNone bool
	}{
		{name: "help", args: []string{"--help"}, code: 0, stdoutHas: "raftkv join HOST:PORT ID RAFT-HOST:PORT CLIENT-HOST:PORT"},
		{name: "short help", args: []string{"-h"}, code: 0, stdoutHas: "raftkv status HOST:PORT"},
		{name: "help word", args: []string{"help"}, code: 0, stdoutHas: "raftkv [CONFIG-FILE] [--DIRECTIVE VALUE ...]"},
		{name: "version", args: []string{"--version"}, code: 0, stdoutHas: "redis_version 7.0.15"},
		{name: "unknown directive", args: []string{"--bogus", "1"}, code: 1, stderrHas: "raftkv --help", stdoutNone: true},
		{name: "bad value", args: []string{"--port", "abc"}, code: 1, stderrHas: `"port": "abc" is not an integer`, stdoutNone: true},
		{name: "status without address", args: []string{"status"}, code: 2, stderrHas: "usage: raftkv status", stdoutNone: true},
		{name: "join without arguments", args: []string{"join"}, code: 2, stderrHas: "usage: raftkv join", stdoutNone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdoutHas) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.stdoutHas)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderrHas)
			}
			if tt.stdoutNone && stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
