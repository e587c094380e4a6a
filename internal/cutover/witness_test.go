package cutover_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/cutover"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// txWriter writes transactions of three records to a topic until stopped,
// aborting every fourth, and keeps the values of the committed ones.
type txWriter struct {
	mu        sync.Mutex
	committed []string
	aborted   []string
	err       error
	done      chan struct{}
}

func startTxWriter(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topic string) *txWriter {
	w := &txWriter{done: make(chan struct{})}
	cl := c.Client(t, kgo.TransactionalID(kafkatest.UniqueName(t, "tx")), kgo.DefaultProduceTopic(topic))
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			if err := cl.BeginTransaction(); err != nil {
				w.fail(err)
				return
			}
			var vals []string
			for j := range 3 {
				v := fmt.Sprintf("tx.%d.%d", i, j)
				vals = append(vals, v)
				cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "tx%d", j), Value: []byte(v)}, nil)
			}
			commit := kgo.TryCommit
			if i%4 == 3 {
				commit = kgo.TryAbort
			}
			if err := cl.Flush(ctx); err != nil {
				if ctx.Err() == nil {
					w.fail(err)
				}
				_ = cl.EndTransaction(context.Background(), kgo.TryAbort)
				return
			}
			if err := cl.EndTransaction(context.Background(), commit); err != nil {
				w.fail(err)
				return
			}
			w.mu.Lock()
			if commit == kgo.TryCommit {
				w.committed = append(w.committed, vals...)
			} else {
				w.aborted = append(w.aborted, vals...)
			}
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond) // the workload's pace, not synchronisation
		}
	}()
	return w
}

