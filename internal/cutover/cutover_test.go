package cutover_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/cutover"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

func clusters(t *testing.T) (src, tgt *kafkatest.Cluster) {
	t.Helper()
	src = kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt = kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	return src, tgt
}

// fixture is a live migration of one topic with one source group.
type fixture struct {
	src, tgt *kafkatest.Cluster
	cfg      *config.Config
	topic    string
	group    string
	stop     context.CancelFunc
	done     chan error
	engine   *replicate.Engine
}

const partitions = 2

// newFixture creates a topic with keyed records and a committed transaction on
// both partitions, a source group committed at 120 on partition 0 and 30 on
// partition 1, and starts copying it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	src, tgt := clusters(t)
	return newFixtureOn(t, src, tgt, nil)
}

// authOptions are the options of the clusters with an authorizer.
var authOptions = kafkatest.Options{Topology: kafkatest.TopologySingle, SASL: true, TLS: true, Authorizer: true}

// adminOf is the configuration that logs in to c as its super user admin.
func adminOf(c *kafkatest.Cluster) *config.Cluster {
	return &config.Cluster{BootstrapServers: c.SASLBootstrap,
		SASL: &config.SASL{Mechanism: config.MechanismScramSHA512, Username: "admin", Password: config.NewSecret(c.Users["admin"])}}
}

// newFixtureOn is newFixture between src and tgt; sourceCfg, when set,
// replaces the source's connection settings.
func newFixtureOn(t *testing.T, src, tgt *kafkatest.Cluster, sourceCfg *config.Cluster, targetCfg ...*config.Cluster) *fixture {
	t.Helper()
	f := &fixture{src: src, tgt: tgt, topic: kafkatest.UniqueName(t, "orders"), group: kafkatest.UniqueName(t, "billing")}
	kafkatest.CreateTopic(t, src, f.topic, partitions, nil)
	var recs []*kgo.Record
	for i := range 400 {
		recs = append(recs, &kgo.Record{Topic: f.topic, Partition: int32(i % partitions), Key: fmt.Appendf(nil, "k%d", i%37), Value: fmt.Appendf(nil, "v%d", i)})
	}
	kafkatest.Produce(t, f.srcClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	tx := f.srcClient(t, kgo.TransactionalID(kafkatest.UniqueName(t, "tx")), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kafkatest.ProduceTransactions(t, tx, 2, func(int) bool { return false }, func(i int) []*kgo.Record {
		return []*kgo.Record{{Topic: f.topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "tx%d", i)}}
	})
	f.commitSource(t, map[int32]int64{0: 120, 1: 30})
	f.cfg = kafkatest.MigrationConfig(t, src, tgt, f.topic)
	if sourceCfg != nil {
		sourceCfg.RequestTimeout = f.cfg.Source.RequestTimeout
		sourceCfg.ClientID = f.cfg.Source.ClientID
		f.cfg.Source = *sourceCfg
	}
	if len(targetCfg) > 0 {
		c := targetCfg[0]
		c.RequestTimeout, c.ClientID = f.cfg.Target.RequestTimeout, f.cfg.Target.ClientID
		f.cfg.Target = *c
	}
	f.cfg.Groups.Include = []string{"^" + f.group + "$"}
	if err := f.cfg.Groups.Compile(); err != nil {
		t.Fatal(err)
	}
	f.startRun(t)
	f.waitCopied(t)
	return f
}

// srcClient returns a source client with every right.
func (f *fixture) srcClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	if f.src.Options.Authorizer {
		return f.src.ClientAs(t, "admin", opts...)
	}
	return f.src.Client(t, opts...)
}

// joinSource makes a consumer a live member of the fixture's source group and
// returns it; it stays a member until closed.
func (f *fixture) joinSource(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	member := f.srcClient(t, append([]kgo.Opt{kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(f.topic), kgo.DisableAutoCommit()}, opts...)...)
	kafkatest.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		member.PollFetches(ctx)
		d, err := f.src.Admin(t).DescribeGroups(context.Background(), f.group)
		if err == nil && len(d[f.group].Members) != 1 {
			err = fmt.Errorf("group has %d members", len(d[f.group].Members))
		}
		return err
	})
	return member
}

func (f *fixture) commitSource(t *testing.T, at map[int32]int64) {
	t.Helper()
	o := kadm.Offsets{}
	for p, off := range at {
		o.Add(kadm.Offset{Topic: f.topic, Partition: p, At: off, LeaderEpoch: -1})
	}
	if err := f.src.Admin(t).CommitAllOffsets(context.Background(), f.group, o); err != nil {
		t.Fatal(err)
	}
}

