package cli

import (
	"context"
	"fmt"
	"github.com/kmigrate/kmigrate/internal/cutover"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/metrics"
	"github.com/kmigrate/kmigrate/internal/progress"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/verify"
	"github.com/kmigrate/kmigrate/internal/web"
)

func newRunCmd(g *globals) *cobra.Command {
	var untilCaughtUp bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Create topics, replicate continuously and translate consumer groups",
		Long: `Run creates the selected topics on the target, copies every record of every
selected partition (key, value, headers and timestamp, byte for byte) while the
source keeps receiving writes, keeps the exact source-to-target offset map on the
target cluster, and translates consumer-group offsets through it. It serves
/metrics, /-/healthy, /-/ready, the JSON status API and a dashboard on http.listen.

Run is safe to kill at any moment: the next start reconciles what was written
after the last checkpoint, so no record is lost and none is written twice.
SIGTERM flushes, checkpoints and exits 0.

A cutover seals the copy: a running run stops (flushed, checkpointed, exit 0) and
a new one refuses. After a cutover that ended GO, run --reverse copies what the
applications write to the target back to the source (the migration
<migration>.reverse), continuing each source partition at its frozen offset, and
translates the groups back.`,
		Example: `  kmigrate run -c migration.yaml
  kmigrate run -c migration.yaml --until-caught-up   # copy the backlog seen at start, then exit
  kmigrate run -c migration.yaml --reverse           # after a GO: copy the target's new records back`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var bar *progress.Bar
			if untilCaughtUp {
				bar = progress.New(cmd.OutOrStdout(), progress.Options{Title: "copy", Unit: "offsets"})
			}
			log, err := g.loggerWith(bar)
			if err != nil {
				return err
			}
			cfg, err := config.Load(g.configFile)
			if err != nil {
				return err
			}
			opts := replicate.Options{UntilCaughtUp: untilCaughtUp}
			var rev *cutover.Reverse
			if g.reverse {
				// Copy back what applications wrote to the target since the
				// switch, continuing each source partition where the freeze
				// left it.
				if rev, err = cutover.PrepareReverse(cmd.Context(), cfg, &kafka.Builder{Logger: log}, log); err != nil {
					return err
				}
				for _, a := range rev.Lifted {
					log.Info("lifted the cutover's DENY WRITE on the source for the reverse copy", "acl", a.String())
				}
				cfg, opts.Start, opts.KeepTargetConfigs = rev.Config, rev.Start, true
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			rt := newMigration(cfg, log)
			rt.reverse = rev
			return rt.runServed(cmd.Context(), opts, bar)
		},
	}
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file (diagnostics)")
	cmd.Flags().BoolVar(&untilCaughtUp, "until-caught-up", false, "copy up to the source end offsets seen at start, then exit 0 (non-zero if a partition failed)")
	return cmd
}

// migration wires the pieces of a running migration: metrics, clients, engine.
type migration struct {
	cfg     *config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	builder *kafka.Builder
	engine  *replicate.Engine
	// groupMetrics are the group translation metrics.
	groupMetrics *groups.Metrics
	// feed is what the dashboard reads; verifyMetrics export verifications.
	feed          *web.Feed
	verifyMetrics *metrics.Verify
	// info exports the build, this instance's liveness and the clusters' ids.
	info *metrics.Info
	// reverse is set for the reverse copy after a cutover (run --reverse).
	reverse *cutover.Reverse
}

func newMigration(cfg *config.Config, log *slog.Logger) *migration {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clientMetrics := map[kafka.Role]*kprom.Metrics{
		kafka.Source: kprom.NewMetrics("kmigrate_kafka", kprom.Registerer(prometheus.WrapRegistererWith(prometheus.Labels{"cluster": "source"}, reg))),
		kafka.Target: kprom.NewMetrics("kmigrate_kafka", kprom.Registerer(prometheus.WrapRegistererWith(prometheus.Labels{"cluster": "target"}, reg))),
	}
	builder := &kafka.Builder{Logger: log, Hooks: func(r kafka.Role) []kgo.Hook { return []kgo.Hook{clientMetrics[r]} }}
	verifyMetrics := metrics.NewVerify(reg)
	engineMetrics := replicate.NewMetrics(reg)
	engine := replicate.New(cfg, log, builder, engineMetrics)
	reg.MustRegister(engine.Collector())
	feed := web.NewFeed(cfg.Migration, engine, reg)
	feed.SetGroupSync(cfg.GroupSync.GroupSyncEnabled())
	host, _ := os.Hostname()
	started := time.Now()
	feed.SetStarted(started)
	info := metrics.NewInfo(reg, version(), cfg.Migration, fmt.Sprintf("%s/%d", host, os.Getpid()), started)
	return &migration{cfg: cfg, log: log, reg: reg, builder: builder, engine: engine, groupMetrics: groups.NewMetrics(reg),
		feed: feed, verifyMetrics: verifyMetrics, info: info}
}

