package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/units"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// The demo's workload.
const (
	demoUserEvents   = "user-events"   // 8 partitions, clickstream with headers
	demoOrders       = "order-updates" // 4 partitions, order state changes
	demoTenantConfig = "tenant-config" // compacted: updates and tombstones
	demoAudit        = "audit-log"     // earliest offset above 0 (records deleted)
	demoMigration    = "demo"
)

// demoOptions are the flags of `kmigrate demo`.
type demoOptions struct {
	duration time.Duration
	noServe  bool
	listen   string
	rate     int
	format   string
}

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The whole migration on two embedded clusters: no Java, no set-up",
		Long: `Demo starts two Kafka clusters inside this process, "aws" (3 brokers) and "gcp"
(3 brokers), and seeds aws with a realistic workload:

  user-events     8 partitions of clickstream records with headers
  order-updates   4 partitions of order state changes
  tenant-config   a compacted topic with updates and tombstones, compacted
                  before the copy, so its offsets have holes
  audit-log       a topic whose earliest offset is above 0 (older records deleted)
  5 consumer groups at different lags, one of them committing as it goes
  a producer that keeps writing to aws all along

Then it runs the real thing, the same code as the commands: scan, plan,
replicate, translate consumer groups, verify (SHA-256 sample checks while the
producer writes). It serves the dashboard while the migration runs live for
--duration, then stops the producer as a cutover would, lets replication and
group translation catch up, verifies every record (full mode) and prints PASS or
FAIL. Exit status 0 on PASS, 1 on FAIL.`,
		Example: `  kmigrate demo                          # dashboard on http://127.0.0.1:8080/ for 30s
  kmigrate demo --duration 10m           # more time to look around
  kmigrate demo --no-serve --duration 0  # scripted: no server, no live phase
  kmigrate demo --format json            # the summary as JSON on stdout`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.format != formatText && o.format != formatJSON {
				return fmt.Errorf("--format %q: use text or json", o.format)
			}
			if o.duration < 0 {
				return fmt.Errorf("--duration %s: must not be negative", o.duration)
			}
			// The demo tells its story on stdout; engine logs below warnings
			// would drown it unless asked for.
			quiet := *g
			if f := cmd.Flag("log-level"); f != nil && !f.Changed && g.logLevel == "info" {
				quiet.logLevel = "warn"
			}
			log, err := quiet.logger()
			if err != nil {
				return err
			}
			story := cmd.OutOrStdout()
			if o.format == formatJSON {
				story = cmd.ErrOrStderr()
			}
			d := &demo{o: o, out: story, log: log, rng: rand.New(rand.NewPCG(1, 2))}
			res, err := d.run(cmd.Context(), !cmd.Flags().Changed("listen"))
			if err != nil {
				if cmd.Context().Err() != nil {
					return &ExitError{Code: 130, Msg: "demo interrupted"}
				}
				return fmt.Errorf("demo: %w", err)
			}
			if o.format == formatJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				res.writeText(cmd.OutOrStdout())
			}
			if !res.Pass {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 30*time.Second, "how long the migration runs live (producer writing, dashboard up) before the final check; 0 skips the live phase")
	f.BoolVar(&o.noServe, "no-serve", false, "serve no dashboard, API or /metrics")
	f.StringVar(&o.listen, "listen", config.DefaultHTTPListen, "address of the dashboard, API and /metrics (a free port is taken if the default is busy)")
	f.IntVar(&o.rate, "rate", 200, "records per second the live producer writes")
	f.StringVar(&o.format, "format", formatText, "summary format: text or json (json prints the story on stderr)")
	return cmd
}

