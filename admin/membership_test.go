package admin

import (
	"errors"
	"testing"
)

func TestLeaderRedirect(t *testing.T) {
	tests := []struct {
		msg      string
		addr     string
		redirect bool
	}{
		{"ERR not the leader; leader is 2 at 127.0.0.1:7002", "127.0.0.1:7002", true},
		{"ERR not the leader; leader is 2", "", false},
		{"ERR not the leader", "", false},
		{"ERR invalid membership change: remove 9: not a member", "", false},
		{"TRYAGAIN learner is behind the leader's log", "", false},
	}
	for _, tc := range tests {
		addr, ok := leaderRedirect(errors.New(tc.msg))
		if ok != tc.redirect || addr != tc.addr {
			t.Errorf("leaderRedirect(%q) = %q, %t; want %q, %t", tc.msg, addr, ok, tc.addr, tc.redirect)
		}
	}
}

func TestRetryable(t *testing.T) {
	for msg, want := range map[string]bool{
		"TRYAGAIN membership change pending":         true,
		"CLUSTERDOWN No leader elected yet":          true,
		"ERR not the leader; leader is 2 at h:1":     false,
		"TIMEOUT Outcome unknown: the write may ...": false,
	} {
		if got := retryable(errors.New(msg)); got != want {
			t.Errorf("retryable(%q) = %t, want %t", msg, got, want)
		}
	}
}

func TestParseNodeID(t *testing.T) {
	for in, ok := range map[string]bool{"1": true, "18446744073709551615": true, "0": false, "-1": false, "x": false, "": false} {
		if _, err := ParseNodeID(in); (err == nil) != ok {
			t.Errorf("ParseNodeID(%q): %v", in, err)
		}
	}
}