// startRun starts the copy in this process, as `kmigrate run` would.
func (f *fixture) startRun(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.engine = replicate.New(f.cfg, nil, &kafka.Builder{}, replicate.NewMetrics(prometheus.NewRegistry()))
	f.stop, f.done = cancel, make(chan error, 1)
	e := f.engine
	go func() { f.done <- e.Run(ctx, replicate.Options{}) }()
	t.Cleanup(func() { f.stopRun(t) })
	select {
	case <-e.Ready():
	case err := <-f.done:
		f.done <- err
		t.Fatalf("run did not start: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("run not ready after 90 s")
	}
}

func (f *fixture) stopRun(t *testing.T) {
	if f.stop == nil {
		return
	}
	f.stop()
	select {
	case <-f.done:
	case <-time.After(60 * time.Second):
		t.Error("run did not stop within 60 s")
	}
	f.stop = nil
}

// waitCopied waits until the run copied everything the source holds.
func (f *fixture) waitCopied(t *testing.T) {
	t.Helper()
	kafkatest.Eventually(t, 60*time.Second, func() error {
		ends, err := f.src.Admin(t).ListEndOffsets(context.Background(), f.topic)
		if err != nil {
			return err
		}
		for _, s := range f.engine.Status() {
			if e, _ := ends.Lookup(f.topic, s.Partition); s.SrcNext < e.Offset {
				return fmt.Errorf("partition %d copied to %d of %d", s.Partition, s.SrcNext, e.Offset)
			}
		}
		return nil
	})
}

func (f *fixture) options(out *bytes.Buffer) cutover.Options {
	return cutover.Options{QuietPeriod: time.Second, FreezeTimeout: 20 * time.Second, DrainTimeout: 30 * time.Second,
		ConsumersTimeout: 10 * time.Second, SealTimeout: 30 * time.Second, Poll: 200 * time.Millisecond, Out: out}
}

func (f *fixture) cutover(t *testing.T, opts cutover.Options) (*cutover.Record, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return cutover.Run(ctx, f.cfg, &kafka.Builder{}, nil, opts)
}

func stepOf(t *testing.T, r *cutover.Record, name string) *cutover.Step {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s in %+v", name, r.Steps)
	return nil
}

func (f *fixture) sealed(t *testing.T) *replicate.Seal {
	t.Helper()
	s, err := replicate.ReadSeal(context.Background(), f.tgt.Admin(t), f.cfg.Migration, state.TopicName(f.cfg.Migration))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertUntouched checks what a NO-GO must leave: the copy running, unsealed.
func (f *fixture) assertUntouched(t *testing.T, rec *cutover.Record) {
	t.Helper()
	if rec.Phase != cutover.PhaseNoGo || rec.Decision != cutover.NOGO {
		t.Errorf("record phase %s decision %s, want no-go NO-GO", rec.Phase, rec.Decision)
	}
	if s := f.sealed(t); s != nil {
		t.Errorf("a NO-GO left the migration sealed by %v", s)
	}
	select {
	case err := <-f.done:
		f.done <- err
		t.Errorf("a NO-GO stopped the run: %v", err)
	default:
	}
	if f.engine.Sealed() != nil {
		t.Error("the run saw a seal during a NO-GO")
	}
}

// assertResumes checks that a consumer of the fixture's group on the target
// starts, on each partition, at the copy of the first source record at or after
// the source position the group had committed.
func (f *fixture) assertResumes(t *testing.T, at map[int32]int64) {
	t.Helper()
	srcRecs := kafkatest.ReadAll(t, f.src, f.topic)
	cons := f.tgt.Client(t, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(f.topic), kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	first := map[int32]*kgo.Record{}
	kafkatest.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if first[r.Partition] == nil {
				first[r.Partition] = r
			}
		})
		if len(first) < len(at) {
			return fmt.Errorf("first records of %d partitions read", len(first))
		}
		return nil
	})
	for p, c := range at {
		var want *kgo.Record
		for _, r := range srcRecs[p] {
			if r.Offset >= c {
				want = r
				break
			}
		}
		if got := first[p]; !bytes.Equal(got.Value, want.Value) || !bytes.Equal(got.Key, want.Key) {
			t.Errorf("partition %d: the target consumer resumed at %q, want %q (source offset %d)", p, got.Value, want.Value, want.Offset)
		}
	}
}