// DemoResult is the summary of a demo run (--format json).
type DemoResult struct {
	Pass bool `json:"pass"`
	// Failures say what failed, when Pass is false.
	Failures  []string `json:"failures,omitempty"`
	Seconds   float64  `json:"seconds"`
	Dashboard string   `json:"dashboard,omitempty"`
	Source    string   `json:"source"`
	Target    string   `json:"target"`
	// Produced counts the records the demo wrote to the source, Copied those
	// replication wrote to the target.
	Produced   int64 `json:"produced_records"`
	Topics     int   `json:"topics"`
	Partitions int   `json:"partitions"`
	Copied     int64 `json:"copied_records"`
	Bytes      int64 `json:"copied_bytes"`
	MapRuns    int   `json:"offset_map_runs"`
	Lost       int64 `json:"lost_records"`
	// BacklogSeconds is how long copying the records present at start took.
	BacklogSeconds float64               `json:"backlog_seconds"`
	Plan           inventory.PlanSummary `json:"plan"`
	// Groups is the final translation pass.
	Groups *groups.Report `json:"groups,omitempty"`
	// LiveVerify ran while the producer wrote; Verify is the final one.
	LiveVerify *verify.Report `json:"live_verify,omitempty"`
	Verify     *verify.Report `json:"verify,omitempty"`
}

