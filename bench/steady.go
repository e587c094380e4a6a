package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// latencyResult is one tool's steady state: a producer writes at a fixed rate to
// the source while the tool copies; consumers in the benchmark follow the topic
// on both clusters and note when each record becomes visible. A record's
// timestamp is its create time, set by the producer on the same machine, and the
// target copy has the source's offsets (a fresh, gap-free topic), so for every
// record
//
//	replication latency = time the target consumer sees it − time the source consumer sees it
//	end-to-end latency  = time the target consumer sees it − its create time
//
// The first is what the tool adds; the second also holds what the producer's
// batching, acknowledgement and queueing cost (the floor, the same measure on
// the source), which grows when the host's CPU is short.
type latencyResult struct {
	records                int64 // records of the measured window seen on the target
	missing                int64 // records not on the target when the wait ended
	repP50, repP99, repMax time.Duration
	p50, p99, max          time.Duration
	floorP50, floorP99     time.Duration
	floorMax               time.Duration
	cpu                    time.Duration // the tool's CPU during the window
	brokerCPU              time.Duration // both brokers' CPU during the window
	window                 time.Duration
	produced               float64 // bytes/s the producer achieved, by its own count
}

// cores returns the tool's average CPU use during the window, in cores.
func (l latencyResult) cores() float64 { return l.cpu.Seconds() / l.window.Seconds() }

// steadyState measures t following a live topic for the options' window.
func (r *rig) steadyState(ctx context.Context, t tool, run int) (latencyResult, error) {
	var res latencyResult
	if err := r.resetTarget(ctx); err != nil {
		return res, err
	}
	if err := r.resetSource(ctx); err != nil {
		return res, err
	}
	topic := fmt.Sprintf("steady-%d", run)
	if t.name() == toolKmigrate {
		topic += "-kmigrate"
	} else {
		topic += "-mm2"
	}
	if err := createTopic(ctx, r.srcAdm, topic, r.o.partitions); err != nil {
		return res, err
	}
	r.log.Info("steady state", "tool", t.name(), "run", run, "rate_mb_per_s", float64(r.o.rate)/1e6)
	p, err := t.start(ctx, phaseSteady, run, topic)
	if err != nil {
		return res, err
	}
	defer p.stop(30 * time.Second)
	if err := r.probe(ctx, p, topic); err != nil {
		return res, fmt.Errorf("steady state with %s: %w", t.name(), err)
	}

	srcLat, tgtLat := newLatencies(), newLatencies()
	fctx, cancelFollow := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clients []*kgo.Client
	stopFollowing := func() {
		cancelFollow()
		wg.Wait()
		for _, cl := range clients {
			cl.Close()
		}
		clients = nil
	}
	defer stopFollowing()
	for _, f := range []struct {
		seeds []string
		l     *latencies
	}{{r.src.Bootstrap, srcLat}, {r.tgt.Bootstrap, tgtLat}} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: allPartitions(r.o.partitions)}))
		if err != nil {
			return res, fmt.Errorf("steady state: create consumer: %w", err)
		}
		clients = append(clients, cl)
		wg.Go(func() { f.l.follow(fctx, cl) })
	}

	rate := r.o.steadyRecordRate()
	records := int64(math.Ceil(float64(rate) * (r.o.warmup + r.o.steady).Seconds()))
	launched := time.Now()
	from := launched.Add(r.o.warmup)
	type produced struct {
		res perfResult
		err error
	}
	prodDone := make(chan produced, 1)
	go func() {
		res, err := r.producerPerf(ctx, r.src, topic, records, rate, steadyProducerProps, fmt.Sprintf("run%d-steady-%s-producer.log", run, shortName(t)))
		prodDone <- produced{res, err}
	}()
	var u0 usage
	var b0 time.Duration
	for i, at := range []time.Time{from, from.Add(r.o.steady)} {
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		u, err := p.usage()
		if err != nil {
			return res, err
		}
		b := r.brokerCPU()
		if i == 0 {
			u0, b0 = u, b
		} else {
			res.cpu, res.brokerCPU, res.window = u.cpu-u0.cpu, b-b0, r.o.steady
		}
	}
	prod := <-prodDone
	if prod.err != nil {
		return res, prod.err
	}
	res.produced = prod.res.recsPerSec * float64(r.o.recordSize)
	if res.produced < 0.95*float64(r.o.rate) {
		r.log.Warn("steady state: the producer fell short of the rate", "tool", t.name(), "mb_per_s", fmt.Sprintf("%.1f", res.produced/1e6))
	}
	ends, err := endOffsets(ctx, r.srcAdm, topic)
	if err != nil {
		return res, err
	}
	// Wait for the target to receive everything, as long as it keeps moving.
	for _, l := range []*latencies{srcLat, tgtLat} {
		if err := l.waitFor(ctx, ends, 2*time.Minute); err != nil {
			r.log.Warn("steady state: records missing", "tool", t.name(), "err", err)
		}
	}
	stopFollowing()
	if p.exited() {
		return res, fmt.Errorf("steady state with %s: %w", t.name(), p.exitErr())
	}
	if err := p.stop(30 * time.Second); err != nil {
		return res, err
	}

	res.missing = tgtLat.missing(ends)
	fromUs := from.UnixMicro()
	e2e, floor, rep := tgtLat.sinceCreate(fromUs), srcLat.sinceCreate(fromUs), replication(srcLat, tgtLat, fromUs)
	res.records = int64(len(e2e))
	res.p50, res.p99, res.max = percentile(e2e, 50), percentile(e2e, 99), percentile(e2e, 100)
	res.floorP50, res.floorP99, res.floorMax = percentile(floor, 50), percentile(floor, 99), percentile(floor, 100)
	res.repP50, res.repP99, res.repMax = percentile(rep, 50), percentile(rep, 99), percentile(rep, 100)
	r.log.Info("steady state measured", "tool", t.name(), "run", run, "records", res.records, "missing", res.missing,
		"replication_p50_ms", ms(res.repP50), "replication_p99_ms", ms(res.repP99), "replication_max_ms", ms(res.repMax),
		"e2e_p99_ms", ms(res.p99), "floor_p99_ms", ms(res.floorP99), "cores", fmt.Sprintf("%.2f", res.cores()))
	return res, nil
}

