package clouds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Prefix starts the name of every network namespace the harness makes, so that a
// sweep can find (and only find) its own.
const Prefix = "kmclouds-"

// Cloud names.
const (
	AWS = "aws" // the source cluster's cloud
	GCP = "gcp" // the target cluster's cloud
)

// maxNets bounds the harness instances on one machine: each takes one /24 of
// 10.213.0.0/16, named by its index.
const maxNets = 200

// Link is one cloud's namespace and the veth pair that joins it to the root
// namespace, where kmigrate and the proxies run.
type Link struct {
	// Cloud is AWS or GCP.
	Cloud string `json:"cloud"`
	// Netns is the namespace's name: Prefix, the instance index, the cloud.
	Netns string `json:"netns"`
	// RootIf and NsIf are the two ends of the veth pair.
	RootIf string `json:"root_if"`
	NsIf   string `json:"ns_if"`
	// RootAddr (root end) and NsAddr (namespace end) form a /30 of their own.
	RootAddr netip.Addr `json:"root_addr"`
	NsAddr   netip.Addr `json:"ns_addr"`
}

// Net is the network of one harness instance: two namespaces on addresses it
// chose in 10.213.<index>.0/24, which exists nowhere but on this machine's veth
// links. Nothing is routed between the two namespaces: the only way from one cloud
// to the other is through the root namespace, that is through kmigrate.
type Net struct {
	// Index numbers the instance (0-199); it picks the subnet and the names.
	Index int `json:"index"`
	// OwnerPID is the process that made the namespaces; a sweep removes those of
	// dead owners. 0 means kept until removed by hand (tools/clouds down).
	OwnerPID int `json:"owner_pid"`
	// Links holds the AWS and GCP links.
	Links map[string]*Link `json:"links"`
}

// ErrNoNamespaces is returned when this machine cannot make network namespaces:
// not root, no ip command. Tests must fail on it, never skip.
var ErrNoNamespaces = errors.New("cannot make network namespaces on this machine")

// CheckNamespaces reports why namespaces cannot be made here, or nil.
func CheckNamespaces() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the harness needs root (ip netns, veth), running as uid %d", ErrNoNamespaces, os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: %v", ErrNoNamespaces, err)
	}
	return nil
}

// ownerDir holds one file per instance naming its owner pid.
func ownerDir() string { return filepath.Join(os.TempDir(), "kmclouds") }

// run runs a command and returns its error with its output.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// namespaces lists the namespaces of this machine.
func namespaces(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// instanceOf returns the index in a harness namespace name, or -1.
func instanceOf(ns string) int {
	rest, ok := strings.CutPrefix(ns, Prefix)
	if !ok {
		return -1
	}
	i, _, _ := strings.Cut(rest, "-")
	n, err := strconv.Atoi(i)
	if err != nil {
		return -1
	}
	return n
}

// ownerOf returns the owner pid recorded for instance i: -1 when none is recorded.
func ownerOf(i int) int {
	data, err := os.ReadFile(filepath.Join(ownerDir(), strconv.Itoa(i)))
	if err != nil {
		return -1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1
	}
	return pid
}

func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// Sweep removes the namespaces of harness instances whose owner process is gone
// (a test killed by its timeout never cleans up), killing what still runs in
// them. Instances kept on purpose (owner 0) and those of live owners stay.
func Sweep(ctx context.Context) error {
	names, err := namespaces(ctx)
	if err != nil {
		return err
	}
	var errs []error
	seen := map[int]bool{}
	for _, ns := range names {
		i := instanceOf(ns)
		if i < 0 || seen[i] {
			continue
		}
		seen[i] = true
		owner := ownerOf(i)
		if owner == 0 || processAlive(owner) {
			continue
		}
		errs = append(errs, removeInstance(ctx, i, names))
	}
	return errors.Join(errs...)
}

// removeInstance kills the processes in instance i's namespaces and deletes them.
func removeInstance(ctx context.Context, i int, names []string) error {
	var errs []error
	for _, ns := range names {
		if instanceOf(ns) != i {
			continue
		}
		errs = append(errs, deleteNamespace(ctx, ns))
	}
	// The blackhole route outlives the namespaces; another instance on this
	// index makes its own.
	_ = run(ctx, "ip", "route", "del", "blackhole", subnet(i))
	_ = os.Remove(filepath.Join(ownerDir(), strconv.Itoa(i)))
	return errors.Join(errs...)
}

// deleteNamespace kills every process inside ns (by pid: only processes the
// harness started run there) and deletes it, which also deletes its veth pair.
func deleteNamespace(ctx context.Context, ns string) error {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
			if err != nil || len(bytes.TrimSpace(out)) == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond) // polling the kernel's view of the namespace
		}
	}
	if err := run(ctx, "ip", "netns", "del", ns); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