// demo runs one demonstration.
type demo struct {
	o   demoOptions
	out io.Writer
	log *slog.Logger
	rng *rand.Rand

	aws, gcp *kfake.Cluster
	cl       *kgo.Client // the applications' client on aws
	adm      *kadm.Client
	produced atomic.Int64
	// commits is held by the analytics consumer while it commits, and by the
	// demo to hold its commits during a verification.
	commits sync.Mutex
	rt      *migration
	start   time.Time
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) run(ctx context.Context, fallback bool) (*DemoResult, error) {
	d.start = time.Now()
	res := &DemoResult{}
	d.say("kmigrate demo: migrate a live Kafka cluster from \"aws\" to \"gcp\", both embedded in this process")
	d.say("")
	if err := d.startClusters(); err != nil {
		return nil, err
	}
	defer d.aws.Close()
	defer d.gcp.Close()
	res.Source = strings.Join(d.aws.ListenAddrs(), ",")
	res.Target = strings.Join(d.gcp.ListenAddrs(), ",")
	d.say("  clusters    aws %s (3 brokers), gcp %s (3 brokers)", res.Source, res.Target)

	var err error
	d.cl, err = kgo.NewClient(kgo.SeedBrokers(d.aws.ListenAddrs()...), kgo.ClientID("demo-apps"),
		kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return nil, fmt.Errorf("build workload client: %w", err)
	}
	defer d.cl.Close()
	d.adm = kadm.NewClient(d.cl)
	if err := d.seed(ctx); err != nil {
		return nil, fmt.Errorf("seed the workload: %w", err)
	}
	d.say("  workload    %s records: %s (8 partitions), %s (4), %s (compacted, with tombstones and holes), %s (earliest offset 600); 5 consumer groups",
		units.Count(d.produced.Load()), demoUserEvents, demoOrders, demoTenantConfig, demoAudit)

	// The applications keep running: a producer and a committing consumer.
	appsCtx, stopApps := context.WithCancel(ctx)
	var apps sync.WaitGroup
	apps.Go(func() { d.produce(appsCtx) })
	apps.Go(func() { d.consume(appsCtx) })
	appsStopped := false
	stopAppsOnce := func() {
		if !appsStopped {
			appsStopped = true
			stopApps()
			apps.Wait()
		}
	}
	defer stopAppsOnce()
	d.say("  live        a producer writes %d records/s to aws; consumer group analytics commits as it reads", d.o.rate)
	d.say("")

	cfg, err := d.config(fallback)
	if err != nil {
		return nil, err
	}

	// 1. Scan.
	if err := d.scan(ctx, cfg); err != nil {
		return nil, err
	}
	// 2. Plan.
	plan, err := d.plan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res.Plan = plan.Summary
	if !plan.Summary.Ready {
		res.Failures = append(res.Failures, "plan: "+plan.Verdict())
		return d.finish(res), nil
	}

	// 3. Replicate, with the dashboard.
	d.rt = newMigration(cfg, d.log)
	if !d.o.noServe {
		url, stopServe, err := d.rt.serve(ctx, serveOptions{fallback: fallback})
		if err != nil {
			return nil, err
		}
		defer stopServe()
		res.Dashboard = url
	}
	backlog, err := d.endOffsets(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- d.rt.run(runCtx, replicate.Options{}) }()
	engineErr := func() error {
		select {
		case err := <-runDone:
			if err == nil {
				err = errors.New("the copy engine stopped")
			}
			runDone <- err
			return err
		default:
			return nil
		}
	}
	copyStart := time.Now()
	if err := d.waitCopied(ctx, backlog, 30*time.Second, engineErr); err != nil {
		return nil, err
	}
	res.BacklogSeconds = time.Since(copyStart).Seconds()
	t := d.totals()
	d.say("3. replicate  backlog copied in %.1fs: %s records, %s, offset map %d runs for %d partitions (the compaction holes make the extra runs)",
		res.BacklogSeconds, units.Count(t.copied), units.Bytes(t.bytes), t.runs, t.partitions)

	// 4. Groups.
	rep, err := d.waitGroups(ctx, time.Now(), 20*time.Second, engineErr)
	if err != nil {
		return nil, err
	}
	d.say("4. groups     %s, translated exactly through the offset map", groupsLine(rep))

	// 5. Verify while the producer writes. The group check compares source
	// and target commits, so the committing consumer holds its commits until
	// a translation pass has seen its latest position.
	d.commits.Lock()
	if _, err := d.waitGroups(ctx, time.Now(), 20*time.Second, engineErr); err != nil {
		d.commits.Unlock()
		return nil, err
	}
	res.LiveVerify, err = d.verify(ctx, cfg, verify.ModeSample)
	d.commits.Unlock()
	if err != nil {
		return nil, err
	}
	d.say("5. verify     %s (while the producer writes)", verifyLine(res.LiveVerify))
	d.say("")

	if res.Dashboard != "" {
		busy := ""
		if !strings.Contains(res.Dashboard, "//"+d.o.listen+"/") {
			busy = fmt.Sprintf(" (%s was busy)", d.o.listen)
		}
		d.say("dashboard     %s%s   (also %sapi/status and %smetrics)", res.Dashboard, busy, res.Dashboard, res.Dashboard)
	}
	if d.o.duration > 0 {
		d.say("live          replicating live for %s (--duration); Ctrl-C stops the demo", d.o.duration)
		if err := d.live(ctx, d.o.duration, engineErr); err != nil {
			return nil, err
		}
	}

	// The final check, as a cutover would do it: stop the applications, let
	// replication and translation catch up, verify everything.
	stopAppsOnce()
	d.rt.feed.Event(replicate.Event{Time: time.Now(), Level: "info", Message: "demo: producer and consumer stopped for the final check"})
	final, err := d.endOffsets(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.waitCopied(ctx, final, 30*time.Second, engineErr); err != nil {
		return nil, err
	}
	res.Groups, err = d.waitGroups(ctx, time.Now(), 20*time.Second, engineErr)
	if err != nil {
		return nil, err
	}
	stopRun()
	if err := <-runDone; err != nil {
		return nil, err
	}
	t = d.totals()
	res.Topics, res.Partitions, res.Copied, res.Bytes, res.MapRuns, res.Lost = t.topics, t.partitions, t.copied, t.bytes, t.runs, t.lost
	res.Produced = d.produced.Load()
	d.say("final         applications stopped; %s records copied in all, groups: %s", units.Count(t.copied), groupsLine(res.Groups))
	res.Verify, err = d.verify(ctx, cfg, verify.ModeFull)
	if err != nil {
		return nil, err
	}
	d.say("              verify %s", verifyLine(res.Verify))
	d.say("")

	if t.failed > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d partition(s) stopped with an error", t.failed))
	}
	if t.lost > 0 {
		res.Failures = append(res.Failures, fmt.Sprintf("%d source offsets were lost to retention before they were copied", t.lost))
	}
	if !res.Groups.AllInSync() {
		res.Failures = append(res.Failures, "consumer groups: "+groupsLine(res.Groups))
	}
	if !res.LiveVerify.Pass {
		res.Failures = append(res.Failures, "verify while live: "+verifyLine(res.LiveVerify))
	}
	if !res.Verify.Pass {
		res.Failures = append(res.Failures, "final verify: "+verifyLine(res.Verify))
	}
	return d.finish(res), nil
}

