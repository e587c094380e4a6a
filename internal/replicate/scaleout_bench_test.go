package replicate_test

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// BenchmarkScaleOut measures a shared migration on real Kafka
// (./tools/test ./internal/replicate/ -run '^$' -bench BenchmarkScaleOut
// -benchtime 1x). Each process is capped at scaleCap bytes per second, so
// that one alone cannot saturate the brokers:
//
//   - the same backlog copied by 1, 2 and 3 processes: MB/s for each count;
//   - under a live workload, the time until the assignments settle when a
//     third process joins two, and when one of the three is killed -9, and
//     until the target caught up again after the kill;
//   - a full comparison of source and target after each copy: records lost
//     or duplicated (must be 0).
func BenchmarkScaleOut(b *testing.B) {
	src, tgt := benchClusters(b)
	bin := kafkatest.KmigrateBinary(b)
	const parts, perPartition, size = 12, 5000, 1000
	const scaleCap = 2 << 20
	topic := kafkatest.UniqueName(b, "backlog")
	createTopic(b, src, topic, parts, nil)
	value := make([]byte, size)
	var recs []*kgo.Record
	for p := int32(0); p < parts; p++ {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "%d/%d", p, i), Value: value})
		}
	}
	prod := src.Client(b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	want := readAll(b, src, topic)
	bytes := float64(parts * perPartition * size)
	for _, n := range []int{1, 2, 3} {
		prefix := fmt.Sprintf("n%d-", n)
		migration := kafkatest.UniqueName(b, fmt.Sprintf("scale%d", n))
		cfgPath := writeConfig(b, migration, src, tgt, fmt.Sprintf(`replication:
  scale_out: true
  topic_prefix: %s
  max_bytes_per_second: %d
`, prefix, scaleCap), topic)
		began := time.Now()
		var runs []*exec.Cmd
		for range n {
			cmd, _ := startRun(b, bin, cfgPath)
			runs = append(runs, cmd)
		}
		waitCaughtUp(b, tgt, prefix+topic, want, 10*time.Minute)
		d := time.Since(began)
		stopAll(b, runs)
		assertSameRecords(b, want, readAll(b, tgt, prefix+topic))
		b.ReportMetric(bytes/d.Seconds()/1e6, fmt.Sprintf("MB/s-%dproc", n))
		b.Logf("%d processes: %d records (%.0f MB) in %s, %.2f MB/s (cap %.2f MB/s each)", n, parts*perPartition, bytes/1e6, d.Round(100*time.Millisecond), bytes/d.Seconds()/1e6, float64(scaleCap)/1e6)
	}

	// Rebalances under a live workload.
	live := kafkatest.UniqueName(b, "live")
	createTopic(b, src, live, parts, nil)
	migration := kafkatest.UniqueName(b, "rebalance")
	cfgPath := writeConfig(b, migration, src, tgt, "replication:\n  scale_out: true\n  checkpoint_interval: 500ms\n", live)
	stop := make(chan struct{})
	var load sync.WaitGroup
	load.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var recs []*kgo.Record
			for p := int32(0); p < parts; p++ {
				recs = append(recs, &kgo.Record{Topic: live, Partition: p, Value: fmt.Appendf(nil, "%d", i)})
			}
			if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Errorf("produce: %v", err)
				return
			}
			time.Sleep(10 * time.Millisecond) // the workload's pace
		}
	})
	cl := src.Client(b)
	a, _ := startRun(b, bin, cfgPath)
	c, _ := startRun(b, bin, cfgPath)
	waitAssigned(b, cl, migration, parts, time.Minute, a.Process.Pid, c.Process.Pid)
	d, _ := startRun(b, bin, cfgPath)
	join := waitAssigned(b, cl, migration, parts, time.Minute, a.Process.Pid, c.Process.Pid, d.Process.Pid)
	if err := a.Process.Kill(); err != nil {
		b.Fatal(err)
	}
	killed := time.Now()
	_ = a.Wait()
	kill := waitAssigned(b, cl, migration, parts, time.Minute, c.Process.Pid, d.Process.Pid)
	waitLagZero(b, src, tgt, live, time.Minute)
	resumed := time.Since(killed)
	close(stop)
	load.Wait()
	srcLive := readAll(b, src, live)
	waitCaughtUp(b, tgt, live, srcLive, time.Minute)
	stopAll(b, []*exec.Cmd{c, d})
	assertSameRecords(b, srcLive, readAll(b, tgt, live))
	b.ReportMetric(join.Seconds(), "s-join")
	b.ReportMetric(kill.Seconds(), "s-kill-reassigned")
	b.ReportMetric(resumed.Seconds(), "s-kill-caught-up")
	b.Logf("a third process joined two: assignments settled in %s; one of three killed -9: settled in %s, the target caught up with the live source %s after the kill",
		join.Round(100*time.Millisecond), kill.Round(100*time.Millisecond), resumed.Round(100*time.Millisecond))
}

func benchClusters(b *testing.B) (src, tgt *kafkatest.Cluster) {
	b.Helper()
	src = kafkatest.SharedT(b, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt = kafkatest.SharedT(b, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	return src, tgt
}

// waitCaughtUp waits until every partition of the target topic ends where
// want's records end.
func waitCaughtUp(t testing.TB, tgt *kafkatest.Cluster, topic string, want map[int32][]*kgo.Record, timeout time.Duration) {
	t.Helper()
	kafkatest.Eventually(t, timeout, func() error {
		for p, recs := range want {
			end := int64(0)
			if len(recs) > 0 {
				end = recs[len(recs)-1].Offset + 1
			}
			if got := endOffset(t, tgt, topic, p); got != end {
				return fmt.Errorf("target %s[%d] ends at %d, want %d", topic, p, got, end)
			}
		}
		return nil
	})
}

// waitLagZero waits until the target has, on every partition, at least what
// the source had when the wait began.
func waitLagZero(t testing.TB, src, tgt *kafkatest.Cluster, topic string, timeout time.Duration) {
	t.Helper()
	ends, err := src.Admin(t).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, timeout, func() error {
		var lag error
		ends.Each(func(o kadm.ListedOffset) {
			if got := endOffset(t, tgt, topic, o.Partition); got < o.Offset && lag == nil {
				lag = fmt.Errorf("target %s[%d] at %d, source was at %d", topic, o.Partition, got, o.Offset)
			}
		})
		return lag
	})
}

// stopAll stops runs with SIGTERM and waits for them to exit cleanly.
func stopAll(t testing.TB, runs []*exec.Cmd) {
	t.Helper()
	for _, r := range runs {
		_ = r.Process.Signal(syscall.SIGTERM)
	}
	for _, r := range runs {
		if err := r.Wait(); err != nil {
			t.Errorf("run (pid %d) exited with %v", r.Process.Pid, err)
		}
	}
}