func shortName(t tool) string {
	if t.name() == toolKmigrate {
		return "kmigrate"
	}
	return "mm2"
}

// probe writes one record to every partition of topic on the source and waits
// until the target holds them all: the tool runs and has created the topic.
func (r *rig) probe(ctx context.Context, p *proc, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.src.Bootstrap...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return fmt.Errorf("probe: create producer: %w", err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range r.o.partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i), Value: []byte("probe")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("probe: produce: %w", err)
	}
	want := map[int32]int64{}
	for i := range r.o.partitions {
		want[int32(i)] = 1
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got, _ := endOffsets(ctx, r.tgtAdm, topic)
		if caughtUp(got, want) {
			return nil
		}
		if p.exited() {
			return p.exitErr()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("probe: records not on the target after 5 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

func allPartitions(n int) map[int32]kgo.Offset {
	m := map[int32]kgo.Offset{}
	for i := range n {
		m[int32(i)] = kgo.NewOffset().AtStart()
	}
	return m
}

// latencies notes, for every record one consumer sees, when it saw it and the
// record's create time, by partition and offset (the topics start at offset 0).
type latencies struct {
	mu      sync.Mutex
	seen    map[int32][]int64 // unix µs when the consumer got the record, by offset
	created map[int32][]int64 // unix µs of the record's timestamp, by offset
}

func newLatencies() *latencies {
	return &latencies{seen: map[int32][]int64{}, created: map[int32][]int64{}}
}

// follow consumes until ctx ends.
func (l *latencies) follow(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := time.Now().UnixMicro()
		l.mu.Lock()
		fs.EachRecord(func(rec *kgo.Record) {
			seen, created := l.seen[rec.Partition], l.created[rec.Partition]
			for int64(len(seen)) < rec.Offset { // a gap: not expected in these topics
				seen, created = append(seen, -1), append(created, -1)
			}
			if int64(len(seen)) == rec.Offset {
				seen, created = append(seen, now), append(created, rec.Timestamp.UnixMicro())
			}
			l.seen[rec.Partition], l.created[rec.Partition] = seen, created
		})
		l.mu.Unlock()
	}
}

// waitFor waits until every partition has been read up to ends, or until nothing
// has moved for idle.
func (l *latencies) waitFor(ctx context.Context, ends map[int32]int64, idle time.Duration) error {
	last, lastMove := int64(-1), time.Now()
	for {
		missing := l.missing(ends)
		if missing == 0 {
			return nil
		}
		if missing != last {
			last, lastMove = missing, time.Now()
		}
		if time.Since(lastMove) > idle {
			return fmt.Errorf("%d records not seen, none for %s", missing, idle)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

func (l *latencies) missing(ends map[int32]int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for p, e := range ends {
		n += max(0, e-int64(len(l.seen[p])))
	}
	return n
}

// sinceCreate returns, sorted, seen − created of the records created from from on.
func (l *latencies) sinceCreate(from int64) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for p, seen := range l.seen {
		for o, s := range seen {
			if c := l.created[p][o]; s >= 0 && c >= from {
				out = append(out, max(0, s-c))
			}
		}
	}
	slices.Sort(out)
	return out
}

// replication returns, sorted, the time from when the source consumer saw each
// record created from from on to when the target consumer saw it. A record the
// benchmark's source consumer saw after the target one counts as 0.
func replication(src, tgt *latencies, from int64) []int64 {
	src.mu.Lock()
	defer src.mu.Unlock()
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	var out []int64
	for p, seen := range tgt.seen {
		ss := src.seen[p]
		for o, t := range seen {
			if o < len(ss) && t >= 0 && ss[o] >= 0 && tgt.created[p][o] >= from {
				out = append(out, max(0, t-ss[o]))
			}
		}
	}
	slices.Sort(out)
	return out
}

// percentile returns the nearest-rank percentile q (0 < q <= 100) of sorted
// microsecond values.
func percentile(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return time.Duration(sorted[i]) * time.Microsecond
}