// startCPUProfile profiles the process until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// wholeEvery is how often a process of a shared migration reads the state
// and both clusters to show the whole migration on its dashboard and API.
const wholeEvery = 10 * time.Second

// watchWhole keeps the dashboard's view of a shared migration as a whole
// (every process, every partition) up to date until ctx is done.
func (rt *migration) watchWhole(ctx context.Context) {
	v := verify.New(rt.cfg, rt.builder, rt.log)
	t := time.NewTicker(wholeEvery)
	defer t.Stop()
	for {
		in, err := v.Observe(ctx, nil)
		switch {
		case err == nil:
			rt.feed.SetWhole(in)
		case ctx.Err() == nil:
			rt.log.Warn("cannot read the whole shared migration for the dashboard; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// openRetrying calls open until it succeeds, ctx ends (nil clients) or the
// engine ends first (ended, with the engine's error). Group translation opens
// its clients once the copy runs: both clusters answered at the start, so a
// failure now (a connection refused or reset by a proxy in front of the
// brokers, a broker restarting) is a fault that heals, not a reason to end the
// migration. Each failure is logged; the wait grows from 1 s to 30 s.
func openRetrying(ctx context.Context, log *slog.Logger, engineDone <-chan error, open func(context.Context) (*clients, error)) (env *clients, ended bool, err error) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		env, oerr := open(ctx)
		if oerr == nil {
			return env, false, nil
		}
		if ctx.Err() != nil {
			return nil, false, nil
		}
		log.Warn("group translation cannot reach the clusters; retrying", "err", oerr, "in", wait)
		select {
		case <-ctx.Done():
			return nil, false, nil
		case err := <-engineDone:
			return nil, true, err
		case <-time.After(wait):
		}
	}
}

func (rt *migration) run(ctx context.Context, opts replicate.Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts.Events = rt.events(opts.Events)
	engineDone := make(chan error, 1)
	go func() { engineDone <- rt.engine.Run(ctx, opts) }()

	var syncer *groups.Syncer
	var syncDone chan struct{}
	var err error
	if rt.cfg.Replication.ScaleOut {
		wholeDone := make(chan struct{})
		defer func() { <-wholeDone }()
		go func() {
			defer close(wholeDone)
			rt.watchWhole(ctx)
		}()
	}
	select {
	case err = <-engineDone:
	case <-rt.engine.Ready():
		if rt.cfg.GroupSync.GroupSyncEnabled() {
			env, ended, eerr := openRetrying(ctx, rt.log, engineDone, func(ctx context.Context) (*clients, error) {
				return openFencedClients(ctx, rt.cfg, rt.log, rt.engine.Fence())
			})
			if ended || env == nil {
				cancel()
				if !ended {
					eerr = <-engineDone
				}
				if eerr != nil {
					return fmt.Errorf("run migration %s: %w", rt.cfg.Migration, eerr)
				}
				return nil
			}
			defer env.close()
			var tr groups.Translator = rt.engine
			if rt.reverse != nil {
				tr = rt.reverse.Translator(rt.engine)
			}
			syncer = groups.NewSyncer(rt.cfg, rt.log, env.src, env.tgt, tr, rt.groupMetrics)
			defer syncer.Close()
			rt.feed.SetGroups(syncer)
			syncDone = make(chan struct{})
			go func() {
				defer close(syncDone)
				syncer.RunWhen(ctx, rt.cfg.GroupSync.Interval.Duration, rt.engine.Leads)
			}()
		}
		err = <-engineDone
	}
	cancel()
	if syncDone != nil {
		<-syncDone
	}
	if err != nil {
		return fmt.Errorf("run migration %s: %w", rt.cfg.Migration, err)
	}
	if syncer != nil && opts.UntilCaughtUp {
		// One last pass over the final maps, so that a script that waits for
		// the copy also finds the groups translated.
		fctx, fcancel := context.WithTimeout(context.Background(), time.Minute)
		defer fcancel()
		rep, err := syncer.Pass(fctx, true)
		if err != nil {
			return fmt.Errorf("final group translation: %w", err)
		}
		rt.log.Info("groups translated", "summary", groupsSummary(rep))
	}
	return nil
}
