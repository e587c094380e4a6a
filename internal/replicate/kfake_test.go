package replicate_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// The tests in this file run the whole engine between two in-process kfake
// clusters: no JVM, so they are part of the fast tier (go test -short). They
// check the engine's logic (exact copy, checkpoints, restart, tail
// reconciliation); the same behaviours are also tested against real Kafka.

// fakeCluster starts an in-process cluster, closed when the test ends.
func fakeCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// fakeClient returns a client of c, closed when the test ends.
func fakeClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// fakeConfig migrates the named topics from src to tgt, with the short intervals
// of kafkatest.MigrationConfig.
func fakeConfig(t testing.TB, src, tgt *kfake.Cluster, topics ...string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Migration = kafkatest.UniqueName(t, "m")
	cfg.Source.BootstrapServers = src.ListenAddrs()
	cfg.Target.BootstrapServers = tgt.ListenAddrs()
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
	return cfg
}

func fakeTopic(t *testing.T, c *kfake.Cluster, name string, partitions int32) {
	t.Helper()
	if _, err := kadm.NewClient(fakeClient(t, c)).CreateTopic(context.Background(), partitions, 1, nil, name); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// events collects the engine's events.
type events struct {
	mu  sync.Mutex
	all []replicate.Event
}

func (e *events) add(ev replicate.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// find returns the messages that contain every fragment.
func (e *events) find(fragments ...string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
next:
	for _, ev := range e.all {
		for _, f := range fragments {
			if !strings.Contains(ev.Message, f) {
				continue next
			}
		}
		out = append(out, ev.Message)
	}
	return out
}

// copyUntilCaughtUp runs an engine until it caught up with the source and
// returns it with its error and events.
func copyUntilCaughtUp(t *testing.T, cfg *config.Config) (*replicate.Engine, *events, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ev := &events{}
	e := replicate.New(cfg, nil, nil, nil)
	err := e.Run(ctx, replicate.Options{UntilCaughtUp: true, Events: ev.add})
	if ctx.Err() != nil {
		t.Fatalf("the engine did not catch up within 45s (err %v)", err)
	}
	return e, ev, err
}

// readFake reads every committed record of topic on c, per partition, from the
// start to the last stable offset, without control records.
func readFake(t *testing.T, c *kfake.Cluster, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ctx := context.Background()
	ends, err := kadm.NewClient(fakeClient(t, c)).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s[%d]: %v", topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			offsets[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	out := map[int32][]*kgo.Record{}
	if len(want) == 0 {
		return out
	}
	cl := fakeClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	return kafkatest.ReadTo(t, cl, topic, want, 30*time.Second)
}

// assertExactCopy checks that the target holds exactly the source's committed
// records, byte for byte and in order, at contiguous offsets from 0, and that
// the engine's map translates each source position to its target record.
func assertExactCopy(t *testing.T, e *replicate.Engine, src, tgt *kfake.Cluster, topic string) int {
	t.Helper()
	s, d := readFake(t, src, topic), readFake(t, tgt, topic)
	total := 0
	for p, want := range s {
		got := d[p]
		if len(got) != len(want) {
			t.Errorf("partition %d: source has %d records, target %d", p, len(want), len(got))
			continue
		}
		for i := range want {
			if diff := recordhash.Diff(want[i], got[i]); diff != "" {
				t.Errorf("partition %d: source offset %d and target offset %d differ in %s", p, want[i].Offset, got[i].Offset, diff)
				break
			}
			if got[i].Offset != int64(i) {
				t.Errorf("partition %d: record %d at target offset %d, want contiguous offsets", p, i, got[i].Offset)
				break
			}
			if e != nil {
				if tr, ok := e.Translate(topic, p, want[i].Offset); !ok || tr.Kind != offsetmap.Exact || tr.Offset != got[i].Offset {
					t.Errorf("partition %d: source position %d translates to %v, want exact %d", p, want[i].Offset, tr, got[i].Offset)
					break
				}
			}
		}
		total += len(want)
	}
	for p, got := range d {
		if _, ok := s[p]; !ok && len(got) > 0 {
			t.Errorf("partition %d: %d records on the target, none on the source", p, len(got))
		}
	}
	return total
}

// shapes returns n records for partition p in every shape the copy must keep:
// keys and no key, null and empty values, repeated headers, old timestamps.
func shapes(topic string, p int32, from, n int) []*kgo.Record {
	var out []*kgo.Record
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Topic: topic, Partition: p, Timestamp: time.UnixMilli(int64(1_600_000_000_000 + i))}
		switch i % 4 {
		case 0:
			r.Key, r.Value = fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "value %d", i)
		case 1:
			r.Key = fmt.Appendf(nil, "k%d", i) // tombstone: null value
		case 2:
			r.Value = []byte{} // empty, not null, no key
		case 3:
			r.Key, r.Value = []byte{0, 1, 2, 255}, []byte{255, 0}
			r.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}, {Key: "nil"}}
		}
		out = append(out, r)
	}
	return out
}