func (d *demo) finish(res *DemoResult) *DemoResult {
	res.Pass = len(res.Failures) == 0
	res.Seconds = time.Since(d.start).Seconds()
	return res
}

// writeText prints the verdict.
func (r *DemoResult) writeText(w io.Writer) {
	if !r.Pass {
		fmt.Fprintf(w, "FAIL  after %.0fs:\n", r.Seconds)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
		return
	}
	groupParts := 0
	if r.Groups != nil {
		groupParts = len(r.Groups.Rows)
	}
	fmt.Fprintf(w, "PASS  %s records in %d topics (%d partitions) copied from aws to gcp while a producer wrote, every one verified by SHA-256; %d consumer-group partitions translated exactly; nothing lost. %.0fs.\n",
		units.Count(r.Copied), r.Topics, r.Partitions, groupParts, r.Seconds)
}

func (d *demo) startClusters() error {
	var err error
	d.aws, err = kfake.NewCluster(kfake.NumBrokers(3), kfake.ClusterID("aws"))
	if err != nil {
		return fmt.Errorf("start cluster aws: %w", err)
	}
	d.gcp, err = kfake.NewCluster(kfake.NumBrokers(3), kfake.ClusterID("gcp"))
	if err != nil {
		d.aws.Close()
		return fmt.Errorf("start cluster gcp: %w", err)
	}
	return nil
}

