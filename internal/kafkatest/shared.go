package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvTestClusters names the environment variable that holds the directory of the
// clusters shared by every test package of a run.
const EnvTestClusters = "KMIGRATE_TEST_CLUSTERS"

// Names of the shared clusters. Each has fixed options (KnownOptions), so every
// package that asks for one gets the same cluster.
const (
	// Src is a single node, PLAINTEXT only: a migration source.
	Src = "src"
	// Tgt is a single node, PLAINTEXT only: a migration target.
	Tgt = "tgt"
	// SeedSrc is a seed topology (3 controllers, 3 brokers), PLAINTEXT only.
	SeedSrc = "seed-src"
	// SeedTgt is a seed topology, PLAINTEXT only.
	SeedTgt = "seed-tgt"
	// Auth is a single node with SASL, TLS and the authorizer.
	Auth = "auth"
)

// SharedNames lists the names of the shared clusters.
func SharedNames() []string { return []string{Src, Tgt, SeedSrc, SeedTgt, Auth} }

// KnownOptions returns the fixed options of a shared cluster name.
func KnownOptions(name string) (Options, bool) {
	switch name {
	case Src, Tgt:
		return Options{Topology: TopologySingle}, true
	case SeedSrc, SeedTgt:
		return Options{Topology: TopologySeed}, true
	case Auth:
		return Options{Topology: TopologySingle, SASL: true, TLS: true, Authorizer: true}, true
	}
	return Options{}, false
}

// registry remembers the clusters this process uses, so that each is started once
// and Main stops those this process owns.
var registry = struct {
	sync.Mutex
	shared map[string]*Cluster
	owned  []*Cluster
	root   string // this process's root when EnvTestClusters is unset
}{shared: map[string]*Cluster{}}

// Shared returns the cluster name with options opts, starting it if needed.
//
// With KMIGRATE_TEST_CLUSTERS set, the cluster lives in that directory and is
// shared by every test process of the run: the first to ask starts it under a file
// lock, the others find it running. Nobody but the runner stops it. Without the
// variable, the cluster belongs to this process: it is started on first use, in a
// directory of its own, and Main stops it.
//
// A known name (SharedNames) must be asked for with its KnownOptions.
func Shared(name string, opts Options) (*Cluster, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, fmt.Errorf("get shared cluster %s: %w", name, err)
	}
	if want, ok := KnownOptions(name); ok {
		want, _ = want.normalize()
		if want != opts {
			return nil, fmt.Errorf("get shared cluster %s: options %s differ from its fixed options %s", name, opts, want)
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if c, ok := registry.shared[name]; ok {
		if c.Options != opts {
			return nil, fmt.Errorf("get shared cluster %s: already used with options %s, asked for %s", name, c.Options, opts)
		}
		return c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var c *Cluster
	if dir := os.Getenv(EnvTestClusters); dir != "" {
		c, err = openOrStart(ctx, dir, name, opts)
	} else {
		c, err = startOwnedLocked(ctx, name, opts)
	}
	if err != nil {
		return nil, err
	}
	registry.shared[name] = c
	return c, nil
}

// SkipShort skips the test under -short. The fast tier (go test -short ./...)
// starts no JVM, so every helper that hands out a real cluster calls it first;
// without -short it does nothing.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs real Kafka: not run with -short")
	}
}

