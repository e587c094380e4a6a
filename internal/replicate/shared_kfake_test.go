package replicate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// runner is one `run` process of a shared migration, in-process.
type runner struct {
	e      *replicate.Engine
	ev     *events
	cancel context.CancelFunc
	done   chan error
}

func startRunner(t *testing.T, e *replicate.Engine) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{e: e, ev: &events{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx, replicate.Options{Events: r.ev.add}) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runner) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not stop within 60 s")
	}
}

// held lists the partitions a runner copies now.
func (r *runner) held() map[int32]bool {
	out := map[int32]bool{}
	for _, p := range r.e.Status() {
		out[p.Partition] = true
	}
	return out
}

// TestFakeSharedMigration runs two processes of one shared migration under a
// live producer: the second one's join moves half the partitions to it, a
// clean stop of the first moves them all back to the second, and the target
// ends up holding every source record once, in order, at the same offsets.
func TestFakeSharedMigration(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	topic := kafkatest.UniqueName(t, "shared")
	const parts = 6
	fakeTopic(t, src, topic, parts)
	cfg := fakeConfig(t, src, tgt, topic)
	cfg.Replication.ScaleOut = true

	prod := manualProducer(t, src)
	var produced sync.WaitGroup
	stopProducing := make(chan struct{})
	produced.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				return
			default:
			}
			var recs []*kgo.Record
			for p := int32(0); p < parts; p++ {
				recs = append(recs, shapes(topic, p, i*10, 10)...)
			}
			if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond) // the workload's pace, not a synchronisation
		}
	})

	ma := replicate.NewMetrics(nil)
	a := startRunner(t, replicate.New(cfg, nil, nil, ma))
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if n := len(a.held()); n != parts {
			return fmt.Errorf("the first process holds %d of %d partitions", n, parts)
		}
		return nil
	})
	if l := testutil.ToFloat64(ma.Leader); l != 1 {
		t.Errorf("kmigrate_leader of the only process = %v, want 1", l)
	}
	b := startRunner(t, replicate.New(cfg, nil, nil, nil))
	kafkatest.Eventually(t, 30*time.Second, func() error {
		ha, hb := a.held(), b.held()
		for p := range ha {
			if hb[p] {
				return fmt.Errorf("partition %d held by both", p)
			}
		}
		if len(ha) != parts/2 || len(hb) != parts/2 {
			return fmt.Errorf("held %d and %d, want %d each", len(ha), len(hb), parts/2)
		}
		return nil
	})
	if got := a.ev.find("handed over 3 partitions cleanly"); len(got) != 1 {
		t.Errorf("the first process's hand-over events: %q", got)
	}
	if n := testutil.ToFloat64(ma.Handovers.WithLabelValues("clean")); n != 3 {
		t.Errorf("kmigrate_partition_handovers_total{how=clean} of the first process = %v, want 3", n)
	}
	if got := b.ev.find("claimed 3 partitions (0 not released cleanly"); len(got) != 1 {
		t.Errorf("the second process's claim events: %q", got)
	}
	a.stop(t)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if n := len(b.held()); n != parts {
			return fmt.Errorf("the second process holds %d of %d partitions", n, parts)
		}
		return nil
	})
	close(stopProducing)
	produced.Wait()
	ends := readEnds(t, src, topic)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		got := readEnds(t, tgt, topic)
		for p, n := range ends {
			if got[p] != n {
				return fmt.Errorf("target %s[%d] ends at %d, source at %d", topic, p, got[p], n)
			}
		}
		return nil
	})
	n := assertExactCopy(t, b.e, src, tgt, topic)
	b.stop(t)
	if n < parts*100 {
		t.Fatalf("only %d records were produced", n)
	}
	st := loadFakeState(t, tgt, cfg)
	if len(st.Owners) != parts {
		t.Fatalf("%d owner records, want %d", len(st.Owners), parts)
	}
	for tp, o := range st.Owners {
		if !o.Released {
			t.Errorf("%v: owner record %+v is not a release after a clean stop", tp, o)
		}
	}
}
