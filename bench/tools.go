package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// Tool names, as the results print them.
const (
	toolMM2      = "MirrorMaker 2"
	toolKmigrate = "kmigrate"
)

// phase says what a tool is started for.
type phase int

const (
	// phaseCopy copies the backlog: each tool's settings for bulk throughput, and
	// kmigrate exits by itself once caught up (--until-caught-up).
	phaseCopy phase = iota
	// phaseSteady follows a live topic: each tool's settings for latency; the
	// benchmark stops the tool.
	phaseSteady
)

func (ph phase) String() string {
	if ph == phaseCopy {
		return "copy"
	}
	return "steady"
}

// tool is a replicator under test.
type tool interface {
	name() string
	// start starts copying topic from the source to the (fresh) target.
	start(ctx context.Context, ph phase, run int, topic string) (*proc, error)
}

// mm2 runs Apache Kafka's MirrorMaker 2 in dedicated mode.
type mm2 struct{ r *rig }

func (mm2) name() string { return toolMM2 }

func (m mm2) start(ctx context.Context, ph phase, run int, topic string) (*proc, error) {
	r := m.r
	props := filepath.Join(r.work, fmt.Sprintf("run%d-mm2-%s.properties", run, ph))
	if err := os.WriteFile(props, []byte(mm2Properties(r.src, r.tgt, topic, r.o.partitions, ph)), 0o644); err != nil {
		return nil, fmt.Errorf("write mirrormaker 2 configuration: %w", err)
	}
	// No context: the benchmark stops it with SIGTERM, as an operator would.
	cmd := r.java.command(context.WithoutCancel(ctx), r.o.mm2Heap, kafkatest.ClassMirrorMaker, props)
	return startProc(toolMM2, cmd, filepath.Join(r.work, fmt.Sprintf("run%d-mm2-%s.log", run, ph)))
}

// mm2Properties is MirrorMaker 2's configuration for copying topic, with
// comments that say where each setting comes from.
func mm2Properties(src, tgt *kafkatest.Cluster, topic string, partitions int, ph phase) string {
	var b strings.Builder
	w := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	w("# Dedicated mode, one flow src->dst; topic names kept (IdentityReplicationPolicy).",
		"clusters = src, dst",
		"src.bootstrap.servers = "+strings.Join(src.Bootstrap, ","),
		"dst.bootstrap.servers = "+strings.Join(tgt.Bootstrap, ","),
		"src->dst.enabled = true",
		"dst->src.enabled = false",
		"src->dst.topics = "+regexp.QuoteMeta(topic),
		"replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
		"# Byte-exact copy (dedicated mode's defaults, spelled out).",
		"key.converter = org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter = org.apache.kafka.connect.converters.ByteArrayConverter",
		"header.converter = org.apache.kafka.connect.converters.ByteArrayConverter",
		"# One task per partition.",
		"tasks.max = "+strconv.Itoa(partitions),
		"src->dst.tasks.max = "+strconv.Itoa(partitions),
		"# Heartbeats are not needed for a migration: off, so they neither load the",
		"# clusters nor start a second herder. ACL sync is off: no authorizer here.",
		"emit.heartbeats.enabled = false",
		"sync.topic.acls.enabled = false",
		"# Group translation: checkpoints and group offset sync every second; groups",
		"# are looked up every 5 s (the default is 10 minutes).",
		"emit.checkpoints.enabled = true",
		"emit.checkpoints.interval.seconds = 1",
		"sync.group.offsets.enabled = true",
		"sync.group.offsets.interval.seconds = 1",
		"refresh.groups.interval.seconds = 5",
		"# Single-broker clusters: replication factor 1 for data and internal topics.",
		"replication.factor = 1",
		"offset-syncs.topic.replication.factor = 1",
		"checkpoints.topic.replication.factor = 1",
		"heartbeats.topic.replication.factor = 1",
		"offset.storage.replication.factor = 1",
		"status.storage.replication.factor = 1",
		"config.storage.replication.factor = 1",
		"# Same compression as every writer of the benchmark.",
		"dst.producer.compression.type = lz4",
		"# Source offsets (and delayed offset syncs) committed every 5 s instead of 60 s.",
		"dst.offset.flush.interval.ms = 5000",
	)
	if ph == phaseCopy {
		w("# High-volume settings of the MirrorMaker 2 documentation (Red Hat Streams",
			"# for Apache Kafka, \"Configuring MirrorMaker 2 for high volume messages\").",
			"dst.producer.batch.size = 327680",
			"dst.producer.linger.ms = 100",
			"dst.offset.flush.timeout.ms = 10000",
			"src.consumer.fetch.max.bytes = 52428800",
			"src.consumer.max.partition.fetch.bytes = 1048576",
			"src.consumer.max.poll.records = 500",
		)
	} else {
		w("# Steady state: the clients' defaults, which favour latency (the high-volume",
			"# settings add a 100 ms linger).")
	}
	return b.String()
}

// kmigrate runs the kmigrate binary under test.
type kmigrate struct {
	r     *rig
	extra []string // more arguments of `kmigrate run`
}

func (kmigrate) name() string { return toolKmigrate }

func (k kmigrate) start(ctx context.Context, ph phase, run int, topic string) (*proc, error) {
	r := k.r
	tag := fmt.Sprintf("run%d-kmigrate-%s", run, ph)
	if run < 0 {
		tag = "profile-kmigrate-" + ph.String()
	}
	cfg := filepath.Join(r.work, tag+".yaml")
	if err := os.WriteFile(cfg, []byte(kmigrateConfig(r.src, r.tgt, "bench-"+strings.TrimPrefix(tag, "run"), topic)), 0o644); err != nil {
		return nil, fmt.Errorf("write kmigrate configuration: %w", err)
	}
	args := []string{"run", "-c", cfg}
	if ph == phaseCopy {
		args = append(args, "--until-caught-up")
	}
	args = append(args, k.extra...)
	cmd := exec.CommandContext(context.WithoutCancel(ctx), r.kmigrate, args...)
	return startProc(toolKmigrate, cmd, filepath.Join(r.work, tag+".log"))
}

// kmigrateConfig is kmigrate's configuration for copying topic: its documented
// defaults for everything but the connection, the topic, the compression every
// writer of the benchmark uses, and the HTTP server (off: the benchmark needs no
// port).
func kmigrateConfig(src, tgt *kafkatest.Cluster, migration, topic string) string {
	return fmt.Sprintf(`migration: %s
source:
  bootstrap_servers: %s
target:
  bootstrap_servers: %s
topics:
  include: [%q]
replication:
  compression: lz4
http:
  listen: "off"
`, migration, yamlList(src.Bootstrap), yamlList(tgt.Bootstrap), regexp.QuoteMeta(topic))
}

// yamlList renders strings as a YAML flow sequence.
func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
