package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// loadProducerProps are the producer settings that write the data set to the
// source and measure the ceiling on the target: acks=all and lz4, as every
// writer of the benchmark uses, with batches large enough for bulk ingest.
var loadProducerProps = []string{
	"acks=all",
	"compression.type=lz4",
	"batch.size=262144",
	"linger.ms=10",
	"buffer.memory=67108864",
}

// steadyProducerProps are the settings of the fixed-rate producer of the steady
// state: acks=all and lz4, the client's defaults otherwise.
var steadyProducerProps = []string{
	"acks=all",
	"compression.type=lz4",
}

// perfResult is the summary ProducerPerformance prints when it ends.
type perfResult struct {
	records    int64
	recsPerSec float64
	avgLatency float64 // ms
}

// perfTotal matches ProducerPerformance's final summary line (the one with the
// percentiles; progress lines have none).
var perfTotal = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \([\d.]+ MB/sec\), ([\d.]+) ms avg latency.*50th`)

// producerPerf runs Apache Kafka's ProducerPerformance against cluster c: records
// values of the options' record size (random upper-case letters from a fixed
// seed, so every run writes the same bytes), at most throughput records a second
// (-1: as fast as it can).
func (r *rig) producerPerf(ctx context.Context, c *kafkatest.Cluster, topic string, records, throughput int64, props []string, logName string) (perfResult, error) {
	args := []string{
		"--topic", topic,
		"--num-records", strconv.FormatInt(records, 10),
		"--record-size", strconv.Itoa(r.o.recordSize),
		"--throughput", strconv.FormatInt(throughput, 10),
		"--producer-props", "bootstrap.servers=" + strings.Join(c.Bootstrap, ","),
	}
	args = append(args, props...)
	cmd := r.java.command(ctx, producerPerfHeap, kafkatest.ClassProducerPerformance, args...)
	logFile := filepath.Join(r.work, logName)
	p, err := startProc("ProducerPerformance", cmd, logFile)
	if err != nil {
		return perfResult{}, err
	}
	if err := p.wait(ctx); err != nil {
		_ = p.stop(5 * time.Second)
		return perfResult{}, fmt.Errorf("produce to %s: %w", topic, err)
	}
	out, err := os.ReadFile(logFile)
	if err != nil {
		return perfResult{}, fmt.Errorf("produce to %s: read output: %w", topic, err)
	}
	all := perfTotal.FindAllStringSubmatch(string(out), -1)
	if len(all) == 0 {
		return perfResult{}, fmt.Errorf("produce to %s: no summary in %s:\n%s", topic, logFile, tailFile(logFile, 10))
	}
	m := all[len(all)-1]
	res := perfResult{}
	res.records, _ = strconv.ParseInt(m[1], 10, 64)
	res.recsPerSec, _ = strconv.ParseFloat(m[2], 64)
	res.avgLatency, _ = strconv.ParseFloat(m[3], 64)
	if res.records != records {
		return res, fmt.Errorf("produce to %s: %d of %d records sent", topic, res.records, records)
	}
	return res, nil
}

// loadBacklog creates the backlog topic on the source, writes the data set and
// commits the failover group in the middle of every partition.
func (r *rig) loadBacklog(ctx context.Context) (map[int32]int64, error) {
	if err := createTopic(ctx, r.srcAdm, backlogTopic, r.o.partitions); err != nil {
		return nil, err
	}
	r.log.Info("loading the data set", "topic", backlogTopic, "records", r.o.records(), "record_size", r.o.recordSize)
	res, err := r.producerPerf(ctx, r.src, backlogTopic, r.o.records(), -1, loadProducerProps, "load.log")
	if err != nil {
		return nil, err
	}
	ends, err := endOffsets(ctx, r.srcAdm, backlogTopic)
	if err != nil {
		return nil, err
	}
	r.log.Info("data set loaded", "records_per_s", int64(res.recsPerSec), "mb_per_s", fmt.Sprintf("%.1f", res.recsPerSec*float64(r.o.recordSize)/1e6),
		"records_per_partition", fmt.Sprint(sortedValues(ends)))
	if sum(ends) != r.o.records() {
		return nil, fmt.Errorf("load %s: source holds %d records, want %d", backlogTopic, sum(ends), r.o.records())
	}
	// The group sits in the middle of every partition that has records to sit
	// in the middle of.
	mid := kadm.Offsets{}
	for p, end := range ends {
		if end >= 2 {
			mid.AddOffset(backlogTopic, p, end/2, -1)
		}
	}
	if n := len(mid[backlogTopic]); n < len(ends) {
		r.log.Warn("partitions too small for the failover group", "with_group", n, "partitions", len(ends))
	}
	resp, err := r.srcAdm.CommitOffsets(ctx, failGroup, mid)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("commit group %s on the source: %w", failGroup, err)
	}
	return ends, nil
}

// ceiling measures the target's own ingest of the data set, with the same tool,
// records and settings that loaded the source, into a fresh topic.
func (r *rig) ceiling(ctx context.Context, run int) (float64, error) {
	if err := r.resetTarget(ctx); err != nil {
		return 0, err
	}
	if err := createTopic(ctx, r.tgtAdm, ceilingTopic, r.o.partitions); err != nil {
		return 0, err
	}
	res, err := r.producerPerf(ctx, r.tgt, ceilingTopic, r.o.records(), -1, loadProducerProps, fmt.Sprintf("run%d-ceiling.log", run))
	if err != nil {
		return 0, err
	}
	bps := res.recsPerSec * float64(r.o.recordSize)
	r.log.Info("ceiling", "run", run, "mb_per_s", fmt.Sprintf("%.1f", bps/1e6), "records_per_s", int64(res.recsPerSec))
	return bps, r.resetTarget(ctx)
}

// sortedValues lists a partition map's values in partition order.
func sortedValues(m map[int32]int64) []int64 {
	out := make([]int64, len(m))
	for p, v := range m {
		if int(p) < len(out) {
			out[p] = v
		}
	}
	return out
}