// config is the migration's configuration, through the same loader and
// validation as a file.
func (d *demo) config(fallback bool) (*config.Config, error) {
	listen := d.o.listen
	if d.o.noServe {
		listen = "off"
	}
	yaml := fmt.Sprintf(`migration: %s
source:
  bootstrap_servers: [%s]
  client_id: kmigrate-demo
  request_timeout: 10s
target:
  bootstrap_servers: [%s]
  client_id: kmigrate-demo
  request_timeout: 10s
replication:
  checkpoint_interval: 500ms
  discovery_interval: 5s
  shutdown_timeout: 10s
group_sync:
  interval: 1s
http:
  listen: %q
  ready_max_lag: 1000
`, demoMigration, strings.Join(d.aws.ListenAddrs(), ", "), strings.Join(d.gcp.ListenAddrs(), ", "), listen)
	cfg, err := config.Parse("demo.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	return cfg, nil
}

// seed creates the topics and writes the workload present before the
// migration starts.
func (d *demo) seed(ctx context.Context) error {
	compact := "compact"
	isr := "2"
	for _, t := range []struct {
		name       string
		partitions int32
		configs    map[string]*string
	}{
		{demoUserEvents, 8, map[string]*string{"min.insync.replicas": &isr}},
		{demoOrders, 4, map[string]*string{"min.insync.replicas": &isr}},
		{demoTenantConfig, 3, map[string]*string{"min.insync.replicas": &isr, "cleanup.policy": &compact}},
		{demoAudit, 2, map[string]*string{"min.insync.replicas": &isr}},
	} {
		resp, err := d.adm.CreateTopic(ctx, t.partitions, 3, t.configs, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	now := time.Now()
	// Timestamps spread over the last 20 minutes, as if the topics had history.
	past := func(i, n int) time.Time {
		return now.Add(-20 * time.Minute).Add(time.Duration(i) * 20 * time.Minute / time.Duration(n))
	}
	const users, orders = 20000, 6000
	for i := range users {
		d.send(d.userEvent(past(i, users)))
	}
	for i := range orders {
		d.send(d.orderUpdate(i/4, i%4, past(i, orders)))
	}
	// tenant-config in rounds, each its own batch, so that compaction has
	// older batches to clean: 60 tenants, 8 versions, then 6 tombstones.
	for round := range 8 {
		for tenant := range 60 {
			d.send(d.tenantConfig(tenant, round, past(round*60+tenant, 9*60)))
		}
		if err := d.cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush %s: %w", demoTenantConfig, err)
		}
	}
	for _, tenant := range []int{3, 11, 19, 27, 35, 43} {
		d.send(&kgo.Record{Topic: demoTenantConfig, Key: fmt.Appendf(nil, "tenant-%03d", tenant), Timestamp: now.Add(-time.Minute),
			Headers: []kgo.RecordHeader{{Key: "deleted-by", Value: []byte("offboarding")}}})
	}
	if err := d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", demoTenantConfig, err)
	}
	// The active (last) batch is never compacted: one more small round.
	for tenant := range 5 {
		d.send(d.tenantConfig(tenant, 8, now.Add(-30*time.Second)))
	}
	for i := range 3000 {
		d.send(&kgo.Record{Topic: demoAudit, Partition: int32(i % 2), Key: fmt.Appendf(nil, "audit-%06d", i),
			Value: fmt.Appendf(nil, `{"seq":%d,"actor":"svc-%d","action":"%s"}`, i, i%17, []string{"login", "grant", "revoke", "export"}[i%4]), Timestamp: past(i, 3000)})
	}
	if err := d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush the workload: %w", err)
	}
	d.aws.Compact()
	// Retention moved the earliest offset of audit-log.
	if _, err := d.adm.DeleteRecords(ctx, kadm.Offsets{demoAudit: {
		0: {Topic: demoAudit, Partition: 0, At: 600}, 1: {Topic: demoAudit, Partition: 1, At: 600},
	}}); err != nil {
		return fmt.Errorf("delete the oldest records of %s: %w", demoAudit, err)
	}
	return d.commitGroups(ctx)
}

// send produces r asynchronously and counts it once acknowledged.
func (d *demo) send(r *kgo.Record) {
	d.cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
		if err == nil {
			d.produced.Add(1)
		} else if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
			d.log.Warn("demo producer", "err", err)
		}
	})
}

var (
	demoEvents    = []string{"page_view", "page_view", "page_view", "click", "click", "add_to_cart", "purchase", "signup"}
	demoPages     = []string{"/", "/search", "/product/42", "/product/7", "/cart", "/checkout", "/account"}
	demoSources   = []string{"web", "ios", "android"}
	demoOrderFlow = []string{"created", "paid", "shipped", "delivered"}
	demoPlans     = []string{"free", "team", "business", "enterprise"}
)

func (d *demo) userEvent(ts time.Time) *kgo.Record {
	user := d.rng.IntN(2500)
	ev := demoEvents[d.rng.IntN(len(demoEvents))]
	return &kgo.Record{
		Topic: demoUserEvents, Key: fmt.Appendf(nil, "user-%05d", user), Timestamp: ts,
		Value: fmt.Appendf(nil, `{"user":"user-%05d","event":"%s","page":"%s","session":"%016x","ts":%d}`,
			user, ev, demoPages[d.rng.IntN(len(demoPages))], d.rng.Uint64(), ts.UnixMilli()),
		Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte("application/json")},
			{Key: "source", Value: []byte(demoSources[d.rng.IntN(len(demoSources))])},
			{Key: "trace-id", Value: fmt.Appendf(nil, "%032x", d.rng.Uint64())},
		},
	}
}