// TestCutoverAcrossVersions cuts over from Kafka 3.9 to 4.1, as a move from a
// managed 3.x cluster to a newer one looks, and from 4.1 to 3.9: GO, and the
// group resumes on the target at the next record, transactions included.
func TestCutoverAcrossVersions(t *testing.T) {
	src, tgt := clusters(t)
	old := kafkatest.StartT(t, kafkatest.UniqueName(t, "k39"), kafkatest.Options{Topology: kafkatest.TopologySingle, Version: "3.9.1"})
	for _, tc := range []struct {
		name     string
		src, tgt *kafkatest.Cluster
	}{{"3.9-to-4.1", old, tgt}, {"4.1-to-3.9", src, old}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureOn(t, tc.src, tc.tgt, nil)
			var out bytes.Buffer
			rec, err := f.cutover(t, f.options(&out))
			if err != nil || rec.Decision != cutover.GO {
				t.Fatalf("cutover %s: %v\n%s", tc.name, err, out.String())
			}
			if len(rec.Topics) != 1 || rec.Topics[0].Records != 402 {
				t.Errorf("figures %+v, want 402 records", rec.Topics)
			}
			f.assertResumes(t, map[int32]int64{0: 120, 1: 30})
		})
	}
}

// TestCutoverGo: a healthy, quiet migration is cut over: every step passes,
// the run stops on the seal after a clean flush, the source group is
// translated to the target exactly (a consumer resumes at the record after the
// one it had read), the report has the figures, a new run refuses the sealed
// migration, and once producers write to the target an abort is refused.
func TestCutoverGo(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	rec, err := f.cutover(t, f.options(&out))
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, out.String())
	}
	if rec.Decision != cutover.GO || rec.Phase != cutover.PhaseGo || !rec.Sealed {
		t.Fatalf("decision %s phase %s sealed %t, want GO go sealed\n%s", rec.Decision, rec.Phase, rec.Sealed, out.String())
	}
	for _, name := range cutover.Steps {
		if s := stepOf(t, rec, name); s.Result != cutover.ResultPassed {
			t.Errorf("step %s: %s (%s)", name, s.Result, s.Summary)
		}
	}
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("the sealed run returned %v, want a clean stop", err)
		}
		f.stop = nil
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop after the seal")
	}
	if f.engine.Sealed() == nil {
		t.Error("the run does not know it was sealed")
	}
	ends, err := f.src.Admin(t).ListEndOffsets(context.Background(), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for p := range int32(partitions) {
		e, _ := ends.Lookup(f.topic, p)
		if got := rec.Frozen[f.topic][p]; got != e.Offset {
			t.Errorf("frozen offset of partition %d is %d, source end %d", p, got, e.Offset)
		}
		total += rec.TargetEnds[f.topic][p]
	}
	if len(rec.Topics) != 1 || rec.Topics[0].Records != 400+2 || total != 402 {
		t.Errorf("figures %+v, target ends sum %d; want 402 records copied", rec.Topics, total)
	}
	if g := rec.Groups; g == nil || g.Groups != 1 || g.Partitions != 2 || g.Statuses["in-sync"] != 2 {
		t.Errorf("group figures %+v, want one group with 2 partitions in sync", rec.Groups)
	}
	if v := rec.Verify; v == nil || v.Result != "PASS" {
		t.Errorf("verify figures %+v, want PASS", rec.Verify)
	}

	// A consumer of the group on the target resumes exactly after what it read.
	f.assertResumes(t, map[int32]int64{0: 120, 1: 30})

	// A new run of the sealed migration refuses.
	e := replicate.New(f.cfg, nil, &kafka.Builder{}, replicate.NewMetrics(prometheus.NewRegistry()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Run(ctx, replicate.Options{UntilCaughtUp: true}); !errors.Is(err, replicate.ErrSealed) || !strings.Contains(err.Error(), rec.ID) {
		t.Errorf("a run of the sealed migration returned %v, want ErrSealed naming cutover %s", err, rec.ID)
	}

	// A re-run of the cutover reports the GO again and changes nothing.
	again, err := f.cutover(t, f.options(&out))
	if err != nil || again.ID != rec.ID {
		t.Errorf("re-run after GO: %v, id %s (want %s)", err, again.ID, rec.ID)
	}

	// Producers moved to the target: abort must refuse now.
	kafkatest.Produce(t, f.tgt.Client(t), &kgo.Record{Topic: f.topic, Value: []byte("after the switch")})
	if _, err := cutover.Abort(context.Background(), f.cfg, &kafka.Builder{}, nil, cutover.Options{}); err == nil || !strings.Contains(err.Error(), "run --reverse") {
		t.Errorf("abort after producers wrote to the target: %v, want a refusal pointing at run --reverse", err)
	}
}

// TestCutoverNoGoProducerKeepsWriting: a producer that never stops makes the
// freeze NO-GO, naming the partition and the producer id, and leaves the copy
// running and unsealed.
func TestCutoverNoGoProducerKeepsWriting(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := f.src.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			_ = writer.ProduceSync(ctx, &kgo.Record{Topic: f.topic, Partition: 1, Value: fmt.Appendf(nil, "late%d", i)}).FirstErr()
			time.Sleep(100 * time.Millisecond) // the workload's pace, not synchronisation
		}
	}()
	var out bytes.Buffer
	opts := f.options(&out)
	opts.FreezeTimeout = 4 * time.Second
	rec, err := f.cutover(t, opts)
	if !errors.Is(err, cutover.ErrNoGo) {
		t.Fatalf("cutover with a live producer: %v, want NO-GO\n%s", err, out.String())
	}
	s := stepOf(t, rec, cutover.StepFreeze)
	details := strings.Join(s.Details, "\n")
	if s.Result != cutover.ResultFailed || !strings.Contains(details, f.topic+"[1] still moving") || !strings.Contains(details, "producer id") {
		t.Errorf("freeze %s: %s\n%s; want partition 1 named as moving with its producer id", s.Result, s.Summary, details)
	}
	if strings.Contains(details, f.topic+"[0] still moving") {
		t.Errorf("partition 0 is quiet but reported moving:\n%s", details)
	}
	f.assertUntouched(t, rec)
}

