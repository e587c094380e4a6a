package kafkatest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
)

// MigrationConfig returns a configuration that migrates exactly the named topics
// from src to tgt under a unique migration id, with short intervals for tests and
// the HTTP server off.
func MigrationConfig(t testing.TB, src, tgt *Cluster, topics ...string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Migration = UniqueName(t, "m")
	cfg.Source.BootstrapServers = src.Bootstrap
	cfg.Target.BootstrapServers = tgt.Bootstrap
	for _, tp := range topics {
		cfg.Topics.Include = append(cfg.Topics.Include, regexp.QuoteMeta(tp))
	}
	if err := cfg.Topics.Compile(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Groups.Compile(); err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = "off"
	cfg.Replication.CheckpointInterval.Duration = 100 * time.Millisecond
	cfg.Replication.DiscoveryInterval.Duration = time.Second
	cfg.GroupSync.Interval.Duration = 500 * time.Millisecond
	return cfg
}

// CreateTopic creates a topic with the broker's default replication factor and
// waits until every broker knows it (WaitTopics).
func CreateTopic(t testing.TB, c *Cluster, name string, partitions int32, configs map[string]string) {
	t.Helper()
	cfgs := map[string]*string{}
	for k, v := range configs {
		cfgs[k] = &v
	}
	resp, err := c.Admin(t).CreateTopic(context.Background(), partitions, -1, cfgs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	c.WaitTopics(t, time.Minute, name)
}

// Produce writes records synchronously and fails the test on any error.
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// ReadAll reads every committed record of topic on c, per partition, from the
// log start to the last stable offset, without control records.
func ReadAll(t testing.TB, c *Cluster, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ctx := context.Background()
	adm := c.Admin(t)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			offsets[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	out := map[int32][]*kgo.Record{}
	if len(want) == 0 {
		return out
	}
	cl := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	return ReadTo(t, cl, topic, want, 60*time.Second)
}

// ReadTo polls cl, which consumes topic with control records kept, until every
// partition in want was read up to its offset there, and returns the data
// records per partition (control records dropped).
func ReadTo(t testing.TB, cl *kgo.Client, topic string, want map[int32]int64, timeout time.Duration) map[int32][]*kgo.Record {
	t.Helper()
	ctx := context.Background()
	out := map[int32][]*kgo.Record{}
	pos := map[int32]int64{}
	Eventually(t, timeout, func() error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		for _, r := range cl.PollFetches(pctx).Records() {
			pos[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				out[r.Partition] = append(out[r.Partition], r)
			}
		}
		for p, end := range want {
			if pos[p] < end {
				return fmt.Errorf("%s[%d] read up to %d of %d", topic, p, pos[p], end)
			}
		}
		return nil
	})
	return out
}

// ProduceTransactions writes n transactions through cl, which must have a
// transactional id: transaction i holds records(i) and is aborted when abort(i)
// is true, committed otherwise. Aborted transactions leave records and markers
// that a read_committed reader skips: gaps in the offsets.
func ProduceTransactions(t testing.TB, cl *kgo.Client, n int, abort func(i int) bool, records func(i int) []*kgo.Record) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin transaction %d: %v", i, err)
		}
		for _, r := range records(i) {
			cl.Produce(ctx, r, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush transaction %d: %v", i, err)
		}
		end := kgo.TryCommit
		if abort(i) {
			end = kgo.TryAbort
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
	}
}

// SyncBuffer is a text buffer that a process or goroutine may write while a test
// reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
