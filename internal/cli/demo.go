package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kmigrate/kmigrate/internal/cutover"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
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
	// Cutover is the cutover's report: GO, with every step's figures.
	Cutover *cutover.Record `json:"cutover,omitempty"`
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
	// seeded is the number of records the workload wrote before the
	// migration started.
	seeded int64
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) run(ctx context.Context, fallback bool) (*DemoResult, error) {
	d.start = time.Now()
	res := &DemoResult{}
	// A --listen the user chose must be free: say so before minutes of work.
	if !d.o.noServe && !fallback {
		ln, err := net.Listen("tcp", d.o.listen)
		if err != nil {
			return nil, fmt.Errorf("--listen %s: %w (choose another address, or --no-serve)", d.o.listen, err)
		}
		ln.Close()
	}
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
	d.seeded = d.produced.Load()
	d.say("  workload    %s records written: %s (8 partitions), %s (4), %s (compacted, with tombstones and holes), %s (earliest offset 600); 5 consumer groups",
		units.Count(d.seeded), demoUserEvents, demoOrders, demoTenantConfig, demoAudit)

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
	d.say("4. translate  consumer groups: %s, translated exactly through the offset map", groupsLine(rep))

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
	// 6. Cut over: freeze, drain, consumers, groups, verify, seal. The seal
	// stops the run, flushed and checkpointed.
	res.Cutover, err = cutover.Run(ctx, cfg, &kafka.Builder{Logger: d.log}, d.log, cutover.Options{
		QuietPeriod: 2 * time.Second, FreezeTimeout: 30 * time.Second, DrainTimeout: 30 * time.Second,
		ConsumersTimeout: 30 * time.Second, SealTimeout: 30 * time.Second, Poll: 200 * time.Millisecond})
	switch {
	case res.Cutover == nil:
		return nil, err
	case err != nil:
		res.Failures = append(res.Failures, "cutover: "+res.Cutover.Reason)
		stopRun()
		<-runDone
	default:
		var secs float64
		for _, st := range res.Cutover.Steps {
			secs += st.Seconds
		}
		d.say("6. cutover    %s in %.1fs: source frozen, copy drained, consumers gone, groups translated, verified, copy sealed (no kmigrate writes to gcp any more)", res.Cutover.Decision, secs)
		select {
		case err := <-runDone:
			if err != nil {
				return nil, fmt.Errorf("the run after the seal: %w", err)
			}
		case <-time.After(30 * time.Second):
			return nil, errors.New("the run did not stop within 30 s of the cutover's seal")
		}
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
	if res.LiveVerify.Result == verify.ResultFail {
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