// TestCutoverNoGoActiveConsumer: a consumer still in the source group makes
// the consumers step NO-GO with its member id, client id and host.
func TestCutoverNoGoActiveConsumer(t *testing.T) {
	f := newFixture(t)
	f.joinSource(t, kgo.ClientID("still-here"))
	var out bytes.Buffer
	opts := f.options(&out)
	opts.ConsumersTimeout = 2 * time.Second
	rec, err := f.cutover(t, opts)
	if !errors.Is(err, cutover.ErrNoGo) {
		t.Fatalf("cutover with a live consumer: %v, want NO-GO\n%s", err, out.String())
	}
	s := stepOf(t, rec, cutover.StepConsumers)
	details := strings.Join(s.Details, "\n")
	if s.Result != cutover.ResultFailed || !strings.Contains(details, "group "+f.group) || !strings.Contains(details, "client id still-here") {
		t.Errorf("consumers %s: %s\n%s; want the member named with its client id", s.Result, s.Summary, details)
	}
	f.assertUntouched(t, rec)
}

// TestCutoverNoGoPreflight: without a live run, and with lag over the
// threshold, preflight is NO-GO and says both.
func TestCutoverNoGoPreflight(t *testing.T) {
	f := newFixture(t)
	f.stopRun(t)
	var recs []*kgo.Record
	for i := range 300 {
		recs = append(recs, &kgo.Record{Topic: f.topic, Value: fmt.Appendf(nil, "more%d", i)})
	}
	kafkatest.Produce(t, f.src.Client(t), recs...)
	var out bytes.Buffer
	opts := f.options(&out)
	opts.MaxLag = 100
	rec, err := f.cutover(t, opts)
	if !errors.Is(err, cutover.ErrNoGo) {
		t.Fatalf("cutover without a run: %v, want NO-GO\n%s", err, out.String())
	}
	s := stepOf(t, rec, cutover.StepPreflight)
	details := strings.Join(s.Details, "\n")
	for _, want := range []string{"no `kmigrate run` of this migration is alive", "lag is 300 records, over the threshold of 100"} {
		if !strings.Contains(details, want) {
			t.Errorf("preflight details lack %q:\n%s", want, details)
		}
	}
	if rec.Phase != cutover.PhaseNoGo || f.sealed(t) != nil {
		t.Errorf("phase %s, seal %v: want no-go and unsealed", rec.Phase, f.sealed(t))
	}
}

// hookWriter runs a function, synchronously, when a progress line containing
// a fragment is written: the step it announces starts only after it returned.
type hookWriter struct {
	bytes.Buffer
	fragment string
	hook     func()
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if h.hook != nil && bytes.Contains(p, []byte(h.fragment)) {
		h.hook()
		h.hook = nil
	}
	return h.Buffer.Write(p)
}

// TestCutoverNoGoVerifyMismatch: a target group moved after the final
// translation (a consumer started on the target too early) fails the final
// verification: NO-GO, nothing sealed, the copy still running. The same
// mismatch present from the start is caught by preflight's sample verification.
func TestCutoverNoGoVerifyMismatch(t *testing.T) {
	f := newFixture(t)
	ahead := func() {
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: f.topic, Partition: 0, At: 190, LeaderEpoch: -1})
		if err := f.tgt.Admin(t).CommitAllOffsets(context.Background(), f.group, o); err != nil {
			t.Error(err)
		}
	}
	out := &hookWriter{fragment: "[6/8] verify ...", hook: ahead}
	opts := f.options(nil)
	opts.Out = out
	rec, err := f.cutover(t, opts)
	if !errors.Is(err, cutover.ErrNoGo) {
		t.Fatalf("cutover with a target group moved: %v, want NO-GO\n%s", err, out.String())
	}
	if s := stepOf(t, rec, cutover.StepGroups); s.Result != cutover.ResultPassed {
		t.Errorf("groups step %s: %s; want passed before the group moved", s.Result, s.Summary)
	}
	s := stepOf(t, rec, cutover.StepVerify)
	if s.Result != cutover.ResultFailed || !strings.Contains(strings.Join(s.Details, "\n"), f.group) {
		t.Errorf("verify %s: %s\n%s; want a failed groups check naming %s", s.Result, s.Summary, strings.Join(s.Details, "\n"), f.group)
	}
	f.assertUntouched(t, rec)

	// The same mismatch before the cutover starts: preflight refuses.
	var buf bytes.Buffer
	rec, err = f.cutover(t, f.options(&buf))
	if !errors.Is(err, cutover.ErrNoGo) {
		t.Fatalf("second cutover: %v, want NO-GO\n%s", err, buf.String())
	}
	if s := stepOf(t, rec, cutover.StepPreflight); s.Result != cutover.ResultFailed || !strings.Contains(strings.Join(s.Details, "\n"), "groups check failed") {
		t.Errorf("preflight %s: %s\n%s; want the sample verification's groups check named", s.Result, s.Summary, strings.Join(s.Details, "\n"))
	}
}