// NewNet sweeps stale instances, then makes the namespaces and links of a new
// instance owned by owner (0: kept until Remove). It fails with ErrNoNamespaces
// when the machine cannot make them.
func NewNet(ctx context.Context, owner int) (*Net, error) {
	if err := CheckNamespaces(); err != nil {
		return nil, err
	}
	if err := Sweep(ctx); err != nil {
		return nil, fmt.Errorf("sweep stale namespaces: %w", err)
	}
	if err := os.MkdirAll(ownerDir(), 0o755); err != nil {
		return nil, fmt.Errorf("make network: %w", err)
	}
	names, err := namespaces(ctx)
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, ns := range names {
		if i := instanceOf(ns); i >= 0 {
			used[i] = true
		}
	}
	for i := range maxNets {
		if used[i] {
			continue
		}
		// The owner file is the claim: O_EXCL makes two processes pick two indexes.
		f, err := os.OpenFile(filepath.Join(ownerDir(), strconv.Itoa(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			if p := ownerOf(i); p != 0 && !processAlive(p) {
				_ = os.Remove(filepath.Join(ownerDir(), strconv.Itoa(i)))
			}
			continue
		}
		fmt.Fprintf(f, "%d\n", owner)
		f.Close()
		n := &Net{Index: i, OwnerPID: owner, Links: map[string]*Link{}}
		if err := n.create(ctx); err != nil {
			_ = n.Remove(ctx)
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("make network: all %d instance indexes are taken", maxNets)
}

// subnet is instance i's /24.
func subnet(i int) string { return fmt.Sprintf("10.213.%d.0/24", i) }

// create makes both namespaces and links. The instance's /24 is first made a
// blackhole in the root namespace: the links' /30 routes are more specific
// and win while a link is up, and when a cut takes one down, packets for that
// cloud are dropped here instead of following the default route off the
// machine to an address the harness does not own. Established connections
// then hear nothing, as across a cut link; a new connection fails at once
// (the kernel refuses to send to a blackhole), as with a route withdrawn.
func (n *Net) create(ctx context.Context) error {
	if err := run(ctx, "ip", "route", "replace", "blackhole", subnet(n.Index)); err != nil {
		return fmt.Errorf("make the network's blackhole route: %w", err)
	}
	for k, cloud := range []string{AWS, GCP} {
		base := netip.AddrFrom4([4]byte{10, 213, byte(n.Index), byte(4 * k)})
		l := &Link{
			Cloud:    cloud,
			Netns:    fmt.Sprintf("%s%d-%s", Prefix, n.Index, cloud),
			RootIf:   fmt.Sprintf("kmc%d%s", n.Index, cloud),
			NsIf:     "cloud0",
			RootAddr: base.Next(),
			NsAddr:   base.Next().Next(),
		}
		n.Links[cloud] = l
		steps := [][]string{
			{"netns", "add", l.Netns},
			{"link", "add", l.RootIf, "type", "veth", "peer", "name", l.NsIf, "netns", l.Netns},
			{"addr", "add", l.RootAddr.String() + "/30", "dev", l.RootIf},
			{"link", "set", l.RootIf, "up"},
			{"-n", l.Netns, "addr", "add", l.NsAddr.String() + "/30", "dev", l.NsIf},
			{"-n", l.Netns, "link", "set", l.NsIf, "up"},
			{"-n", l.Netns, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := run(ctx, "ip", s...); err != nil {
				return fmt.Errorf("make cloud %s: %w", cloud, err)
			}
		}
	}
	return nil
}

// Remove kills what runs in the instance's namespaces and deletes them.
func (n *Net) Remove(ctx context.Context) error {
	names, err := namespaces(ctx)
	if err != nil {
		return err
	}
	return removeInstance(ctx, n.Index, names)
}

func (n *Net) link(cloud string) (*Link, error) {
	l, ok := n.Links[cloud]
	if !ok {
		return nil, fmt.Errorf("no cloud %q (want %s or %s)", cloud, AWS, GCP)
	}
	return l, nil
}

// Cut takes the root end of cloud's link down: nothing passes between that cloud
// and the root namespace, while everything inside the cloud keeps working (its
// end stays up, without carrier).
func (n *Net) Cut(ctx context.Context, cloud string) error {
	l, err := n.link(cloud)
	if err != nil {
		return err
	}
	return run(ctx, "ip", "link", "set", l.RootIf, "down")
}

// Heal brings cloud's link back up.
func (n *Net) Heal(ctx context.Context, cloud string) error {
	l, err := n.link(cloud)
	if err != nil {
		return err
	}
	return run(ctx, "ip", "link", "set", l.RootIf, "up")
}

// Bandwidth caps cloud's link at bitsPerSecond in each direction with a token
// bucket (tc tbf on both ends); 0 removes the cap.
func (n *Net) Bandwidth(ctx context.Context, cloud string, bitsPerSecond int64) error {
	l, err := n.link(cloud)
	if err != nil {
		return err
	}
	ends := [][]string{{l.RootIf}, {"-n", l.Netns, l.NsIf}}
	for _, e := range ends {
		pre, dev := e[:len(e)-1], e[len(e)-1]
		del := append(append([]string{}, pre...), "qdisc", "del", "dev", dev, "root")
		_ = exec.CommandContext(ctx, "tc", del...).Run() // absent when no cap was set
		if bitsPerSecond <= 0 {
			continue
		}
		// A burst of 10 ms at the rate (at least 16 KiB) and a queue of 200 ms.
		burst := max(bitsPerSecond/8/100, 16<<10)
		add := append(append([]string{}, pre...), "qdisc", "add", "dev", dev, "root", "tbf",
			"rate", strconv.FormatInt(bitsPerSecond, 10)+"bit", "burst", strconv.FormatInt(burst, 10), "latency", "200ms")
		if err := run(ctx, "tc", add...); err != nil {
			return fmt.Errorf("cap bandwidth of cloud %s: %w", cloud, err)
		}
	}
	return nil
}
