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
	l := startLoad(t, c, 4, 2000, 40000)
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
	l := startLoad(t, c, 4, 1000, 90000)
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
	l := startLoad(t, c, 4, 2000, 40000)
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

// TestBrokersFailOnBothSides runs a 3+3 source on Kafka 4.1 and a 3+3 target on
// Kafka 3.9 (the reverse of the usual managed 3.x to 4.x move) under 2,000
// records/s, and fails brokers on both sides in turn:
//   - each source broker killed with SIGKILL and started again: the leaders of
//     busy partitions move, and so does the coordinator of kmigrate's writer-lock
//     group (kmigrate used to exit with "lost the migration's single-writer lock
//     ... UNKNOWN_MEMBER_ID" although no other instance existed);
//   - the source's active controller killed and started again;
//   - a rolling restart of every target broker;
//   - the target broker leading a busy partition killed and started again.
//
// kmigrate must ride it all out without operator action.
func TestBrokersFailOnBothSides(t *testing.T) {
	c := ownClouds(t, "roll", kafkatest.Options{Topology: kafkatest.TopologySeed},
		kafkatest.Options{Topology: kafkatest.TopologySeed, Version: "3.9.1"})
	ctx := context.Background()
	l := startLoad(t, c, 6, 2000, 300000)
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 5000)
	var figures []string
	// down keeps a node of cl down for at least d, then starts it and waits until
	// kmigrate copies on.
	down := func(cl *kafkatest.Cluster, what string, id int32, kill func(int32) error, d time.Duration) {
		t.Helper()
		if err := kill(id); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		kafkatest.Eventually(t, d+30*time.Second, func() error {
			r.alive(t)
			if time.Since(at) < d {
				return fmt.Errorf("%s down", what)
			}
			return nil
		})
		if err := cl.StartNode(ctx, id); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		copying(t, c, r, l.topic)
		figures = append(figures, fmt.Sprintf("%s down %.1fs, copying %.1fs after its start", what, back.Sub(at).Seconds(), time.Since(back).Seconds()))
	}
	for _, b := range c.Source.Brokers() {
		// Down past the brokers' session timeout, so leaders and the coordinator move.
		down(c.Source, fmt.Sprintf("source broker %d", b.ID), b.ID, c.Source.KillNode, 12*time.Second)
	}
	var leader int32
	kafkatest.Eventually(t, time.Minute, func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		leader, err = c.Source.ActiveController(cctx)
		return err
	})
	down(c.Source, fmt.Sprintf("source active controller %d", leader), leader, c.Source.KillNode, 5*time.Second)
	for _, b := range c.Target.Brokers() {
		if err := c.Target.RestartNode(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		copying(t, c, r, l.topic)
		figures = append(figures, fmt.Sprintf("target broker %d restarted, copying %.1fs after", b.ID, time.Since(at).Seconds()))
	}
	busy := partitionLeader(t, c.Target, l.topic, 0)
	down(c.Target, fmt.Sprintf("target broker %d (leader of %s[0])", busy, l.topic), busy, c.Target.KillNode, 12*time.Second)
	o := finish(t, c, r, l, time.Now(), 3*time.Minute)
	t.Logf("%s; zero lag %.1fs after the last restart; events:\n%s", strings.Join(figures, "; "), o.recovered.Seconds(), events(t, r))
	r.stop(t)
}

// copying waits until kmigrate copies on: the target grows by some records, or
// holds everything the source does (the load may have ended).
func copying(t *testing.T, c *clouds.Clouds, r *run, topic string) {
	t.Helper()
	var from int64 = -1
	kafkatest.Eventually(t, 2*time.Minute, func() error {
		r.alive(t)
		sum, err := targetRecords(c, topic)
		if err != nil {
			return err
		}
		if from < 0 {
			from = sum
		}
		if sum < from+500 {
			if caughtUp(c, topic) == nil {
				return nil
			}
			return fmt.Errorf("the target holds %d records, %d more since waiting", sum, sum-from)
		}
		return nil
	})
}

