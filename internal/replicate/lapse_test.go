package replicate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// TestFakeLeaseLapseHeals cuts the writer lock's heartbeats for longer than
// the lease and the session, mid-copy, as a coordinator outage or a network cut
// between kmigrate and the source does, with no other instance anywhere: the
// fence closes (nothing is written while the lease is lapsed), then the lock is
// taken back and the copy goes on. No partition may stop for it; the copy ends
// exact.
func TestFakeLeaseLapseHeals(t *testing.T) {
	src, tgt := fakeCluster(t), fakeCluster(t)
	const topic = "orders"
	fakeTopic(t, src, topic, 2)
	cl := manualProducer(t, src)
	var recs []*kgo.Record
	for i := range 8000 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{byte(i)}, 100)})
	}
	kafkatest.Produce(t, cl, recs...)
	cfg := fakeConfig(t, src, tgt, topic)
	cfg.Replication.MaxBytesPerSecond = 60_000 // about 10 s of copying

	var blocking atomic.Bool
	src.ControlKey(int16(kmsg.Heartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
		src.KeepControl()
		if blocking.Load() {
			return nil, errors.New("heartbeats cut"), true
		}
		return nil, nil, false
	})
	ev := &events{}
	e := replicate.New(cfg, nil, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, replicate.Options{UntilCaughtUp: true, Events: ev.add}) }()
	select {
	case <-e.Ready():
	case err := <-done:
		t.Fatalf("engine did not start: %v", err)
	}
	// Cut the heartbeats once copying is under way, until the fence closed
	// and the coordinator forgot the member, then heal.
	kafkatest.Eventually(t, 30*time.Second, func() error {
		for _, s := range e.Status() {
			if s.Copied > 100 {
				return nil
			}
		}
		return errors.New("nothing copied yet")
	})
	blocking.Store(true)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		if e.Fence().Valid() {
			return errors.New("the lease still holds")
		}
		return nil
	})
	closed := time.Now()
	var copiedWhileClosed []int64
	for _, s := range e.Status() {
		copiedWhileClosed = append(copiedWhileClosed, s.TgtNext)
	}
	time.Sleep(4 * time.Second) // the outage's length, not synchronisation
	for i, s := range e.Status() {
		if s.TgtNext != copiedWhileClosed[i] {
			t.Errorf("partition %d: %d records acknowledged while the lease was lapsed", s.Partition, s.TgtNext-copiedWhileClosed[i])
		}
	}
	blocking.Store(false)
	t.Logf("lease lapsed for %s", time.Since(closed).Round(time.Millisecond))

	if err := <-done; err != nil {
		t.Fatalf("the copy did not survive the lapse: %v", err)
	}
	for _, want := range []string{"writer lease lapsed", "writer lease held again after"} {
		if len(ev.find(want)) != 1 {
			t.Errorf("want one event %q; events: %v", want, ev.find(""))
		}
	}
	if n := assertExactCopy(t, e, src, tgt, topic); n != 8000 {
		t.Errorf("the copy has %d records, want 8000", n)
	}
	for _, s := range e.Status() {
		if s.Error != "" {
			t.Errorf("partition %d stopped: %s", s.Partition, s.Error)
		}
	}
}