// configFile writes the fixture's configuration for the kmigrate binary.
func (f *fixture) configFile(t *testing.T) string {
	t.Helper()
	body := fmt.Sprintf(`migration: %s
source:
  bootstrap_servers: [%s]
target:
  bootstrap_servers: [%s]
topics:
  include: [%q]
groups:
  include: [%q]
http:
  listen: "off"
`, f.cfg.Migration, strings.Join(f.src.Bootstrap, ","), strings.Join(f.tgt.Bootstrap, ","), f.cfg.Topics.Include[0], f.cfg.Groups.Include[0])
	path := filepath.Join(t.TempDir(), "kmigrate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCutoverKilledResumes kills `kmigrate cutover` with SIGKILL while a step
// waits, then runs it again: the re-run resumes the same cutover where it
// stopped (the steps before are not run again) and ends GO.
func TestCutoverKilledResumes(t *testing.T) {
	bin := kafkatest.KmigrateBinary(t)
	for _, tc := range []struct {
		step  string
		args  []string
		setup func(t *testing.T, f *fixture) (release func())
	}{
		{step: "[2/8] freeze ...", args: []string{"--quiet-period", "60s"}},
		{step: "[4/8] consumers ...", setup: func(t *testing.T, f *fixture) func() {
			member := f.joinSource(t)
			return member.Close
		}},
		{step: "[3/8] drain ...", args: []string{"--max-lag", "10000000"}, setup: func(t *testing.T, f *fixture) func() {
			// A slow copy of a fresh backlog: the producers stopped, the
			// drain waits for the copy.
			f.stopRun(t)
			f.cfg.Replication.MaxBytesPerSecond = 200_000
			value := bytes.Repeat([]byte("d"), 1000)
			var recs []*kgo.Record
			for i := range 4000 {
				recs = append(recs, &kgo.Record{Topic: f.topic, Value: value, Key: fmt.Appendf(nil, "d%d", i)})
			}
			kafkatest.Produce(t, f.srcClient(t), recs...)
			f.startRun(t)
			return func() {}
		}},
		{step: "[7/8] seal ..."},
	} {
		t.Run(strings.Fields(tc.step)[1], func(t *testing.T) {
			f := newFixture(t)
			cfgPath := f.configFile(t)
			release := func() {}
			if tc.setup != nil {
				release = tc.setup(t, f)
			}
			args := append([]string{"cutover", "-c", cfgPath, "--yes", "--quiet-period", "1s", "--consumers-timeout", "2m"}, tc.args...)
			first := exec.Command(bin, args...)
			var out kafkatest.SyncBuffer
			first.Stdout, first.Stderr = &out, &out
			if err := first.Start(); err != nil {
				t.Fatal(err)
			}
			kafkatest.Eventually(t, 90*time.Second, func() error {
				if !strings.Contains(out.String(), tc.step) {
					return fmt.Errorf("cutover has not reached %q:\n%s", tc.step, out.String())
				}
				return nil
			})
			if err := first.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = first.Wait()
			release()

			second := exec.Command(bin, "cutover", "-c", cfgPath, "--yes", "--quiet-period", "1s", "--report", filepath.Join(t.TempDir(), "report.json"))
			got, err := second.CombinedOutput()
			if err != nil {
				t.Fatalf("re-run after kill -9 at %q: %v\nfirst:\n%s\nsecond:\n%s", tc.step, err, out.String(), got)
			}
			text := string(got)
			if !strings.Contains(text, "resuming cutover") || !strings.Contains(text, "[1/8] preflight: passed before") || !strings.Contains(text, ": GO") {
				t.Errorf("the re-run did not resume and finish GO:\n%s", text)
			}
			select {
			case err := <-f.done:
				if err != nil {
					t.Errorf("the run returned %v after the seal", err)
				}
				f.stop = nil
			case <-time.After(30 * time.Second):
				t.Error("the run did not stop after the seal")
			}
		})
	}
}

// TestCutoverFenceSource: with --fence-source the freeze denies writes to the
// selected source topic for every principal that may write it but kmigrate's
// (here alice, granted WRITE by an ACL; kmigrate reads as the super user
// admin). A NO-GO removes the DENY again; a GO keeps it, and an abort before
// any application wrote to the target removes it and lifts the seal.
func TestCutoverFenceSource(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Auth, authOptions)
	_, tgt := clusters(t)
	srcCfg := &config.Cluster{BootstrapServers: src.SASLBootstrap,
		SASL: &config.SASL{Mechanism: config.MechanismScramSHA512, Username: "admin", Password: config.NewSecret(src.Users["admin"])}}
	f := newFixtureOn(t, src, tgt, srcCfg)
	if errs := acls.Create(t.Context(), src.ClientAs(t, "admin"), []acls.ACL{
		{Principal: "User:alice", Host: "*", ResourceType: acls.Topic, ResourceName: f.topic, PatternType: acls.Literal, Operation: acls.OpWrite, Permission: acls.Allow},
	}); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	alice := src.ClientAs(t, "alice", kgo.DisableIdempotentWrite(), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(10*time.Second))
	aliceWrites := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return alice.ProduceSync(ctx, &kgo.Record{Topic: f.topic, Value: []byte("alice")}).FirstErr()
	}
	var err error
	kafkatest.Eventually(t, 30*time.Second, func() error { return aliceWrites() })
	f.waitCopied(t)

	// NO-GO (a consumer stays): alice is fenced during the consumers step,
	// and free again afterwards.
	member := f.joinSource(t)
	var fencedErr error
	out := &hookWriter{fragment: "[4/8] consumers ...", hook: func() { fencedErr = aliceWrites() }}
	opts := f.options(nil)
	opts.Out, opts.FenceSource, opts.ConsumersTimeout = out, true, 2*time.Second
	rec, err := f.cutover(t, opts)
	if !errors.Is(err, cutover.ErrNoGo) {
		t.Fatalf("cutover with a live consumer: %v, want NO-GO\n%s", err, out.String())
	}
	if !errors.Is(fencedErr, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice wrote during the freeze: %v, want TOPIC_AUTHORIZATION_FAILED", fencedErr)
	}
	if len(rec.SourceFence) != 0 {
		t.Errorf("the NO-GO kept source ACLs %v", rec.SourceFence)
	}
	if err := aliceWrites(); err != nil {
		t.Errorf("alice cannot write after the NO-GO removed the fence: %v", err)
	}
	member.Close()
	f.waitCopied(t)

	// GO: alice stays fenced; kmigrate's own principal was never denied.
	var buf bytes.Buffer
	opts = f.options(&buf)
	opts.FenceSource = true
	rec, err = f.cutover(t, opts)
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, buf.String())
	}
	if len(rec.SourceFence) != 1 || rec.SourceFence[0].Principal != "User:alice" || rec.SourceFence[0].Permission != acls.Deny {
		t.Errorf("source fence %v, want one DENY for User:alice", rec.SourceFence)
	}
	if err := aliceWrites(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice writes after the GO: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// Abort before anyone wrote to the target: fence removed, seal lifted.
	rec, err = cutover.Abort(context.Background(), f.cfg, &kafka.Builder{}, nil, cutover.Options{})
	if err != nil {
		t.Fatalf("abort: %v", err)
	}
	if rec.Phase != cutover.PhaseAborted || len(rec.SourceFence) != 0 || f.sealed(t) != nil {
		t.Errorf("after abort: phase %s, fence %v, seal %v", rec.Phase, rec.SourceFence, f.sealed(t))
	}
	if err := aliceWrites(); err != nil {
		t.Errorf("alice cannot write after the abort: %v", err)
	}
}

