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
// across the switch, none lost, none twice, no aborted record seen.
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
	engine := replicate.New(cfg, nil, &kafka.Builder{}, replicate.NewMetrics(prometheus.NewRegistry()))
	runDone := make(chan error, 1)
	go func() { runDone <- engine.Run(runCtx, replicate.Options{}) }()

	// Before the switch: the applications on the source.
	p1, err := clouds.StartProducer(ctx, src, topic, clouds.ProducerOptions{Rate: 400, Max: -1, ValuePrefix: "1", Props: nil})
	if err != nil {
		t.Fatal(err)
	}
	txCtx, stopTx := context.WithCancel(ctx)
	defer stopTx()
	tx := startTxWriter(txCtx, t, src, topic)
	before := map[string]*clouds.Consumer{}
	for _, g := range groupNames {
		c, err := clouds.StartVerboseConsumer(ctx, src, topic, g)
		if err != nil {
			t.Fatal(err)
		}
		before[g] = c
	}
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
	type consumed struct {
		records   []clouds.Record
		committed map[int32]int64
	}
	seenBefore := map[string]consumed{}
	for g, c := range before {
		recs, committed, err := c.Stop()
		if err != nil {
			t.Fatalf("source consumer of %s: %v", g, err)
		}
		seenBefore[g] = consumed{recs, committed}
	}
	var out bytes.Buffer
	rec, err := cutover.Run(ctx, cfg, &kafka.Builder{}, nil, cutover.Options{QuietPeriod: 2 * time.Second, Poll: 200 * time.Millisecond,
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
	after := map[string]*clouds.Consumer{}
	for _, g := range groupNames {
		c, err := clouds.StartVerboseConsumer(ctx, tgt, topic, g)
		if err != nil {
			t.Fatal(err)
		}
		after[g] = c
	}
	if err := p2.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	acked2, sendErrs, err := p2.Stop()
	if err != nil || len(sendErrs) > 0 {
		t.Fatalf("target producer: %v, send errors %v", err, sendErrs)
	}

	want := map[string]bool{}
	for _, acks := range [](map[int32][]clouds.Ack){acked1, acked2} {
		for _, as := range acks {
			for _, a := range as {
				want[a.Value] = true
			}
		}
	}
	for _, v := range tx.committed {
		want[v] = true
	}
	aborted := map[string]bool{}
	for _, v := range tx.aborted {
		aborted[v] = true
	}
	total := len(want)
	// Every group reads what it had left on the target.
	for g, c := range after {
		b := seenBefore[g]
		doneBefore := 0
		for _, r := range b.records {
			if r.Offset < b.committed[r.Partition] {
				doneBefore++
			}
		}
		kafkatest.Eventually(t, 2*time.Minute, func() error {
			if n := doneBefore + int(c.Consumed()); n < total {
				return fmt.Errorf("group %s consumed %d of %d records", g, n, total)
			}
			return nil
		})
	}
	for _, g := range groupNames {
		recs, _, err := after[g].Stop()
		if err != nil {
			t.Fatalf("target consumer of %s: %v", g, err)
		}
		b := seenBefore[g]
		count := map[string]int{}
		for _, r := range b.records {
			// What the group consumed and committed on the source; records read
			// but not committed are the consumer's own redelivery, not the
			// migration's.
			if r.Offset < b.committed[r.Partition] {
				count[r.Value]++
			}
		}
		for _, r := range recs {
			count[r.Value]++
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
			t.Errorf("group %s across the switch: %d lost %.10v, %d twice %.10v, %d never acknowledged %.10v, %d aborted %.10v",
				g, len(lost), lost, len(twice), twice, len(extra), extra, len(abortedSeen), abortedSeen)
		}
		t.Logf("group %s: %d records before the switch, %d after, of %d acknowledged or committed", g, len(b.records), len(recs), total)
	}
}
