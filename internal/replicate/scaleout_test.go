package replicate_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/status"
)

// TestScaleOutSurvivesKillPauseJoin runs a shared migration (replication.
// scale_out) with three `kmigrate run` processes over a live, growing
// workload on real Kafka. One is killed with SIGKILL, one is paused with
// SIGSTOP for longer than its session and resumed, a fourth joins. Through it
// all a sampler reads the migration's status, as `kmigrate status` does, and
// checks that no partition is ever assigned to two processes and that the
// assignments settle on every partition, balanced. At the end the target
// holds every source record once, in order, at the same offsets, and the
// consumer group committed on the source is translated exactly.
func TestScaleOutSurvivesKillPauseJoin(t *testing.T) {
	src, tgt := clusters(t)
	bin := kafkatest.KmigrateBinary(t)
	topic := kafkatest.UniqueName(t, "scale")
	const parts = 12
	createTopic(t, src, topic, parts, nil)
	migration := kafkatest.UniqueName(t, "scale")
	group := kafkatest.UniqueName(t, "app")
	cfgPath := writeConfig(t, migration, src, tgt, fmt.Sprintf(`groups:
  include: [%q]
group_sync:
  interval: 1s
replication:
  scale_out: true
  checkpoint_interval: 500ms
  discovery_interval: 2s
`, group), topic)

	// The workload: every partition grows all along.
	prod := src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	var acked sync.Map // "p/seq" -> true
	load.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			default:
			}
			var recs []*kgo.Record
			for p := int32(0); p < parts; p++ {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "%d/%d", p, i), Value: fmt.Appendf(nil, "record %d of partition %d", i, p)})
			}
			res := prod.ProduceSync(context.Background(), recs...)
			if err := res.FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			for _, r := range res {
				acked.Store(string(r.Record.Key), true)
			}
			time.Sleep(25 * time.Millisecond) // the workload's pace, not a synchronisation
		}
	})
	stopLoadOnce := sync.OnceFunc(func() { close(stopLoad); load.Wait() })
	defer stopLoadOnce()

	// The sampler: the migration's status, as any process or `kmigrate
	// status` reads it, checked all along.
	type sample struct {
		at   time.Time
		runs []status.Instance
	}
	var mu sync.Mutex
	var samples []sample
	var violations []string
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		cl := src.Client(t)
		for {
			select {
			case <-stopSampling:
				return
			default:
			}
			r := status.Writer(context.Background(), cl, migration)
			holder := map[string]int{}
			for _, in := range r.Instances {
				for _, p := range in.Partitions {
					if prev, ok := holder[p]; ok && prev != in.PID {
						mu.Lock()
						violations = append(violations, fmt.Sprintf("%s: %s assigned to pid %d and pid %d", time.Now().Format(time.RFC3339Nano), p, prev, in.PID))
						mu.Unlock()
					}
					holder[p] = in.PID
				}
			}
			mu.Lock()
			samples = append(samples, sample{time.Now(), r.Instances})
			mu.Unlock()
			time.Sleep(100 * time.Millisecond) // the sampling period
		}
	})
	defer func() { close(stopSampling); sampling.Wait() }()
	statusCl := src.Client(t)
	settled := func(step string, timeout time.Duration, pids ...int) time.Duration {
		t.Helper()
		d := waitAssigned(t, statusCl, migration, parts, timeout, pids...)
		t.Logf("%s: settled in %s", step, d.Round(100*time.Millisecond))
		return d
	}

	// The application's group on the source, committed as it goes.
	commit := func() {
		t.Helper()
		ends, err := src.Admin(t).ListEndOffsets(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		o := kadm.Offsets{}
		ends.Each(func(l kadm.ListedOffset) {
			o.Add(kadm.Offset{Topic: topic, Partition: l.Partition, At: l.Offset / 2, LeaderEpoch: -1})
		})
		resp, err := src.Admin(t).CommitOffsets(context.Background(), group, o)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %s: %v", group, err)
		}
	}

	var runs []*exec.Cmd
	var outs []*kafkatest.SyncBuffer
	start := func() int {
		cmd, out := startRun(t, bin, cfgPath)
		runs, outs = append(runs, cmd), append(outs, out)
		return cmd.Process.Pid
	}
	defer func() {
		if t.Failed() || os.Getenv("KMIGRATE_TEST_LOGS") != "" {
			for i, o := range outs {
				t.Logf("process %d (pid %d):\n%s", i+1, runs[i].Process.Pid, o.String())
			}
		}
	}()
	p1, p2, p3 := start(), start(), start()
	settled("three processes", 90*time.Second, p1, p2, p3)
	commit()

	if err := runs[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = runs[0].Wait()
	settled("process 1 killed -9", 60*time.Second, p2, p3)

	if err := runs[1].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	settled("process 2 paused past its session", 60*time.Second, p3)
	if err := runs[1].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	settled("process 2 resumed", 60*time.Second, p2, p3)

	p4 := start()
	settled("process 4 joined", 60*time.Second, p2, p3, p4)
	commit()

	stopLoadOnce()
	ends := map[int32]int64{}
	srcEnds, err := src.Admin(t).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	srcEnds.Each(func(l kadm.ListedOffset) { ends[l.Partition] = l.Offset })
	kafkatest.Eventually(t, 60*time.Second, func() error {
		for p, n := range ends {
			if got := endOffset(t, tgt, topic, p); got != n {
				return fmt.Errorf("target %s[%d] ends at %d, source at %d", topic, p, got, n)
			}
		}
		return nil
	})
	// The group's translation: the copy is exact from offset 0, so every
	// committed position maps to itself.
	want, err := src.Admin(t).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		got, err := tgt.Admin(t).FetchOffsets(context.Background(), group)
		if err != nil {
			return err
		}
		var bad []string
		want.Each(func(o kadm.OffsetResponse) {
			g, ok := got.Lookup(o.Topic, o.Partition)
			if !ok || g.At != o.At {
				bad = append(bad, fmt.Sprintf("%s[%d]: target %d, source %d", o.Topic, o.Partition, g.At, o.At))
			}
		})
		if len(bad) > 0 {
			return fmt.Errorf("group %s not translated exactly: %s", group, strings.Join(bad, "; "))
		}
		return nil
	})
	for _, i := range []int{1, 2, 3} {
		if err := runs[i].Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{1, 2, 3} {
		if err := runs[i].Wait(); err != nil {
			t.Errorf("process %d exited with %v", i+1, err)
		}
	}

	s, d := readAll(t, src, topic), readAll(t, tgt, topic)
	assertSameRecords(t, s, d)
	total := 0
	for p, recs := range s {
		total += len(recs)
		for i, r := range recs {
			if r.Offset != int64(i) || d[p][i].Offset != r.Offset {
				t.Fatalf("partition %d: record %d at source offset %d, target offset %d", p, i, r.Offset, d[p][i].Offset)
			}
			acked.Delete(string(r.Key))
		}
	}
	missing := 0
	acked.Range(func(k, _ any) bool { missing++; return true })
	if missing > 0 {
		t.Errorf("%d acknowledged records are not on the source", missing)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("%d records in %d partitions copied exactly; %d status samples, no partition ever assigned twice", total, parts, len(samples))
}

// waitAssigned waits until the live processes of a shared migration are
// exactly pids and share its parts partitions, balanced, as the writer group
// tells (what `kmigrate status` reads); it returns how long that took.
func waitAssigned(t testing.TB, cl *kgo.Client, migration string, parts int, timeout time.Duration, pids ...int) time.Duration {
	t.Helper()
	began := time.Now()
	kafkatest.Eventually(t, timeout, func() error {
		runs := status.Writer(context.Background(), cl, migration).Instances
		var got []int
		n := 0
		for _, in := range runs {
			got = append(got, in.PID)
			n += len(in.Partitions)
			if lo, hi := parts/len(pids), (parts+len(pids)-1)/len(pids); len(in.Partitions) < lo || len(in.Partitions) > hi {
				return fmt.Errorf("pid %d holds %d partitions, want %d to %d", in.PID, len(in.Partitions), lo, hi)
			}
		}
		sort.Ints(got)
		want := append([]int(nil), pids...)
		sort.Ints(want)
		if fmt.Sprint(got) != fmt.Sprint(want) || n != parts {
			return fmt.Errorf("processes %v hold %d of %d partitions, want processes %v", got, n, parts, want)
		}
		return nil
	})
	return time.Since(began)
}