// TestRollbackRoundTrip: after a GO, applications write to the target and a
// target consumer group moves; `kmigrate run --reverse` copies the new records
// back onto the source partitions right after the frozen offsets, and
// translates the group back: a position before the switch through the forward
// map, one after it through the reverse map. Then the way back is cut over
// like the way there: `cutover --reverse` drains the live reverse copy, checks
// the groups and verifies with the same translation, and seals it.
func TestRollbackRoundTrip(t *testing.T) {
	f := newFixture(t)
	bin := kafkatest.KmigrateBinary(t)
	var out bytes.Buffer
	rec, err := f.cutover(t, f.options(&out))
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, out.String())
	}
	f.stopRun(t)

	// The applications' new records on the target.
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, &kgo.Record{Topic: f.topic, Partition: int32(i % partitions), Key: fmt.Appendf(nil, "new%d", i), Value: fmt.Appendf(nil, "after the switch %d", i)})
	}
	kafkatest.Produce(t, f.tgt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	sw := rec.TargetEnds[f.topic]
	// On the target, partition 0's consumer had not reached the switch yet,
	// partition 1's read 5 of the new records.
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: f.topic, Partition: 0, At: sw[0] - 10, LeaderEpoch: -1})
	o.Add(kadm.Offset{Topic: f.topic, Partition: 1, At: sw[1] + 5, LeaderEpoch: -1})
	if err := f.tgt.Admin(t).CommitAllOffsets(context.Background(), f.group, o); err != nil {
		t.Fatal(err)
	}

	cfgPath := f.configFile(t)
	if got, err := exec.Command(bin, "run", "--reverse", "-c", cfgPath, "--until-caught-up").CombinedOutput(); err != nil {
		t.Fatalf("run --reverse --until-caught-up: %v\n%s", err, got)
	}
	// Going back: the reverse copy runs on, and the reverse cutover drains it,
	// translates the groups one last time and seals it.
	live := exec.Command(bin, "run", "--reverse", "-c", cfgPath)
	var liveOut kafkatest.SyncBuffer
	live.Stdout, live.Stderr = &liveOut, &liveOut
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	liveDone := make(chan error, 1)
	go func() { liveDone <- live.Wait() }()
	defer func() {
		select {
		case <-liveDone:
		default:
			_ = live.Process.Kill()
			<-liveDone
		}
	}()
	// The operator cuts back once the reverse run is up: it holds the reverse
	// migration's writer lock on the target, the reverse copy's source.
	kafkatest.Eventually(t, time.Minute, func() error {
		ws, err := replicate.LiveWriters(context.Background(), f.tgt.Client(t), f.cfg.Migration+cutover.ReverseSuffix)
		if err == nil && len(ws) != 1 {
			err = fmt.Errorf("%d live reverse runs", len(ws))
		}
		return err
	})
	back, err := exec.Command(bin, "cutover", "--reverse", "-c", cfgPath, "--yes", "--quiet-period", "1s").CombinedOutput()
	if err != nil || !strings.Contains(string(back), ": GO") {
		t.Fatalf("cutover --reverse: %v\n%s\nreverse run:\n%s", err, back, liveOut.String())
	}
	select {
	case err := <-liveDone:
		if err != nil {
			t.Errorf("the reverse run exited with %v after the reverse cutover sealed it:\n%s", err, liveOut.String())
		}
		liveDone <- err
	case <-time.After(30 * time.Second):
		t.Errorf("the reverse run did not stop after the reverse cutover:\n%s", liveOut.String())
	}

	srcRecs, tgtRecs := kafkatest.ReadAll(t, f.src, f.topic), kafkatest.ReadAll(t, f.tgt, f.topic)
	frozen := rec.Frozen[f.topic]
	for p := range int32(partitions) {
		var back []*kgo.Record
		for _, r := range srcRecs[p] {
			if r.Offset >= frozen[p] {
				back = append(back, r)
			}
		}
		var added []*kgo.Record
		for _, r := range tgtRecs[p] {
			if r.Offset >= sw[p] {
				added = append(added, r)
			}
		}
		if len(back) != 25 || len(added) != 25 {
			t.Fatalf("partition %d: %d records copied back, %d written to the target after the switch; want 25 and 25", p, len(back), len(added))
		}
		for i := range back {
			if back[i].Offset != frozen[p]+int64(i) || !bytes.Equal(back[i].Value, added[i].Value) || !bytes.Equal(back[i].Key, added[i].Key) {
				t.Errorf("partition %d: source offset %d holds %q, want %q at offset %d", p, back[i].Offset, back[i].Value, added[i].Value, frozen[p]+int64(i))
			}
		}
	}

	committed, err := f.src.Admin(t).FetchOffsets(context.Background(), f.group)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 0: the source record the consumer resumes at is the one the
	// target consumer would have read next.
	var wantP0 *kgo.Record
	for _, r := range tgtRecs[0] {
		if r.Offset == sw[0]-10 {
			wantP0 = r
		}
	}
	c0, _ := committed.Lookup(f.topic, 0)
	var gotP0 *kgo.Record
	for _, r := range srcRecs[0] {
		if r.Offset >= c0.At {
			gotP0 = r
			break
		}
	}
	if gotP0 == nil || !bytes.Equal(gotP0.Value, wantP0.Value) {
		t.Errorf("source group on partition 0 at %d resumes at %v, want the record %q", c0.At, gotP0, wantP0.Value)
	}
	if c1, _ := committed.Lookup(f.topic, 1); c1.At != frozen[1]+5 {
		t.Errorf("source group on partition 1 at %d, want %d (the frozen end plus the 5 records read on the target)", c1.At, frozen[1]+5)
	}
}

