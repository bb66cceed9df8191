package main

import (
	"slices"
	"testing"
)

func TestCutFlag(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantValue string
		wantRest  []string
		wantErr   bool
	}{
		{"absent", []string{"--port", "1"}, "", []string{"--port", "1"}, false},
		{"middle", []string{"--port", "1", "--pprof-addr", "127.0.0.1:6060", "--dir", "d"}, "127.0.0.1:6060", []string{"--port", "1", "--dir", "d"}, false},
		{"last wins", []string{"--pprof-addr", "a:1", "--pprof-addr", "b:2"}, "b:2", []string{}, false},
		{"no value", []string{"--port", "1", "--pprof-addr"}, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, rest, err := cutFlag(tc.args, "--pprof-addr")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if v != tc.wantValue || !slices.Equal(rest, tc.wantRest) {
				t.Fatalf("got %q %q, want %q %q", v, rest, tc.wantValue, tc.wantRest)
			}
		})
	}
}
