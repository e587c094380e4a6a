//go:build faults

package clouds_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestLossyLink runs a copy under sustained load across a link with 30 ms ± 5 ms
// of latency each way, a bandwidth cap and connections reset at random, then lifts
// the faults and measures the time to zero lag.
func TestLossyLink(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	l := startLoad(t, c, 4, 2000, 60000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 1000)
	for _, cloud := range []string{clouds.AWS, clouds.GCP} {
		for _, f := range [][]string{
			{"latency", cloud, "30ms", "5ms"},
			{"bandwidth", cloud, "4mbit"},
			{"resets", cloud, "0.3", "2s"},
		} {
			if err := c.Apply(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("faults: %v", c.Describe())
	kafkatest.Eventually(t, 2*time.Minute, func() error {
		r.alive(t)
		select {
		case <-l.producer.Done():
			return nil
		default:
			return fmt.Errorf("load still running: %d acked", l.producer.Acked())
		}
	})
	if err := caughtUp(c, l.topic); err == nil {
		t.Log("kmigrate kept up with the load under the faults")
	}
	for _, cloud := range []string{clouds.AWS, clouds.GCP} {
		if err := c.Clear(ctx, cloud); err != nil {
			t.Fatal(err)
		}
	}
	healed := time.Now()
	o := finish(t, c, r, l, healed, 2*time.Minute)
	disc := metricAtLeast(t, r, "kmigrate_kafka_disconnects_total", 1)
	t.Logf("recovered to zero lag %.1fs after the faults were lifted; %v disconnects seen by kmigrate; events:\n%s",
		o.recovered.Seconds(), disc, events(t, r))
	r.stop(t)
}

// TestLinkCut cuts the source's link for 30 s in the middle of a copy under load,
// heals it, then cuts the target's link for 45 s, longer than every timeout kmigrate
// has (request timeouts, the client's 30 s retry timeout, the writer lock's
// session), and heals it. kmigrate must ride both out without operator action.
func TestLinkCut(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	l := startLoad(t, c, 4, 1000, 100000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 2000)

	var recovered []string
	for _, cut := range []struct {
		cloud string
		for_  time.Duration
	}{{clouds.AWS, 30 * time.Second}, {clouds.GCP, 45 * time.Second}} {
		if err := c.Cut(ctx, cut.cloud); err != nil {
			t.Fatal(err)
		}
		cutAt := time.Now()
		// The cut is real: the cut cloud's brokers cannot be reached from here.
		cl, _ := c.Cluster(cut.cloud)
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := endOffsets(cctx, cl, l.topic)
		cancel()
		if err == nil {
			t.Fatalf("cloud %s answered across a cut link", cut.cloud)
		}
		kafkatest.Eventually(t, cut.for_+10*time.Second, func() error {
			if time.Since(cutAt) < cut.for_ {
				return fmt.Errorf("link %s cut for %s", cut.cloud, time.Since(cutAt).Round(time.Second))
			}
			return nil
		})
		r.alive(t)
		if err := c.Heal(ctx, cut.cloud); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		var before map[int32]int64
		// Recovery: the target catches up with a source that kept growing; measured
		// to the source's end as it stood at the heal.
		kafkatest.Eventually(t, 2*time.Minute, func() error {
			r.alive(t)
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if before == nil {
				var err error
				if before, err = endOffsets(cctx, c.Source, l.topic); err != nil {
					return err
				}
			}
			now, err := endOffsets(cctx, c.Target, l.topic)
			if err != nil {
				return err
			}
			for p, e := range before {
				if now[p] < e {
					return fmt.Errorf("%s[%d] at %d of %d", l.topic, p, now[p], e)
				}
			}
			return nil
		})
		took := time.Since(healed)
		recovered = append(recovered, fmt.Sprintf("%s cut %s: %.1fs", cut.cloud, cut.for_, took.Seconds()))
	}
	o := finish(t, c, r, l, time.Now(), 2*time.Minute)
	t.Logf("time to recover after each heal (to the source end at the heal): %s; final drain %.1fs; events:\n%s",
		strings.Join(recovered, ", "), o.recovered.Seconds(), events(t, r))
	r.stop(t)
}

// TestTargetBrokerKilled kills the target's broker, the leader of every busy
// partition there, with SIGKILL under load, and starts it again.
func TestTargetBrokerKilled(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	l := startLoad(t, c, 4, 2000, 60000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 5000)
	id := c.Target.Brokers()[0].ID
	if err := c.Target.KillBroker(id); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// Down for longer than a produce request's timeout.
	kafkatest.Eventually(t, time.Minute, func() error {
		if time.Since(down) < 15*time.Second {
			return fmt.Errorf("target broker %d down", id)
		}
		return nil
	})
	if err := c.Target.StartBroker(ctx, id); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	o := finish(t, c, r, l, back, 2*time.Minute)
	t.Logf("target broker down %.1fs; zero lag %.1fs after it was back; events:\n%s",
		back.Sub(down).Seconds(), o.recovered.Seconds(), events(t, r))
	r.stop(t)
}

// TestSourceBrokersKilledInTurn is the rolling failure a new user met: a 3+3
// source, each broker killed with SIGKILL and started again in turn under 3,000
// records/s. The broker that coordinates kmigrate's writer-lock group goes down
// with one of them; kmigrate used to exit with "lost the migration's
// single-writer lock ... UNKNOWN_MEMBER_ID" although no other instance existed.
func TestSourceBrokersKilledInTurn(t *testing.T) {
	c := ownClouds(t, "roll", kafkatest.Options{Topology: kafkatest.TopologySeed}, kafkatest.Options{})
	ctx := context.Background()
	l := startLoad(t, c, 6, 3000, 120000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 5000)
	var figures []string
	for _, b := range c.Source.Brokers() {
		if err := c.Source.KillBroker(b.ID); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// Down past the brokers' session timeout, so leaders and the coordinator
		// move.
		kafkatest.Eventually(t, time.Minute, func() error {
			r.alive(t)
			if time.Since(killed) < 12*time.Second {
				return fmt.Errorf("source broker %d down", b.ID)
			}
			return nil
		})
		if err := c.Source.StartBroker(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		r.alive(t)
		figures = append(figures, fmt.Sprintf("broker %d down %.1fs", b.ID, back.Sub(killed).Seconds()))
	}
	o := finish(t, c, r, l, time.Now(), 3*time.Minute)
	t.Logf("%s; zero lag %.1fs after the last restart; events:\n%s", strings.Join(figures, ", "), o.recovered.Seconds(), events(t, r))
	r.stop(t)
}

// TestPartitionsIncreased adds partitions to the source topic in the middle of a
// copy under load: kmigrate must create them on the target and copy them from
// their start, and the producer writes to them at once.
func TestPartitionsIncreased(t *testing.T) {
	c := sharedClouds(t)
	l := startLoad(t, c, 2, 2000, 40000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 2000)
	resp, err := c.Source.Admin(t).CreatePartitions(context.Background(), 2, l.topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	added := time.Now()
	kafkatest.Eventually(t, time.Minute, func() error {
		ends, err := endOffsets(context.Background(), c.Source, l.topic)
		if err == nil && len(ends) != 4 {
			err = fmt.Errorf("source lists %d partitions", len(ends))
		}
		return err
	})
	// A second producer, started after the increase, writes to all four (the
	// first keeps the partitions it knew); both are in the ledger.
	second, err := clouds.StartProducer(context.Background(), c.Source, l.topic, clouds.ProducerOptions{
		Rate: 1000, Max: 10000, ValuePrefix: "1", Props: []string{"metadata.max.age.ms=1000"}})
	if err != nil {
		t.Fatal(err)
	}
	l.more = append(l.more, second)
	o := finish(t, c, r, l, added, 2*time.Minute)
	for _, p := range []int32{2, 3} {
		got, err := endOffsets(context.Background(), c.Target, l.topic)
		if err != nil {
			t.Fatal(err)
		}
		if got[p] == 0 {
			t.Errorf("partition %d, added mid-copy, is empty on the target: the producer never wrote to it, or kmigrate never copied it", p)
		}
	}
	t.Logf("partitions 2 and 3 added mid-copy; all 4 exact; zero lag %.1fs after the increase; events:\n%s", o.recovered.Seconds(), events(t, r))
	r.stop(t)
}

// TestRetentionRacesTheCopy lets the source's retention delete records while a
// throttled kmigrate is still behind them, under load. The records deleted
// before they were copied are lost on the source itself; kmigrate must count
// exactly those as lost, copy every other acknowledged record exactly once and
// in order, and keep every partition running.
func TestRetentionRacesTheCopy(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	topic := kafkatest.UniqueName(t, "t")
	// A segment a second, kept for three: the log start moves every retention
	// check (5 s in the harness's brokers). Set as the source cluster's defaults,
	// not on the topic: kmigrate copies topic overrides, and the target would then
	// delete the copies as fast as the source deletes the originals.
	adm := c.Source.Admin(t)
	setDefaults := func(op kadm.IncrementalOp) {
		t.Helper()
		v1, v3 := "1000", "3000"
		resp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
			{Op: op, Name: "log.roll.ms", Value: &v1}, {Op: op, Name: "log.retention.ms", Value: &v3}})
		if err == nil {
			for _, r := range resp {
				err = errors.Join(err, r.Err)
			}
		}
		if err != nil {
			t.Fatalf("set the source's retention defaults: %v", err)
		}
	}
	setDefaults(kadm.SetConfig)
	t.Cleanup(func() { setDefaults(kadm.DeleteConfig) })
	kafkatest.CreateTopic(t, c.Source, topic, 2, nil)
	// The throttle counts key and value bytes, about 5 per record here: 1,000 B/s
	// copies about a tenth of what the producer writes, so retention overtakes
	// the copy. kmigrate starts first, so that it begins at offset 0.
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{topic}, "  max_bytes_per_second: 1000\n")
	kafkatest.Eventually(t, time.Minute, func() error {
		r.alive(t)
		s, err := r.status()
		if err == nil && s.Overview.Partitions != 2 {
			err = fmt.Errorf("%d partitions started", s.Overview.Partitions)
		}
		return err
	})
	p, err := clouds.StartProducer(ctx, c.Source, topic, clouds.ProducerOptions{Rate: 2000, Max: 40000})
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 4*time.Minute, func() error {
		r.alive(t)
		lost, err := r.metric("kmigrate_source_records_lost_total")
		if err != nil {
			return err
		}
		if lost == 0 {
			return fmt.Errorf("no record lost to retention yet")
		}
		return nil
	})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	acks, _, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	var st statusDoc
	kafkatest.Eventually(t, 3*time.Minute, func() error {
		r.alive(t)
		var err error
		if st, err = r.status(); err != nil {
			return err
		}
		if st.Phase != "following" || st.Overview.LagRecords != 0 {
			return fmt.Errorf("phase %s, lag %d", st.Phase, st.Overview.LagRecords)
		}
		return nil
	})
	tgt := kafkatest.ReadAll(t, c.Target, topic)
	cmp := clouds.Compare(acks, nil, tgt)
	// Records already gone when a partition's copy began are not lost by the copy:
	// the copy starts at the source's log start.
	var parts []struct {
		SrcBegin int64 `json:"src_begin"`
	}
	if err := json.Unmarshal([]byte(r.get("/api/partitions")), &parts); err != nil {
		t.Fatal(err)
	}
	var before int64
	for _, p := range parts {
		before += p.SrcBegin
	}
	lost, err := r.metric("kmigrate_source_records_lost_total")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acked %d, on the target %d, missing %d, kmigrate reports %d lost (status %d) and %d gone before it began, duplicated %d, reordered %d",
		cmp.Acked, cmp.Target, cmp.Missing, int64(lost), st.Overview.LostRecords, before, cmp.Duplicated, cmp.Reordered)
	switch {
	case cmp.Duplicated != 0 || cmp.Reordered != 0:
		t.Errorf("records duplicated or reordered: %s", cmp)
	case int64(cmp.Missing) != int64(lost)+before || st.Overview.LostRecords != int64(lost):
		t.Errorf("%d acknowledged records are missing on the target, kmigrate reports %v lost (status %d) and %d gone before it began", cmp.Missing, lost, st.Overview.LostRecords, before)
	case cmp.Missing == 0 || cmp.Target == 0:
		t.Errorf("retention did not race the copy (missing %d, copied %d): the test proves nothing", cmp.Missing, cmp.Target)
	case st.Overview.FailedPartitions != 0:
		t.Errorf("%d partitions stopped", st.Overview.FailedPartitions)
	}
	t.Logf("events:\n%s", events(t, r))
	r.stop(t)
}