// TestCutoverDryRun runs every check and changes nothing: the decision is GO,
// the seal step is skipped, the run keeps copying, no group is committed on
// the target and no cutover is recorded.
func TestCutoverDryRun(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	opts := f.options(&out)
	opts.DryRun = true
	rec, err := f.cutover(t, opts)
	if err != nil || rec.Decision != cutover.GO || !rec.DryRun {
		t.Fatalf("dry run: %v, decision %s, dry run %t\n%s", err, rec.Decision, rec.DryRun, out.String())
	}
	if s := stepOf(t, rec, cutover.StepSeal); s.Result != cutover.ResultSkipped {
		t.Errorf("seal step %s in a dry run", s.Result)
	}
	if g := rec.Groups; g == nil || g.Committed != 0 || g.Partitions != 2 {
		t.Errorf("dry run group figures %+v, want 2 partitions, nothing committed", rec.Groups)
	}
	offs, err := f.tgt.Admin(t).FetchOffsets(context.Background(), f.group)
	if err == nil && len(offs) > 0 {
		t.Errorf("the dry run committed target group offsets %v", offs)
	}
	if f.sealed(t) != nil || f.engine.Sealed() != nil {
		t.Error("the dry run sealed the migration")
	}
	reader := func(_ context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.tgt.Bootstrap...)}, opts...)...)
	}
	st, err := state.NewStore(f.tgt.Client(t), f.cfg.Migration, reader).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Cutover != nil {
		t.Errorf("the dry run recorded a cutover: %s", st.Cutover)
	}
	select {
	case err := <-f.done:
		f.done <- err
		t.Errorf("the dry run stopped the run: %v", err)
	default:
	}
}

