package clouds_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// load is the witnesses' traffic of one scenario: VerifiableProducer writing the
// topic inside the source cloud, and a VerifiableConsumer group reading part of it
// there and committing.
type load struct {
	topic    string
	group    string
	total    int
	producer *clouds.Producer
	more     []*clouds.Producer // further producers on the topic, in the ledger too
	consumer *clouds.Consumer
	began    time.Time
}

// startLoad creates topic on the source and starts the producer at rate records
// per second for total records, and a consumer group that reads half of them.
func startLoad(t *testing.T, c *clouds.Clouds, partitions int32, rate, total int) *load {
	t.Helper()
	return startLoadWith(t, c, partitions, clouds.ProducerOptions{Rate: rate, Max: total})
}

// startLoadWith is startLoad with the producer's options spelled out.
func startLoadWith(t *testing.T, c *clouds.Clouds, partitions int32, o clouds.ProducerOptions) *load {
	t.Helper()
	l := &load{topic: kafkatest.UniqueName(t, "t"), group: kafkatest.UniqueName(t, "g"), total: o.Max, began: time.Now()}
	kafkatest.CreateTopic(t, c.Source, l.topic, partitions, nil)
	ctx := context.Background()
	var err error
	if l.producer, err = clouds.StartProducer(ctx, c.Source, l.topic, o); err != nil {
		t.Fatal(err)
	}
	if l.consumer, err = clouds.StartConsumer(ctx, c.Source, l.topic, l.group, o.Max/2); err != nil {
		t.Fatal(err)
	}
	return l
}

// outcome is what a scenario measured.
type outcome struct {
	recovered time.Duration // from the last fault lifted to zero lag
	cmp       clouds.Comparison
}

// finish waits for the load to end and kmigrate to reach zero lag after the last
// fault was lifted at healed, then checks everything the issue asks: every acked
// record on the target exactly once and in order, the target equal to the source,
// the group's positions exact, and kmigrate's report (status, metrics) true.
func finish(t *testing.T, c *clouds.Clouds, r *run, l *load, healed time.Time, recoverBound time.Duration) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.producer.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	acks, sendErrs, err := l.producer.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.more {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		more, errs, err := p.Stop()
		if err != nil {
			t.Fatal(err)
		}
		sendErrs = append(sendErrs, errs...)
		for part, as := range more {
			acks[part] = append(acks[part], as...)
			sort.Slice(acks[part], func(i, j int) bool { return acks[part][i].Offset < acks[part][j].Offset })
		}
	}
	committed, err := l.consumer.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	kafkatest.Eventually(t, recoverBound, func() error {
		r.alive(t)
		return caughtUp(c, l.topic)
	})
	o.recovered = time.Since(healed)
	r.alive(t)

	src := kafkatest.ReadAll(t, c.Source, l.topic)
	tgt := kafkatest.ReadAll(t, c.Target, l.topic)
	o.cmp = clouds.Compare(acks, src, tgt)
	t.Logf("ledger: %s; producer send errors %d", o.cmp, len(sendErrs))
	if !o.cmp.OK() {
		t.Errorf("the target is not an exact copy: %s", o.cmp)
	}
	if o.cmp.Acked < l.total*8/10 {
		t.Errorf("the source acknowledged %d of %d records: the load did not run", o.cmp.Acked, l.total)
	}

	// Group positions: the witness's last commits, checked against the source, then
	// their exact translation on the target.
	srcAdm, tgtAdm := c.Source.Admin(t), c.Target.Admin(t)
	got, err := srcAdm.FetchOffsets(ctx, l.group)
	if err != nil {
		t.Fatal(err)
	}
	for p, off := range committed {
		if o, ok := got.Lookup(l.topic, p); !ok || o.At != off {
			t.Errorf("group %s %s[%d]: the consumer says it committed %d, the source holds %v", l.group, l.topic, p, off, o.At)
		}
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		r.alive(t)
		tg, err := tgtAdm.FetchOffsets(ctx, l.group)
		if err != nil {
			return err
		}
		for p, off := range committed {
			want, ok := clouds.TargetPosition(src[p], tgt[p], off)
			if !ok {
				return fmt.Errorf("%s[%d]: no target position for source %d", l.topic, p, off)
			}
			if o, ok := tg.Lookup(l.topic, p); !ok || o.At != want {
				return fmt.Errorf("group %s %s[%d]: target committed %v, want %d (source %d)", l.group, l.topic, p, o.At, want, off)
			}
		}
		return nil
	})

	// What kmigrate reports.
	kafkatest.Eventually(t, 15*time.Second, func() error {
		s, err := r.status()
		if err != nil {
			return err
		}
		switch {
		case s.Phase != "following":
			return fmt.Errorf("phase %s", s.Phase)
		case s.Overview.LagRecords != 0:
			return fmt.Errorf("lag %d", s.Overview.LagRecords)
		case s.Overview.FailedPartitions != 0 || len(s.Errors) != 0:
			return fmt.Errorf("failed partitions %d, errors %s", s.Overview.FailedPartitions, s.Errors)
		case s.Overview.LostRecords != 0:
			return fmt.Errorf("lost records %d", s.Overview.LostRecords)
		case s.Overview.CopiedRecords != int64(o.cmp.Target):
			return fmt.Errorf("reports %d records copied, the target holds %d", s.Overview.CopiedRecords, o.cmp.Target)
		}
		return nil
	})
	return o
}

// waitCopying waits until kmigrate has copied some of the topic, so that faults
// land mid-copy.
func waitCopying(t *testing.T, c *clouds.Clouds, r *run, topic string, n int64) {
	t.Helper()
	// Generous: on a loaded machine JVMs start slowly and a new topic's leaders
	// take a while.
	kafkatest.Eventually(t, 3*time.Minute, func() error {
		r.alive(t)
		sum, err := targetRecords(c, topic)
		if err != nil {
			return err
		}
		if sum < n {
			return fmt.Errorf("%d records on the target, waiting for %d", sum, n)
		}
		return nil
	})
}

// targetRecords returns how many records the target holds of topic (an
// ordinary topic: offsets from 0), read directly.
func targetRecords(c *clouds.Clouds, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := endOffsets(ctx, c.Target, topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, e := range ends {
		sum += e
	}
	return sum, nil
}