func (w *txWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// TestCutoverWitnessed is the operator's sequence against 3-broker,
// 3-controller clusters on both sides, with Apache's VerifiableProducer and
// VerifiableConsumer as independent witnesses: keyed acks=all traffic and
// transactions (one in four aborted) on the source, two consumer groups
// reading and committing; then producers and consumers stop, the cutover runs,
// and they restart against the target. From the witnesses' own JSON: every
// acknowledged or committed record is consumed exactly once by every group
// across the switch, none lost, none twice, no aborted record seen. Then the
// way back: the reverse copy and the reverse cutover, and the applications
// resume on the source, again with every record consumed exactly once by
// every group over the three phases.
func TestCutoverWitnessed(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.SeedSrc, kafkatest.Options{Topology: kafkatest.TopologySeed})
	tgt := kafkatest.SharedT(t, kafkatest.SeedTgt, kafkatest.Options{Topology: kafkatest.TopologySeed})
	topic := kafkatest.UniqueName(t, "ledger")
	kafkatest.CreateTopic(t, src, topic, 3, nil)
	groupNames := []string{kafkatest.UniqueName(t, "billing"), kafkatest.UniqueName(t, "search")}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	cfg := kafkatest.MigrationConfig(t, src, tgt, topic)
	cfg.Groups.Include = []string{"^(" + groupNames[0] + "|" + groupNames[1] + ")$"}
	if err := cfg.Groups.Compile(); err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	log := kafkatest.Logger(t)
	engine := replicate.New(cfg, log, &kafka.Builder{}, replicate.NewMetrics(prometheus.NewRegistry()))
	runDone := make(chan error, 1)
	started := time.Now()
	go func() { runDone <- engine.Run(runCtx, replicate.Options{}) }()
	// The operator starts the applications' migration once the run is up.
	select {
	case <-engine.Ready():
		t.Logf("run ready after %s", time.Since(started).Round(time.Millisecond))
	case err := <-runDone:
		t.Fatalf("run did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("run not ready after 2 minutes")
	}

	// Before the switch: the applications on the source.
	p1, err := clouds.StartProducer(ctx, src, topic, clouds.ProducerOptions{Rate: 400, Max: -1, ValuePrefix: "1", Props: nil})
	if err != nil {
		t.Fatal(err)
	}
	txCtx, stopTx := context.WithCancel(ctx)
	defer stopTx()
	tx := startTxWriter(txCtx, t, src, topic)
	before := startConsumers(ctx, t, src, topic, groupNames)
	kafkatest.Eventually(t, 2*time.Minute, func() error {
		if n := p1.Acked(); n < 3000 {
			return fmt.Errorf("the source acknowledged %d records", n)
		}
		for g, c := range before {
			if n := c.Consumed(); n < 1000 {
				return fmt.Errorf("group %s consumed %d records", g, n)
			}
		}
		return nil
	})

	// The operator stops the producers and the consumers, then cuts over.
	acked1, sendErrs, err := p1.Stop()
	if err != nil || len(sendErrs) > 0 {
		t.Fatalf("source producer: %v, send errors %v", err, sendErrs)
	}
	stopTx()
	<-tx.done
	if tx.err != nil {
		t.Fatalf("transactional writer: %v", tx.err)
	}
	seenBefore := stopConsumers(t, before)
	var out bytes.Buffer
	rec, err := cutover.Run(ctx, cfg, &kafka.Builder{}, log, cutover.Options{QuietPeriod: 2 * time.Second, Poll: 200 * time.Millisecond,
		FreezeTimeout: time.Minute, DrainTimeout: 2 * time.Minute, ConsumersTimeout: time.Minute, Out: &out})
	if err != nil || rec.Decision != cutover.GO {
		t.Fatalf("cutover: %v\n%s", err, out.String())
	}
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("the run after the seal: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop after the seal")
	}

	// After the switch: the applications on the target.
	p2, err := clouds.StartProducer(ctx, tgt, topic, clouds.ProducerOptions{Rate: 500, Max: 1500, ValuePrefix: "2"})
	if err != nil {
		t.Fatal(err)
	}
	onTarget := startConsumers(ctx, t, tgt, topic, groupNames)
	if err := p2.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	acked2, sendErrs, err := p2.Stop()
	if err != nil || len(sendErrs) > 0 {
		t.Fatalf("target producer: %v, send errors %v", err, sendErrs)
	}
	want := map[string]bool{}
	addAcked(want, acked1)
	addAcked(want, acked2)
	for _, v := range tx.committed {
		want[v] = true
	}
	aborted := map[string]bool{}
	for _, v := range tx.aborted {
		aborted[v] = true
	}
	// Every group reads what it had left, on the target.
	waitConsumed(t, onTarget, []map[string]consumed{seenBefore}, len(want))
	seenAfter := stopConsumers(t, onTarget)
	checkExactlyOnce(t, "across the switch", groupNames, []map[string]consumed{seenBefore, seenAfter}, want, aborted)

	// The way back: the reverse copy takes what the target received since the
	// switch back to the source, and the reverse cutover seals it.
	rev, err := cutover.PrepareReverse(ctx, cfg, &kafka.Builder{}, log)
	if err != nil {
		t.Fatal(err)
	}
	revEngine := replicate.New(rev.Config, log, &kafka.Builder{}, replicate.NewMetrics(prometheus.NewRegistry()))
	revDone := make(chan error, 1)
	go func() {
		revDone <- revEngine.Run(ctx, replicate.Options{Start: rev.Start, KeepTargetConfigs: true})
	}()
	select {
	case <-revEngine.Ready():
	case err := <-revDone:
		t.Fatalf("the reverse run did not start: %v", err)
	}
	out.Reset()
	back, err := cutover.Run(ctx, rev.Config, &kafka.Builder{}, log, cutover.Options{QuietPeriod: 2 * time.Second, Poll: 200 * time.Millisecond,
		FreezeTimeout: time.Minute, DrainTimeout: 2 * time.Minute, ConsumersTimeout: time.Minute, Out: &out})
	if err != nil || back.Decision != cutover.GO {
		t.Fatalf("cutover --reverse: %v\n%s", err, out.String())
	}
	select {
	case err := <-revDone:
		if err != nil {
			t.Fatalf("the reverse run after its seal: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the reverse run did not stop after the reverse cutover")
	}

	// Back on the source: the applications resume there.
	p3, err := clouds.StartProducer(ctx, src, topic, clouds.ProducerOptions{Rate: 500, Max: 1000, ValuePrefix: "3"})
	if err != nil {
		t.Fatal(err)
	}
	onSource := startConsumers(ctx, t, src, topic, groupNames)
	if err := p3.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	acked3, sendErrs, err := p3.Stop()
	if err != nil || len(sendErrs) > 0 {
		t.Fatalf("source producer after the way back: %v, send errors %v", err, sendErrs)
	}
	addAcked(want, acked3)
	waitConsumed(t, onSource, []map[string]consumed{seenBefore, seenAfter}, len(want))
	seenBack := stopConsumers(t, onSource)
	checkExactlyOnce(t, "there and back", groupNames, []map[string]consumed{seenBefore, seenAfter, seenBack}, want, aborted)
}

// consumed is what a witness consumer read in one phase, and where its group
// committed when it stopped.
type consumed struct {
	records   []clouds.Record
	committed map[int32]int64
}

// done counts the records the group consumed and committed in a phase:
// records read but not committed are the consumer's own redelivery, not the
// migration's.
func (c consumed) done() []clouds.Record {
	var out []clouds.Record
	for _, r := range c.records {
		if r.Offset < c.committed[r.Partition] {
			out = append(out, r)
		}
	}
	return out
}

func addAcked(want map[string]bool, acks map[int32][]clouds.Ack) {
	for _, as := range acks {
		for _, a := range as {
			want[a.Value] = true
		}
	}
}

func startConsumers(ctx context.Context, t *testing.T, c *kafkatest.Cluster, topic string, groupNames []string) map[string]*clouds.Consumer {
	t.Helper()
	out := map[string]*clouds.Consumer{}
	for _, g := range groupNames {
		w, err := clouds.StartVerboseConsumer(ctx, c, topic, g)
		if err != nil {
			t.Fatal(err)
		}
		out[g] = w
	}
	return out
}

func stopConsumers(t *testing.T, cs map[string]*clouds.Consumer) map[string]consumed {
	t.Helper()
	out := map[string]consumed{}
	for g, c := range cs {
		recs, committed, err := c.Stop()
		if err != nil {
			t.Fatalf("consumer of %s: %v", g, err)
		}
		out[g] = consumed{recs, committed}
	}
	return out
}

// waitConsumed waits until every group, counting what it consumed in the
// earlier phases, has read total records.
func waitConsumed(t *testing.T, cs map[string]*clouds.Consumer, earlier []map[string]consumed, total int) {
	t.Helper()
	for g, c := range cs {
		prior := 0
		for _, ph := range earlier {
			prior += len(ph[g].done())
		}
		kafkatest.Eventually(t, 2*time.Minute, func() error {
			if n := prior + int(c.Consumed()); n < total {
				return fmt.Errorf("group %s consumed %d of %d records", g, n, total)
			}
			return nil
		})
	}
}

// checkExactlyOnce checks, per group, that the phases together consumed every
// wanted record exactly once, nothing else and no aborted record. The last
// phase counts whole (the test waited until it read everything).
func checkExactlyOnce(t *testing.T, what string, groupNames []string, phases []map[string]consumed, want, aborted map[string]bool) {
	t.Helper()
	for _, g := range groupNames {
		count := map[string]int{}
		var sizes []int
		for i, ph := range phases {
			recs := ph[g].done()
			if i == len(phases)-1 {
				recs = ph[g].records
			}
			sizes = append(sizes, len(recs))
			for _, r := range recs {
				count[r.Value]++
			}
		}
		var lost, twice, extra, abortedSeen []string
		for v := range want {
			switch n := count[v]; {
			case n == 0:
				lost = append(lost, v)
			case n > 1:
				twice = append(twice, fmt.Sprintf("%s (%d times)", v, n))
			}
		}
		for v := range count {
			switch {
			case aborted[v]:
				abortedSeen = append(abortedSeen, v)
			case !want[v]:
				extra = append(extra, v)
			}
		}
		for _, l := range [][]string{lost, twice, extra, abortedSeen} {
			sort.Strings(l)
		}
		if len(lost)+len(twice)+len(extra)+len(abortedSeen) > 0 {
			t.Errorf("group %s %s: %d lost %.10v, %d twice %.10v, %d never acknowledged %.10v, %d aborted %.10v",
				g, what, len(lost), lost, len(twice), twice, len(extra), extra, len(abortedSeen), abortedSeen)
		}
		t.Logf("group %s %s: records per phase %v, %d acknowledged or committed in all", g, what, sizes, len(want))
	}
}
