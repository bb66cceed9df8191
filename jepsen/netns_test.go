//go:build linux

package jepsen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netLab is a small private network built from Linux network namespaces:
// one namespace per raftkv node, each with one veth interface (eth0,
// 10.77.0.<id>/24) plugged into a bridge that lives in a hub namespace.
// The test's clients dial from the hub (see dial), so the nemesis never
// cuts them off; it cuts node-to-node links with iptables INPUT rules in
// the receiving node's namespace, matched on the sender's address.
//
// Why not one namespace with 127.0.0.N per node: a socket dialled to
// 127.0.0.3 gets source address 127.0.0.1 whatever address its server is
// bound to (the kernel picks the loopback route's preferred source), and the
// raft transport does not bind its dialer, so "-s 127.0.0.2" would match
// nothing. Separate namespaces give every node a real source address.
type netLab struct {
	prefix  string   // unique name prefix: rkv-<8 hex>
	hub     string   // namespace name of the bridge and the clients
	nodeNS  []string // namespace name per node, index id-1
	created []string // namespaces to delete on close, in creation order
}

// labSubnet is the private /24 of every lab; labs never see each other (each
// has its own namespaces), so concurrent runs may reuse it.
const labSubnet = "10.77.0."

// hubAddr is the bridge's address in the hub namespace.
const hubAddr = labSubnet + "254"

// commandTimeout bounds every ip/iptables invocation.
const commandTimeout = 10 * time.Second

// errNoNetns says the harness cannot build namespaces here (not root, or a
// program missing); callers fall back to process faults only.
var errNoNetns = errors.New("network namespaces unavailable")

// netnsUnavailable returns why namespaces cannot be built, or nil.
func netnsUnavailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (euid %d)", errNoNetns, os.Geteuid())
	}
	for _, prog := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("%w: %s not installed", errNoNetns, prog)
		}
	}
	return nil
}

// newNetLab creates the hub and size node namespaces. On error it removes
// whatever it created.
func newNetLab(ctx context.Context, size int) (*netLab, error) {
	if err := netnsUnavailable(); err != nil {
		return nil, err
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, fmt.Errorf("netns name: %w", err)
	}
	l := &netLab{prefix: "rkv-" + hex.EncodeToString(suffix[:])}
	l.hub = l.prefix + "-hub"
	if err := l.setup(ctx, size); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *netLab) setup(ctx context.Context, size int) error {
	if err := l.ip(ctx, "netns", "add", l.hub); err != nil {
		return err
	}
	l.created = append(l.created, l.hub)
	steps := [][]string{
		{"-n", l.hub, "link", "set", "lo", "up"},
		{"-n", l.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", l.hub, "addr", "add", hubAddr + "/24", "dev", "br0"},
		{"-n", l.hub, "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := l.ip(ctx, s...); err != nil {
			return err
		}
	}
	for id := 1; id <= size; id++ {
		ns := fmt.Sprintf("%s-n%d", l.prefix, id)
		if err := l.ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
		l.created = append(l.created, ns)
		l.nodeNS = append(l.nodeNS, ns)
		veth := fmt.Sprintf("v%d", id)
		steps := [][]string{
			{"-n", ns, "link", "set", "lo", "up"},
			{"-n", l.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"-n", l.hub, "link", "set", veth, "master", "br0"},
			{"-n", l.hub, "link", "set", veth, "up"},
			{"-n", ns, "addr", "add", l.nodeIP(id) + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
		}
		for _, s := range steps {
			if err := l.ip(ctx, s...); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeIP is node id's address.
func (l *netLab) nodeIP(id int) string { return fmt.Sprintf("%s%d", labSubnet, id) }

// wrap returns the argv that runs argv inside node id's namespace.
func (l *netLab) wrap(id int, argv []string) []string {
	return append([]string{"ip", "netns", "exec", l.nodeNS[id-1]}, argv...)
}

// ip runs the ip program.
func (l *netLab) ip(ctx context.Context, args ...string) error {
	return runProgram(ctx, "ip", args...)
}

// runProgram runs one outside program and names it and its output on failure.
func runProgram(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// drop makes node to discard every packet from node from (one direction).
func (l *netLab) drop(ctx context.Context, from, to int) error {
	return runProgram(ctx, "ip", "netns", "exec", l.nodeNS[to-1],
		"iptables", "-w", "-A", "INPUT", "-s", l.nodeIP(from), "-j", "DROP")
}

// heal removes every rule in every node namespace.
func (l *netLab) heal(ctx context.Context) error {
	var errs []error
	for _, ns := range l.nodeNS {
		if err := runProgram(ctx, "ip", "netns", "exec", ns, "iptables", "-w", "-F", "INPUT"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// close deletes every namespace (with its interfaces and rules).
func (l *netLab) close() error {
	var errs []error
	for i := len(l.created) - 1; i >= 0; i-- {
		if err := runProgram(context.Background(), "ip", "netns", "del", l.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.created = nil
	return errors.Join(errs...)
}

// dial opens a TCP connection from the hub namespace. Only the dialling
// thread enters the namespace, and a socket keeps the namespace it was
// created in, so the connection works from any goroutine afterwards.
func (l *netLab) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, restored, err := dialInNamespace(ctx, "/var/run/netns/"+l.hub, network, addr)
		if restored {
			runtime.UnlockOSThread()
		} // else: the thread is stuck in the wrong namespace; exiting the
		// goroutine while locked makes the runtime discard it.
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// dialInNamespace must run on a locked OS thread. restored reports whether
// the thread is back in its original namespace.
func dialInNamespace(ctx context.Context, nsPath, network, addr string) (conn net.Conn, restored bool, err error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("open own netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, true, fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("setns %s: %w", nsPath, err)
	}
	var d net.Dialer
	conn, err = d.DialContext(ctx, network, addr)
	if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, false, fmt.Errorf("setns back from %s: %w", nsPath, serr)
	}
	return conn, true, err
}
