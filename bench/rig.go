package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// Cluster and topic names.
const (
	srcName      = "bench-src"
	tgtName      = "bench-tgt"
	backlogTopic = "bench"          // the data set both tools copy
	ceilingTopic = "bench-ceiling"  // the target's own ingest of the same data
	failGroup    = "bench-failover" // committed in the middle of the backlog on the source
)

// rig is the benchmark's set-up: two single-node clusters, clients to both, Java
// and the kmigrate binary.
type rig struct {
	o        *options
	log      *slog.Logger
	java     *javaEnv
	work     string // work directory of this invocation
	kmigrate string // binary under test

	src, tgt       *kafkatest.Cluster
	srcCl, tgtCl   *kgo.Client
	srcAdm, tgtAdm *kadm.Client
}

// startRig starts both clusters with the broker heap of the options and connects.
func startRig(ctx context.Context, o *options, log *slog.Logger, work string) (*rig, error) {
	r := &rig{o: o, log: log, work: work}
	var err error
	if r.java, err = newJavaEnv(ctx); err != nil {
		return nil, err
	}
	// The brokers read KAFKA_HEAP_OPTS when they start.
	if err := os.Setenv("KAFKA_HEAP_OPTS", o.brokerHeap); err != nil {
		return nil, fmt.Errorf("set broker heap: %w", err)
	}
	root := filepath.Join(work, "clusters")
	for _, c := range []struct {
		name string
		dst  **kafkatest.Cluster
	}{{srcName, &r.src}, {tgtName, &r.tgt}} {
		log.Info("starting cluster", "name", c.name, "heap", o.brokerHeap)
		cl, err := kafkatest.StartIn(ctx, root, c.name, kafkatest.Options{Topology: kafkatest.TopologySingle})
		if err != nil {
			r.close()
			return nil, err
		}
		*c.dst = cl
	}
	// Topics come and go between phases: the benchmark's view of them must not
	// wait for the default five seconds of metadata caching.
	fresh := kgo.MetadataMinAge(50 * time.Millisecond)
	if r.srcCl, err = kgo.NewClient(kgo.SeedBrokers(r.src.Bootstrap...), fresh); err != nil {
		r.close()
		return nil, fmt.Errorf("create source client: %w", err)
	}
	if r.tgtCl, err = kgo.NewClient(kgo.SeedBrokers(r.tgt.Bootstrap...), fresh); err != nil {
		r.close()
		return nil, fmt.Errorf("create target client: %w", err)
	}
	r.srcAdm, r.tgtAdm = kadm.NewClient(r.srcCl), kadm.NewClient(r.tgtCl)
	return r, nil
}

// close disconnects and, unless --keep, removes both clusters.
func (r *rig) close() {
	if r.srcCl != nil {
		r.srcCl.Close()
	}
	if r.tgtCl != nil {
		r.tgtCl.Close()
	}
	for _, c := range []*kafkatest.Cluster{r.src, r.tgt} {
		if c == nil {
			continue
		}
		if r.o.keep {
			r.log.Info("cluster left running", "name", c.Name, "bootstrap", strings.Join(c.Bootstrap, ","))
			continue
		}
		if err := c.Remove(); err != nil {
			r.log.Warn("remove cluster", "name", c.Name, "err", err)
		}
	}
}

// createTopic creates topic with the benchmark's partition count.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	resp, err := adm.CreateTopic(ctx, int32(partitions), -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// endOffsets returns the high watermark of every partition of topic; a topic that
// does not exist yet has none.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var errs []error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", topic, o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	if len(errs) > 0 {
		return out, fmt.Errorf("list end offsets of %s: %w", topic, errors.Join(errs...))
	}
	return out, nil
}

// sum adds the offsets of every partition.
func sum(offsets map[int32]int64) int64 {
	var n int64
	for _, o := range offsets {
		n += o
	}
	return n
}

// resetTarget leaves the target as fresh as a new cluster for the next tool:
// every topic and every group is deleted (the tools' internal topics included).
func (r *rig) resetTarget(ctx context.Context) error {
	if err := deleteAllGroups(ctx, r.tgtAdm); err != nil {
		return fmt.Errorf("reset target: %w", err)
	}
	if err := deleteTopicsWhere(ctx, r.tgtAdm, func(string) bool { return true }); err != nil {
		return fmt.Errorf("reset target: %w", err)
	}
	return nil
}

// resetSource deletes what a tool left on the source (MirrorMaker 2's offset
// syncs, kmigrate's writer groups) and the steady-state topics; the backlog and
// its committed group stay.
func (r *rig) resetSource(ctx context.Context) error {
	groups, err := r.srcAdm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("reset source: list groups: %w", err)
	}
	var del []string
	for _, g := range groups.Groups() {
		if g != failGroup {
			del = append(del, g)
		}
	}
	if len(del) > 0 {
		// A group whose member is still leaving cannot be deleted yet; it is
		// harmless (unique names) and goes at the next reset.
		_, _ = r.srcAdm.DeleteGroups(ctx, del...)
	}
	err = deleteTopicsWhere(ctx, r.srcAdm, func(t string) bool { return t != backlogTopic })
	if err != nil {
		return fmt.Errorf("reset source: %w", err)
	}
	return nil
}

func deleteAllGroups(ctx context.Context, adm *kadm.Client) error {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	if names := groups.Groups(); len(names) > 0 {
		resp, err := adm.DeleteGroups(ctx, names...)
		if err != nil {
			return fmt.Errorf("delete groups: %w", err)
		}
		for _, g := range resp.Sorted() {
			if g.Err != nil {
				return fmt.Errorf("delete group %s: %w", g.Group, g.Err)
			}
		}
	}
	return nil
}

// deleteTopicsWhere deletes the non-internal topics whose name matches and waits
// until the cluster no longer lists them.
func deleteTopicsWhere(ctx context.Context, adm *kadm.Client, match func(string) bool) error {
	list := func() ([]string, error) {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, fmt.Errorf("list topics: %w", err)
		}
		var out []string
		for _, t := range td.Names() {
			if !strings.HasPrefix(t, "__") && match(t) {
				out = append(out, t)
			}
		}
		return out, nil
	}
	topics, err := list()
	if err != nil || len(topics) == 0 {
		return err
	}
	resp, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	return kafkatest.Poll(time.Minute, func() error {
		left, err := list()
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("topics %v still listed after deletion", left)
		}
		return nil
	})
}

// brokerCPU returns the CPU time both brokers have used so far.
func (r *rig) brokerCPU() time.Duration {
	var total time.Duration
	for _, c := range []*kafkatest.Cluster{r.src, r.tgt} {
		for _, n := range c.Brokers() {
			if cpu, err := procCPU(n.PID); err == nil {
				total += cpu
			}
		}
	}
	return total
}

// moduleRoot returns the directory of the kmigrate module (go env GOMOD).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("find module root: run the benchmark inside the kmigrate module")
	}
	return filepath.Dir(mod), nil
}

// buildKmigrate builds ./cmd/kmigrate into the work directory.
func buildKmigrate(ctx context.Context, root, work string) (string, error) {
	bin := filepath.Join(work, "kmigrate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kmigrate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build kmigrate: %w\n%s", err, out)
	}
	return bin, nil
}