func (d *demo) orderUpdate(order, step int, ts time.Time) *kgo.Record {
	return &kgo.Record{
		Topic: demoOrders, Key: fmt.Appendf(nil, "order-%06d", order), Timestamp: ts,
		Value: fmt.Appendf(nil, `{"order":"order-%06d","status":"%s","amount_cents":%d,"currency":"EUR"}`,
			order, demoOrderFlow[step%len(demoOrderFlow)], 500+(order*7919)%50000),
		Headers: []kgo.RecordHeader{{Key: "schema", Value: []byte("order.v3")}},
	}
}

func (d *demo) tenantConfig(tenant, version int, ts time.Time) *kgo.Record {
	return &kgo.Record{
		Topic: demoTenantConfig, Key: fmt.Appendf(nil, "tenant-%03d", tenant), Timestamp: ts,
		Value: fmt.Appendf(nil, `{"tenant":"tenant-%03d","version":%d,"plan":"%s","seats":%d,"sso":%t}`,
			tenant, version, demoPlans[(tenant+version)%len(demoPlans)], 5+tenant*version%200, version%2 == 0),
	}
}

// commitGroups commits the consumer groups' positions on aws, at different lags.
func (d *demo) commitGroups(ctx context.Context) error {
	topics := []string{demoUserEvents, demoOrders, demoTenantConfig, demoAudit}
	starts, err := d.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := d.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	at := func(topic string, f func(start, end int64) int64) kadm.Offsets {
		os := kadm.Offsets{}
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Topic == topic && o.Err == nil && s.Err == nil {
				os.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: f(s.Offset, o.Offset), LeaderEpoch: -1})
			}
		})
		return os
	}
	for _, c := range []struct {
		group string
		os    kadm.Offsets
	}{
		{"search-indexer", at(demoUserEvents, func(_, end int64) int64 { return end })},
		{"analytics", at(demoUserEvents, func(_, end int64) int64 { return end * 6 / 10 })},
		{"billing", at(demoOrders, func(_, end int64) int64 { return max(0, end-150) })},
		// Between compaction holes, most likely: the translation stays exact.
		{"config-cache", at(demoTenantConfig, func(start, end int64) int64 { return start + (end-start)/2 })},
		{"audit-archiver", at(demoAudit, func(start, _ int64) int64 { return start + 400 })},
	} {
		if err := d.adm.CommitAllOffsets(ctx, c.group, c.os); err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", c.group, err)
		}
	}
	return nil
}

// produce is the application that keeps writing to aws until ctx is done.
func (d *demo) produce(ctx context.Context) {
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	order := 100000
	perTick := max(1, d.o.rate/10)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			if err := d.cl.Flush(context.Background()); err != nil {
				d.log.Warn("flush the demo producer", "err", err)
			}
			return
		case <-t.C:
		}
		now := time.Now()
		for i := range perTick {
			switch {
			case i%10 < 7:
				d.send(d.userEvent(now))
			case i%10 < 9:
				d.send(d.orderUpdate(order+i/4, i%4, now))
			default:
				d.send(d.tenantConfig(d.rng.IntN(60), 9+n, now))
			}
		}
		order += perTick
	}
}

// consume is the analytics consumer: it commits its way towards the end of
// user-events, 200 records per partition every two seconds.
func (d *demo) consume(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.commits.Lock()
		d.commitAnalytics(ctx)
		d.commits.Unlock()
	}
}

func (d *demo) commitAnalytics(ctx context.Context) {
	committed, err := d.adm.FetchOffsets(ctx, "analytics")
	if err != nil {
		return
	}
	ends, err := d.adm.ListEndOffsets(ctx, demoUserEvents)
	if err != nil {
		return
	}
	next := kadm.Offsets{}
	committed.Each(func(o kadm.OffsetResponse) {
		if e, ok := ends.Lookup(o.Topic, o.Partition); ok && o.Err == nil {
			next.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: min(e.Offset, o.At+200), LeaderEpoch: -1})
		}
	})
	if _, err := d.adm.CommitOffsets(ctx, "analytics", next); err != nil && ctx.Err() == nil {
		d.log.Warn("demo consumer commit", "err", err)
	}
}