// TestCutoverFencesKmigrateOnTarget: on a target with an authorizer, the seal
// adds a DENY WRITE for kmigrate's own principal on the target topics (kept
// after the GO) and an abort removes it.
func TestCutoverFencesKmigrateOnTarget(t *testing.T) {
	src, _ := clusters(t)
	tgt := kafkatest.SharedT(t, "auth-tgt", authOptions)
	f := newFixtureOn(t, src, tgt, nil, adminOf(tgt))
	var out bytes.Buffer
	rec, err := f.cutover(t, f.options(&out))
	if err != nil {
		t.Fatalf("cutover: %v\n%s", err, out.String())
	}
	want := acls.ACL{Principal: "User:admin", Host: "*", ResourceType: acls.Topic, ResourceName: f.topic, PatternType: acls.Literal, Operation: acls.OpWrite, Permission: acls.Deny}
	if len(rec.TargetFence) != 1 || rec.TargetFence[0] != want {
		t.Fatalf("target fence %v, want %v", rec.TargetFence, want)
	}
	has := func() bool {
		all, err := acls.Describe(context.Background(), tgt.ClientAs(t, "admin"))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range all {
			if a == want {
				return true
			}
		}
		return false
	}
	if !has() {
		t.Fatalf("the target has no %v after the GO", want)
	}
	if _, err := cutover.Abort(context.Background(), f.cfg, &kafka.Builder{}, nil, cutover.Options{}); err != nil {
		t.Fatal(err)
	}
	if has() {
		t.Errorf("abort left %v on the target", want)
	}
}

// TestCutoverInterruptedResumes: a cutover interrupted (Ctrl-C) during the
// freeze is not a NO-GO and undoes nothing; it stays in progress and the next
// cutover resumes it to GO.
func TestCutoverInterruptedResumes(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &hookWriter{fragment: "[2/8] freeze ...", hook: cancel}
	opts := f.options(nil)
	opts.Out, opts.QuietPeriod = out, time.Minute
	rec, err := cutover.Run(ctx, f.cfg, &kafka.Builder{}, nil, opts)
	if err == nil || errors.Is(err, cutover.ErrNoGo) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted cutover: %v, want an interruption, not a NO-GO\n%s", err, out.String())
	}
	if rec.Phase != cutover.PhaseRunning || rec.Decision != "" {
		t.Errorf("after the interruption: phase %s decision %q, want running and no decision", rec.Phase, rec.Decision)
	}
	var buf bytes.Buffer
	again, err := f.cutover(t, f.options(&buf))
	if err != nil || again.ID != rec.ID || again.Decision != cutover.GO {
		t.Fatalf("resumed cutover: %v, id %s (want %s), decision %s\n%s", err, again.ID, rec.ID, again.Decision, buf.String())
	}
	if !strings.Contains(buf.String(), "resuming cutover "+rec.ID) {
		t.Errorf("the second cutover did not say it resumed:\n%s", buf.String())
	}
}
