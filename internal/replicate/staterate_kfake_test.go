package replicate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// TestFakeStateWriteRateBounded copies 60 partitions that all get records
// all the time, with replication.checkpoint_max_partitions 10: the state
// topic gets at most 10 checkpoints per interval (not 60), those checkpointed
// longest ago first, so every partition's checkpoint still moves.
func TestFakeStateWriteRateBounded(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	topic := kafkatest.UniqueName(t, "busy")
	const parts, limit = 60, 10
	fakeTopic(t, src, topic, parts)
	cfg := fakeConfig(t, src, tgt, topic)
	cfg.Replication.CheckpointMaxPartitions = limit
	interval := cfg.Replication.CheckpointInterval.Duration

	prod := manualProducer(t, src)
	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var recs []*kgo.Record
			for p := int32(0); p < parts; p++ {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d", i)})
			}
			if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(10 * time.Millisecond) // the workload's pace
		}
	}()
	r := startRunner(t, replicate.New(cfg, nil, nil, nil))
	<-r.e.Ready()
	// Let the first checkpoints of every partition (written at start, in
	// one batch) and the first rounds pass, then watch a window.
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if n := len(r.e.Status()); n != parts {
			return fmt.Errorf("%d partitions running", n)
		}
		return nil
	})
	from := time.Now()
	window := 30 * interval
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if time.Since(from) < window {
			return fmt.Errorf("watching")
		}
		return nil
	})
	to := time.Now()
	close(stop)
	<-produced
	r.stop(t)

	cl := fakeClient(t, tgt, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{state.TopicName(cfg.Migration): {0: kgo.NewOffset().AtStart()}}))
	end := readEnds(t, tgt, state.TopicName(cfg.Migration))[0]
	recs := kafkatest.ReadTo(t, cl, state.TopicName(cfg.Migration), map[int32]int64{0: end}, 30*time.Second)[0]
	inWindow := 0
	touched := map[int32]int{}
	for _, rec := range recs {
		k, err := offsetmap.DecodeKey(rec.Key)
		if err != nil || k.Kind != offsetmap.KindCheckpoint {
			continue
		}
		if rec.Timestamp.After(from) && rec.Timestamp.Before(to) {
			inWindow++
			touched[k.Partition]++
		}
	}
	ticks := int(to.Sub(from)/interval) + 1
	t.Logf("%d checkpoints in %d intervals (%d partitions, at most %d per interval); %d partitions checkpointed", inWindow, ticks, parts, limit, len(touched))
	// A write that timed out but landed is written again: allow for some;
	// without the bound there would be about parts*ticks.
	if inWindow > limit*ticks*3/2 {
		t.Errorf("%d checkpoints in %d intervals: more than %d per interval", inWindow, ticks, limit)
	}
	if inWindow < limit*ticks/3 {
		t.Errorf("only %d checkpoints in %d intervals: the bound starves the checkpoints", inWindow, ticks)
	}
	if len(touched) != parts {
		t.Errorf("only %d of %d partitions were checkpointed in the window: the oldest must go first", len(touched), parts)
	}
}