func (d *demo) scan(ctx context.Context, cfg *config.Config) error {
	snap, err := inventory.Scan(ctx, d.cl, inventory.Options{Role: kafka.Source, Topics: &cfg.Topics, Groups: &cfg.Groups, SkipCluster: true})
	if err != nil {
		return fmt.Errorf("scan aws: %w", err)
	}
	s := snap.Summary
	d.say("1. scan       aws: %d brokers, %d topics (%d compacted), %d partitions, %s records, %d consumer groups with a total lag of %s",
		s.Brokers, s.Topics, s.CompactedTopics, s.Partitions, units.Count(s.Records), s.Groups, units.Count(s.TotalLag))
	return nil
}

func (d *demo) plan(ctx context.Context, cfg *config.Config) (*inventory.Plan, error) {
	b := &kafka.Builder{Logger: d.log}
	src, err := b.Client(ctx, kafka.Source, cfg.Source)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	tgt, err := b.Client(ctx, kafka.Target, cfg.Target)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()
	plan, err := inventory.MakePlan(ctx, inventory.PlanOptions{
		Config: cfg, Source: src, Target: tgt,
		Rate: inventory.CopyRate{BytesPerSecond: inventory.DefaultAssumedRate, Origin: "default"},
		NewTargetReader: func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
			return b.Client(ctx, kafka.Target, cfg.Target, opts...)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	s := plan.Summary
	d.say("2. plan       create %d topics (%d partitions) on gcp; %d blockers, %d warnings", s.Create, s.Partitions, s.Blockers, s.Warnings)
	return plan, nil
}

// endOffsets returns the end offset of every partition of the workload.
func (d *demo) endOffsets(ctx context.Context) (kadm.ListedOffsets, error) {
	ends, err := d.adm.ListEndOffsets(ctx, demoUserEvents, demoOrders, demoTenantConfig, demoAudit)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of aws: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets of aws: %w", err)
	}
	return ends, nil
}

// waitCopied waits until every partition copied up to ends.
func (d *demo) waitCopied(ctx context.Context, ends kadm.ListedOffsets, timeout time.Duration, engineErr func() error) error {
	return demoPoll(ctx, timeout, engineErr, func() (bool, string) {
		next := map[string]map[int32]int64{}
		for _, p := range d.rt.engine.Status() {
			if p.Error != "" {
				return false, fmt.Sprintf("%s[%d]: %s", p.Topic, p.Partition, p.Error)
			}
			if next[p.Topic] == nil {
				next[p.Topic] = map[int32]int64{}
			}
			next[p.Topic][p.Partition] = p.SrcNext
		}
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			if n, ok := next[o.Topic][o.Partition]; !ok || n < o.Offset {
				behind++
			}
		})
		return behind == 0, fmt.Sprintf("%d partitions not copied up to the end offsets", behind)
	})
}

// waitGroups waits for a translation pass that started after since and found
// every group partition in sync.
func (d *demo) waitGroups(ctx context.Context, since time.Time, timeout time.Duration, engineErr func() error) (*groups.Report, error) {
	var last *groups.Report
	err := demoPoll(ctx, timeout, engineErr, func() (bool, string) {
		last = d.rt.feed.Snapshot().Groups
		if last == nil || last.Time.Before(since) {
			return false, "no translation pass yet"
		}
		return last.AllInSync(), groupsLine(last)
	})
	if last != nil && errors.Is(err, errDemoTimeout) {
		return last, nil // reported as it is; the verdict says FAIL
	}
	return last, err
}

var errDemoTimeout = errors.New("timed out")