func manualProducer(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return fakeClient(t, c, append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
}

// loadFakeState reads the migration's state topic from the target.
func loadFakeState(t *testing.T, tgt *kfake.Cluster, cfg *config.Config) *state.State {
	t.Helper()
	b := &kafka.Builder{}
	store := state.NewStore(fakeClient(t, tgt), cfg.Migration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return b.Client(ctx, kafka.Target, cfg.Target, opts...)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFakeCopyIsExact(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	topic := "orders"
	fakeTopic(t, src, topic, 3)
	cl := manualProducer(t, src)
	for p := range int32(3) {
		kafkatest.Produce(t, cl, shapes(topic, p, 0, 40+int(p))...)
	}
	// Transactions on partition 0: aborted records and the markers of both kinds
	// leave gaps in the source offsets, which the target must not have.
	tx := manualProducer(t, src, kgo.TransactionalID("tx-orders"))
	kafkatest.ProduceTransactions(t, tx, 4, func(i int) bool { return i%2 == 1 }, func(i int) []*kgo.Record {
		return shapes(topic, 0, 100+10*i, 3)
	})
	kafkatest.Produce(t, cl, shapes(topic, 0, 200, 5)...)

	cfg := fakeConfig(t, src, tgt, topic)
	e, _, err := copyUntilCaughtUp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 40+41+42 plain, 2 committed transactions of 3, 5 after them.
	if n := assertExactCopy(t, e, src, tgt, topic); n != 123+6+5 {
		t.Errorf("copied %d records, want %d", n, 123+6+5)
	}
	// Partition 0's source ends past its last record (markers, aborted
	// records): the map says where a consumer at the source end resumes.
	srcEnd := readEnds(t, src, topic)[0]
	if tr, ok := e.Translate(topic, 0, srcEnd); !ok || tr.Kind != offsetmap.Exact || tr.Offset != 40+6+5 {
		t.Errorf("source end %d of partition 0 translates to %v, want exact %d", srcEnd, tr, 40+6+5)
	}
	for _, s := range e.Status() {
		if s.Error != "" || s.Lag != 0 || s.InFlight != 0 {
			t.Errorf("status %+v", s)
		}
	}
	// The state topic on the target holds the final checkpoints.
	st := loadFakeState(t, tgt, cfg)
	for p, want := range map[int32][2]int64{0: {srcEnd, 51}, 1: {41, 41}, 2: {42, 42}} {
		saved := st.Partitions[state.Key{Topic: topic, Partition: p}]
		if saved == nil || saved.Err != nil {
			t.Fatalf("partition %d: no usable state (%+v)", p, saved)
		}
		if cp := saved.Checkpoint; cp.SrcNext != want[0] || cp.TgtNext != want[1] || !cp.HasHash {
			t.Errorf("partition %d: checkpoint %+v, want source next %d, target next %d, with a hash", p, cp, want[0], want[1])
		}
	}
}

// readEnds returns the end offsets (high watermarks) of topic's partitions.
func readEnds(t *testing.T, c *kfake.Cluster, topic string) map[int32]int64 {
	t.Helper()
	ends, err := kadm.NewClient(fakeClient(t, c)).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// TestFakeRestartResumesExactly stops after a first copy, lets the source grow,
// and starts again: the second run continues from the checkpoint, writing each
// new record once and none of the old ones again.
func TestFakeRestartResumesExactly(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	topic := "events"
	fakeTopic(t, src, topic, 2)
	cl := manualProducer(t, src)
	kafkatest.Produce(t, cl, append(shapes(topic, 0, 0, 30), shapes(topic, 1, 0, 10)...)...)
	cfg := fakeConfig(t, src, tgt, topic)
	if _, _, err := copyUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	if n := assertExactCopy(t, nil, src, tgt, topic); n != 40 {
		t.Fatalf("first run copied %d records, want 40", n)
	}

	kafkatest.Produce(t, cl, append(shapes(topic, 0, 30, 7), shapes(topic, 1, 10, 3)...)...)
	e, ev, err := copyUntilCaughtUp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := assertExactCopy(t, e, src, tgt, topic); n != 50 {
		t.Errorf("after the restart the copy has %d records, want 50", n)
	}
	if got := ev.find("adopted"); len(got) != 0 {
		t.Errorf("a clean restart reconciled records: %q", got)
	}
	for _, s := range e.Status() {
		// Copied counts this run only: the restart did not copy again what the
		// first run wrote.
		want := map[int32]int64{0: 7, 1: 3}[s.Partition]
		if s.Copied != want || s.SrcBegin != 0 || s.TgtStart != 0 {
			t.Errorf("partition %d: copied %d this run (want %d), status %+v", s.Partition, s.Copied, want, s)
		}
	}
}

// crashAfterCopy copies topic (one partition) once, then adds source records
// and writes target records past the checkpoint, as a run killed after writing
// them and before checkpointing them would leave things.
func crashAfterCopy(t *testing.T, tail func(srcRecs []*kgo.Record) []*kgo.Record) (src, tgt *kfake.Cluster, cfg *config.Config, topic string) {
	t.Helper()
	src, tgt = fakeCluster(t), fakeCluster(t)
	topic = "ledger"
	fakeTopic(t, src, topic, 1)
	cl := manualProducer(t, src)
	kafkatest.Produce(t, cl, shapes(topic, 0, 0, 20)...)
	cfg = fakeConfig(t, src, tgt, topic)
	if _, _, err := copyUntilCaughtUp(t, cfg); err != nil {
		t.Fatal(err)
	}
	cp := loadFakeState(t, tgt, cfg).Partitions[state.Key{Topic: topic}].Checkpoint
	if cp.SrcNext != 20 || cp.TgtNext != 20 {
		t.Fatalf("checkpoint after the first run %+v, want 20 and 20", cp)
	}
	// A commit marker between the checkpoint and the tail: reconciliation must
	// skip it on the source exactly as the copy did.
	tx := manualProducer(t, src, kgo.TransactionalID("tx-ledger"))
	kafkatest.ProduceTransactions(t, tx, 1, func(int) bool { return false }, func(int) []*kgo.Record {
		return shapes(topic, 0, 20, 2)
	})
	more := shapes(topic, 0, 22, 3)
	kafkatest.Produce(t, cl, more...)
	added := readFake(t, src, topic)[0][20:]
	if len(added) != 5 {
		t.Fatalf("source has %d records past the checkpoint, want 5", len(added))
	}
	var out []*kgo.Record
	for _, r := range tail(added) {
		out = append(out, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	kafkatest.Produce(t, manualProducer(t, tgt), out...)
	return src, tgt, cfg, topic
}

// TestFakeTailAdopted: records on the target past the checkpoint that match the
// source records after it, hash for hash, are adopted, and the copy goes on
// after them: nothing lost, nothing written twice.
func TestFakeTailAdopted(t *testing.T) {
	src, tgt, cfg, topic := crashAfterCopy(t, func(added []*kgo.Record) []*kgo.Record { return added[:3] })
	e, ev, err := copyUntilCaughtUp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.find("adopted 3 records", "after the last checkpoint (offsets 20 to 22)"); len(got) != 1 {
		t.Errorf("want one event about adopting target offsets 20 to 22; events: %+v", ev.find(""))
	}
	if n := assertExactCopy(t, e, src, tgt, topic); n != 25 {
		t.Errorf("the copy has %d records, want 25", n)
	}
	if s := e.Status(); len(s) != 1 || s[0].Copied != 2 || s[0].TgtNext != 25 {
		t.Errorf("status %+v, want 2 records copied this run and target next 25", s)
	}
	cp := loadFakeState(t, tgt, cfg).Partitions[state.Key{Topic: topic}].Checkpoint
	if srcEnd := readEnds(t, src, topic)[0]; cp.SrcNext != srcEnd || cp.TgtNext != 25 {
		t.Errorf("checkpoint %+v, want source next %d and target next 25", cp, srcEnd)
	}
}

// TestFakeTailDiffers: a record past the checkpoint that is not the source's
// next record (another writer, or a different source) stops the partition with
// an error naming it, and nothing more is written.
func TestFakeTailDiffers(t *testing.T) {
	_, tgt, cfg, topic := crashAfterCopy(t, func(added []*kgo.Record) []*kgo.Record {
		forged := *added[1]
		forged.Value = []byte("not what the source holds")
		return []*kgo.Record{added[0], &forged}
	})
	before := readEnds(t, tgt, topic)[0]
	_, _, err := copyUntilCaughtUp(t, cfg)
	if err == nil {
		t.Fatal("the engine adopted a target record that differs from the source")
	}
	for _, want := range []string{"ledger[0] offset 21", "differs from source offset", "refusing to continue this partition"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if after := readEnds(t, tgt, topic)[0]; after != before {
		t.Errorf("the target grew from %d to %d records after the refusal", before, after)
	}
}

// TestFakeForeignDataRefused: a target partition holding records with no state
// for them was not written by kmigrate: refused, with its name and offsets.
func TestFakeForeignDataRefused(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	topic := "shared"
	fakeTopic(t, src, topic, 2)
	fakeTopic(t, tgt, topic, 2)
	kafkatest.Produce(t, manualProducer(t, src), shapes(topic, 0, 0, 4)...)
	kafkatest.Produce(t, manualProducer(t, tgt), shapes(topic, 1, 0, 2)...)
	e, _, err := copyUntilCaughtUp(t, fakeConfig(t, src, tgt, topic))
	if err == nil || !strings.Contains(err.Error(), "target shared[1] holds 2 records (offsets 0 to 1) that kmigrate did not write") {
		t.Fatalf("error %v, want a refusal naming shared[1]", err)
	}
	// The other partition is copied all the same.
	got := readFake(t, tgt, topic)
	if len(got[0]) != 4 || len(got[1]) != 2 {
		t.Errorf("target holds %d and %d records, want 4 copied and the 2 foreign ones untouched", len(got[0]), len(got[1]))
	}
	if tr, ok := e.Translate(topic, 1, 0); ok {
		t.Errorf("the refused partition translates (%v)", tr)
	}
}