// SharedT is Shared for tests: it fails the test when the cluster cannot be had.
// Under -short it skips the test (SkipShort).
func SharedT(t testing.TB, name string, opts Options) *Cluster {
	t.Helper()
	SkipShort(t)
	c, err := Shared(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// StartT starts a cluster for one test, which may stop, kill and restart its nodes,
// and removes it when the test ends (keeping it, logs included, if the test failed).
// The name must be unique in the run: with KMIGRATE_TEST_CLUSTERS set, the cluster
// lives there so that the runner stops it even if this process dies. Under -short
// it skips the test (SkipShort).
func StartT(t testing.TB, name string, opts Options) *Cluster {
	t.Helper()
	SkipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var c *Cluster
	var err error
	if dir := os.Getenv(EnvTestClusters); dir != "" {
		c, err = startIn(ctx, dir, name, opts, os.Getpid())
	} else {
		// Owned by this process for the reaper, but stopped by the test's cleanup,
		// not by Main.
		c, err = startIn(ctx, processRoot(), name, opts, os.Getpid())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		if t.Failed() {
			err = c.Stop()
			t.Logf("kept cluster %s in %s", c.Name, c.Dir)
		} else {
			err = c.Remove()
		}
		if err != nil {
			t.Error(err)
		}
	})
	return c
}

// Main runs the tests of a package that uses real clusters and then stops the
// clusters this process owns (never those shared through KMIGRATE_TEST_CLUSTERS).
// Use it as
//
//	func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }
//
// After a failed run the clusters' directories stay for their logs.
func Main(m *testing.M) int {
	code := m.Run()
	RemoveBinary()
	registry.Lock()
	defer registry.Unlock()
	var errs []error
	for _, c := range registry.owned {
		if code != 0 {
			errs = append(errs, c.Stop())
			continue
		}
		errs = append(errs, c.Remove())
	}
	registry.owned = nil
	registry.shared = map[string]*Cluster{}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "kafkatest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if code == 0 && registry.root != "" {
		if err := os.RemoveAll(registry.root); err != nil {
			fmt.Fprintf(os.Stderr, "kafkatest: %v\n", err)
		}
	}
	if code != 0 && registry.root != "" {
		fmt.Fprintf(os.Stderr, "kafkatest: cluster logs kept in %s\n", registry.root)
	}
	return code
}

// startOwnedLocked starts a cluster owned by this process in its own root, after
// stopping the clusters left behind by test processes that died. registry must be
// locked.
func startOwnedLocked(ctx context.Context, name string, opts Options) (*Cluster, error) {
	c, err := startIn(ctx, processRootLocked(), name, opts, os.Getpid())
	if err != nil {
		return nil, err
	}
	registry.owned = append(registry.owned, c)
	return c, nil
}

// processRoot returns the directory of the clusters this process owns, reaping
// those of dead test processes the first time.
func processRoot() string {
	registry.Lock()
	defer registry.Unlock()
	return processRootLocked()
}

func processRootLocked() string {
	if registry.root == "" {
		base := DefaultRoot()
		reapOrphans(base)
		registry.root = filepath.Join(base, "run-"+strconv.Itoa(os.Getpid()))
	}
	return registry.root
}

// reapOrphans stops the processes of clusters under base/run-* whose owner process
// is gone (a test binary killed by a timeout never reaches Main) and deletes their
// data, keeping logs and state.
func reapOrphans(base string) {
	runs, err := filepath.Glob(filepath.Join(base, "run-*"))
	if err != nil {
		return
	}
	for _, run := range runs {
		clusters, err := List(run)
		if err != nil {
			continue
		}
		for _, c := range clusters {
			if c.OwnerPID == 0 || alive(c.OwnerPID, "") || !c.Running() {
				continue
			}
			_ = c.Stop()
			for _, n := range c.Nodes {
				_ = os.RemoveAll(n.DataDir)
			}
		}
	}
}

// openOrStart returns the running cluster root/name, or starts it, holding a file
// lock so that concurrent test processes start it once. Nodes found dead in a
// cluster that still runs are started again; a cluster with no live node starts
// afresh.
func openOrStart(ctx context.Context, root, name string, opts Options) (*Cluster, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("get shared cluster %s: %w", name, err)
	}
	unlock, err := lockFile(filepath.Join(root, name+".lock"))
	if err != nil {
		return nil, fmt.Errorf("get shared cluster %s: %w", name, err)
	}
	defer unlock()
	c, err := Open(root, name)
	if err == nil && c.Running() {
		if c.Options != opts {
			return nil, fmt.Errorf("get shared cluster %s: running with options %s, asked for %s", name, c.Options, opts)
		}
		for _, n := range c.snapshotNodes() {
			if !n.Alive() {
				if err := c.StartNode(ctx, n.ID); err != nil {
					return nil, fmt.Errorf("get shared cluster %s: %w", name, err)
				}
			}
		}
		if err := c.WaitReady(ctx); err != nil {
			return nil, fmt.Errorf("get shared cluster %s: %w", name, err)
		}
		return c, nil
	}
	return startIn(ctx, root, name, opts, 0)
}

// lockFile takes an exclusive flock on path, waiting for it, and returns the
// function that releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