// demoPoll calls cond until it holds, the timeout passes, ctx ends or the
// engine stops.
func demoPoll(ctx context.Context, timeout time.Duration, engineErr func() error, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if err := engineErr(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: %s", errDemoTimeout, timeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoVerifyTimeout bounds one verification; the demo's take a second.
const demoVerifyTimeout = 30 * time.Second

func (d *demo) verify(ctx context.Context, cfg *config.Config, mode verify.Mode) (*verify.Report, error) {
	vctx, cancel := context.WithTimeout(ctx, demoVerifyTimeout)
	defer cancel()
	rep, err := verify.New(cfg, &kafka.Builder{Logger: d.log}, d.log).Verify(vctx, verify.Options{Mode: mode})
	if err != nil {
		if ctx.Err() == nil && vctx.Err() != nil {
			return nil, fmt.Errorf("verify (%s) did not finish within %s: %w", mode, demoVerifyTimeout, err)
		}
		return nil, fmt.Errorf("verify (%s): %w", mode, err)
	}
	d.rt.feed.SetVerify(rep)
	d.rt.verifyMetrics.Observe(rep)
	level := "info"
	if !rep.Pass {
		level = "error"
	}
	d.rt.feed.Event(replicate.Event{Time: time.Now(), Level: level, Message: "demo: verify " + verifyLine(rep)})
	for _, c := range rep.Failed() {
		for i, f := range c.Failures {
			if i == 3 {
				d.say("                %s: %d more", c.Name, c.Failed-i)
				break
			}
			d.say("                %s: %s %s", c.Name, f.Kind, f.Message)
		}
	}
	return rep, nil
}

// live lets the migration run with the applications for duration, printing a
// line every few seconds.
func (d *demo) live(ctx context.Context, duration time.Duration, engineErr func() error) error {
	end := time.Now().Add(duration)
	every := min(10*time.Second, max(duration/3, time.Second))
	last := d.totals()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(every, time.Until(end))):
		}
		if err := engineErr(); err != nil {
			return err
		}
		t := d.totals()
		gl := "no pass yet"
		if g := d.rt.feed.Snapshot().Groups; g != nil {
			gl = groupsLine(g)
		}
		d.say("              +%s records copied, lag %s, groups %s, %s left",
			units.Count(t.copied-last.copied), units.Count(t.lag), gl, time.Until(end).Round(time.Second))
		last = t
	}
	return nil
}

type demoTotals struct {
	topics, partitions, runs, failed int
	copied, bytes, lag, lost         int64
}

func (d *demo) totals() demoTotals {
	var t demoTotals
	var topics []string
	for _, p := range d.rt.engine.Status() {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
		t.partitions++
		t.runs += p.Runs
		t.copied += p.Copied
		t.bytes += p.Bytes
		t.lag += max(0, p.Lag)
		for _, l := range p.Lost {
			t.lost += l.To - l.From
		}
		if p.Error != "" {
			t.failed++
		}
	}
	t.topics = len(topics)
	return t
}

func groupsLine(r *groups.Report) string {
	if r == nil {
		return "no translation pass"
	}
	c := r.Counts()
	s := fmt.Sprintf("%d groups, %d/%d partitions in-sync", r.Groups, c[groups.InSync], len(r.Rows))
	for _, st := range []groups.Status{groups.Pending, groups.ActiveOnTarget, groups.BehindRetention, groups.Skipped} {
		if c[st] > 0 {
			s += fmt.Sprintf(", %d %s", c[st], st)
		}
	}
	if len(r.Errors) > 0 {
		s += fmt.Sprintf(", %d errors", len(r.Errors))
	}
	return s
}

func verifyLine(r *verify.Report) string {
	verdict := "FAIL"
	if r.Pass {
		verdict = "PASS"
	}
	var checks []string
	for _, c := range r.Checks {
		mark := "ok"
		if !c.Pass {
			mark = fmt.Sprintf("FAILED %d/%d", c.Failed, c.Checked)
		}
		checks = append(checks, c.Name+" "+mark)
	}
	return fmt.Sprintf("%s %s in %.1fs: %s", verdict, r.Mode, r.Seconds, strings.Join(checks, ", "))
}