// ownClouds starts an instance for one test (for topologies or faults that the
// shared one must not see) and stops it when the test ends.
func ownClouds(t *testing.T, name string, src, tgt kafkatest.Options) *clouds.Clouds {
	t.Helper()
	needJVM(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := clouds.Up(ctx, clouds.Options{
		Name: name + "-" + strconv.Itoa(os.Getpid()), Root: root(), Owner: os.Getpid(), Source: src, Target: tgt,
	})
	if err != nil {
		t.Fatalf("start the two clouds: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Down(ctx); err != nil {
			t.Errorf("stop the two clouds: %v", err)
		}
	})
	return c
}

// metric returns the sum of every series of a counter or gauge in /metrics.
func (r *run) metric(name string) (float64, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(r.http + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// events returns kmigrate's events as lines, oldest first.
func events(t *testing.T, r *run) string {
	t.Helper()
	s, err := r.status()
	if err != nil {
		return fmt.Sprintf("(no status: %v)", err)
	}
	var b strings.Builder
	for i := len(s.Events) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "  %s %s\n", s.Events[i].Level, s.Events[i].Message)
	}
	return b.String()
}

// metricAtLeast fails unless a metric of kmigrate reached min.
func metricAtLeast(t *testing.T, r *run, name string, min float64) float64 {
	t.Helper()
	v, err := r.metric(name)
	if err != nil {
		t.Fatal(err)
	}
	if v < min {
		t.Errorf("%s = %v, want at least %v: the fault is not visible in kmigrate's metrics", name, v, min)
	}
	return v
}
