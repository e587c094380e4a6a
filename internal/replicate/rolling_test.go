package replicate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// activeController returns the node id of the metadata quorum's leader.
func activeController(t *testing.T, c *kafkatest.Cluster) int32 {
	t.Helper()
	var id int32
	kafkatest.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		id, err = c.ActiveController(ctx)
		return err
	})
	return id
}

// TestTargetRollingRestartAndControllerKill copies a topic under steady load
// to a target of 3 brokers and 3 controllers while every target broker is
// restarted in turn (a rolling upgrade) and then the active controller is
// killed with SIGKILL and started again. The run must ride through all of it
// without operator action, no partition may stop, and the copy ends exact.
func TestTargetRollingRestartAndControllerKill(t *testing.T) {
	src, _ := clusters(t)
	tgt := kafkatest.StartT(t, kafkatest.UniqueName(t, "roll"), kafkatest.Options{Topology: kafkatest.TopologySeed})
	topic := kafkatest.UniqueName(t, "rolling")
	createTopic(t, src, topic, 6, nil)
	cfg := migrationConfig(t, src, tgt, topic)
	r := startEngine(t, cfg, replicate.Options{})

	// Steady load on the source for the whole test.
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wrote int
	var load sync.WaitGroup
	cl := src.Client(t)
	load.Go(func() {
		for ctx.Err() == nil {
			var recs []*kgo.Record
			for range 50 {
				recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", wrote%97), Value: fmt.Appendf(nil, "v%d", wrote)})
				wrote++
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil && ctx.Err() == nil {
				t.Errorf("source load: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond) // the load's pace, not synchronisation
		}
	})
	copied := func(n int64) func() error {
		return func() error {
			var total int64
			for _, s := range r.engine.Status() {
				if s.Error != "" {
					return fmt.Errorf("partition %d stopped: %s", s.Partition, s.Error)
				}
				total += s.TgtNext
			}
			if total < n {
				return fmt.Errorf("copied %d of %d", total, n)
			}
			return nil
		}
	}
	kafkatest.Eventually(t, 60*time.Second, copied(2000))
	progress := func(what string) {
		t.Helper()
		var total int64
		for _, s := range r.engine.Status() {
			total += s.TgtNext
		}
		kafkatest.Eventually(t, 2*time.Minute, copied(total+500))
		t.Logf("%s: copying on", what)
	}
	for _, b := range tgt.Brokers() {
		if err := tgt.RestartNode(context.Background(), b.ID); err != nil {
			t.Fatal(err)
		}
		progress(fmt.Sprintf("target broker %d restarted", b.ID))
	}
	leader := activeController(t, tgt)
	if err := tgt.KillNode(leader); err != nil {
		t.Fatal(err)
	}
	progress(fmt.Sprintf("active controller %d killed", leader))
	if err := tgt.StartNode(context.Background(), leader); err != nil {
		t.Fatal(err)
	}
	stopLoad()
	load.Wait()
	ends := map[int32]int64{}
	for p := range int32(6) {
		ends[p] = endOffset(t, src, topic, p)
	}
	kafkatest.Eventually(t, 2*time.Minute, func() error {
		for _, s := range r.engine.Status() {
			if s.Error != "" {
				return fmt.Errorf("partition %d stopped: %s", s.Partition, s.Error)
			}
			if s.SrcNext < ends[s.Partition] {
				return fmt.Errorf("partition %d at %d of %d", s.Partition, s.SrcNext, ends[s.Partition])
			}
		}
		return nil
	})
	select {
	case err := <-r.done:
		r.done <- nil
		t.Fatalf("the run ended: %v", err)
	default:
	}
	r.stop(t)
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
	t.Logf("%d records written during the restarts, copied exactly", wrote)
}