// partitionLeader returns the broker leading topic[p] on cl.
func partitionLeader(t *testing.T, cl *kafkatest.Cluster, topic string, p int32) int32 {
	t.Helper()
	var leader int32
	kafkatest.Eventually(t, time.Minute, func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := cl.Admin(t).Metadata(cctx, topic)
		if err != nil {
			return err
		}
		pd, ok := md.Topics[topic].Partitions[p]
		if !ok || pd.Leader < 0 {
			return fmt.Errorf("%s[%d] has no leader", topic, p)
		}
		leader = pd.Leader
		return nil
	})
	return leader
}

// TestTopicChangedMidCopy adds partitions to the source topic in the middle of
// a copy under load, and then changes its cleanup.policy from delete to
// compact: kmigrate must create the new partitions on the target and copy them
// from their start (the producer writes to them at once), and carry the new
// policy to the target topic, with every record still copied exactly once.
func TestTopicChangedMidCopy(t *testing.T) {
	c := sharedClouds(t)
	ctx := context.Background()
	// Keyed, since a compacted topic refuses records without a key.
	l := startLoadWith(t, c, 2, clouds.ProducerOptions{Rate: 2000, Max: 40000, RepeatingKeys: 500})
	r := startRun(t, c, kafkatest.UniqueName(t, "m"), []string{l.topic}, "")
	waitCopying(t, c, r, l.topic, 2000)
	adm := c.Source.Admin(t)
	resp, err := adm.CreatePartitions(ctx, 2, l.topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	added := time.Now()
	kafkatest.Eventually(t, time.Minute, func() error {
		ends, err := endOffsets(ctx, c.Source, l.topic)
		if err == nil && len(ends) != 4 {
			err = fmt.Errorf("source lists %d partitions", len(ends))
		}
		return err
	})
	// A second producer, started after the increase, writes to all four (the
	// first keeps the partitions it knew); both are in the ledger.
	second, err := clouds.StartProducer(ctx, c.Source, l.topic, clouds.ProducerOptions{
		Rate: 1000, Max: 10000, ValuePrefix: "1", RepeatingKeys: 500, Props: []string{"metadata.max.age.ms=1000"}})
	if err != nil {
		t.Fatal(err)
	}
	l.more = append(l.more, second)
	copying(t, c, r, l.topic)
	compact := "compact"
	alt, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: &compact}}, l.topic)
	if err == nil {
		_, err = alt.On(l.topic, nil)
	}
	if err != nil {
		t.Fatalf("change cleanup.policy of %s: %v", l.topic, err)
	}
	changed := time.Now()
	var carried time.Duration
	kafkatest.Eventually(t, time.Minute, func() error {
		r.alive(t)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rc, err := c.Target.Admin(t).DescribeTopicConfigs(cctx, l.topic)
		if err != nil {
			return err
		}
		cfg, err := rc.On(l.topic, nil)
		if err != nil {
			return err
		}
		for _, kv := range cfg.Configs {
			if kv.Key == "cleanup.policy" {
				if kv.MaybeValue() != compact {
					return fmt.Errorf("target cleanup.policy %q", kv.MaybeValue())
				}
				carried = time.Since(changed)
				return nil
			}
		}
		return fmt.Errorf("target topic has no cleanup.policy")
	})
	o := finish(t, c, r, l, added, 2*time.Minute)
	got, err := endOffsets(ctx, c.Target, l.topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int32{2, 3} {
		if got[p] == 0 {
			t.Errorf("partition %d, added mid-copy, is empty on the target: the producer never wrote to it, or kmigrate never copied it", p)
		}
	}
	t.Logf("partitions 2 and 3 added mid-copy, all 4 exact; cleanup.policy compact on the target %.1fs after the change; zero lag %.1fs after the increase; events:\n%s",
		carried.Seconds(), o.recovered.Seconds(), events(t, r))
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
