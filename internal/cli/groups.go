package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/state"
)

func newGroupsCmd(g *globals) *cobra.Command {
	var out output
	var check bool
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "Show how every consumer group translates to the target",
		Long: `Groups shows, for every selected source consumer group and every partition of a
migrated topic it committed: the source committed offset and end, the exact
target offset it translates to through the offset map, the target group's
committed offset and end, the lag on both sides, and a status (in-sync, pending,
active-on-target, behind-retention, skipped) with the reason. It changes nothing;
'groups sync' commits. With --check it exits 1 unless every row is in-sync.`,
		Example: `  kmigrate groups -c migration.yaml
  kmigrate groups -c migration.yaml --check --format json
  kmigrate groups sync -c migration.yaml --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx, cancel := out.context(cmd.Context())
			defer cancel()
			rep, err := groupsPass(ctx, g, false)
			if err != nil {
				return err
			}
			if err := renderGroups(cmd.OutOrStdout(), &out, rep); err != nil {
				return err
			}
			if check && !rep.AllInSync() {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	out.register(cmd, 5*time.Minute)
	cmd.Flags().BoolVar(&check, "check", false, "exit 1 unless every group partition is in-sync")
	cmd.AddCommand(newGroupsSyncCmd(g))
	return cmd
}

func newGroupsSyncCmd(g *globals) *cobra.Command {
	var out output
	var once, dryRun bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Translate consumer groups and commit them on the target",
		Long: `Sync translates every selected source group through the offset map stored on the
target and commits the result to the same group on the target, following the
rules: only groups without active members on the target are written, a target
group that is ahead is never moved back (unless group_sync.allow_backwards), and
positions beyond the copy stay pending. With --once it runs one pass and prints
the rows (cutover uses this after source consumers stopped); otherwise it runs a
pass every group_sync.interval until interrupted.`,
		Example: `  kmigrate groups sync -c migration.yaml --once
  kmigrate groups sync -c migration.yaml --once --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if !once {
				cfg, err := config.Load(g.configFile)
				if err != nil {
					return err
				}
				for {
					// Without --once, --timeout bounds each pass.
					ctx, cancel := out.context(cmd.Context())
					rep, err := groupsPass(ctx, g, !dryRun)
					cancel()
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s pass: %d groups, %s\n", rep.Time.Format(time.RFC3339), rep.Groups, statusCounts(rep))
					select {
					case <-cmd.Context().Done():
						return nil
					case <-time.After(cfg.GroupSync.Interval.Duration):
					}
				}
			}
			ctx, cancel := out.context(cmd.Context())
			defer cancel()
			rep, err := groupsPass(ctx, g, !dryRun)
			if err != nil {
				return err
			}
			if err := renderGroups(cmd.OutOrStdout(), &out, rep); err != nil {
				return err
			}
			if len(rep.Errors) > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	out.register(cmd, 5*time.Minute)
	cmd.Flags().BoolVar(&once, "once", false, "run one pass and exit")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be committed, commit nothing")
	return cmd
}

// groupsPass runs one translation pass through the state stored on the target.
func groupsPass(ctx context.Context, g *globals, commit bool) (*groups.Report, error) {
	log, cfg, err := g.setup()
	if err != nil {
		return nil, err
	}
	env, err := openClients(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer env.close()
	st, err := env.loadState(ctx)
	if err != nil {
		return nil, err
	}
	syncer := groups.NewSyncer(cfg, log, env.src, env.tgt, groups.NewStateTranslator(cfg, st), nil)
	defer syncer.Close()
	return syncer.Pass(ctx, commit)
}

// clients are the admin clients of a command that reads both clusters.
type clients struct {
	cfg     *config.Config
	builder *kafka.Builder
	src     *kgo.Client
	tgt     *kgo.Client
	srcAdm  *kadm.Client
	tgtAdm  *kadm.Client
}

func openClients(ctx context.Context, cfg *config.Config, log *slog.Logger) (*clients, error) {
	return openFencedClients(ctx, cfg, log, nil)
}

// openFencedClients is openClients whose target clients write only while
// fence holds (nil: unfenced). A run's group translation commits through it,
// so that a paused run that lost its lease cannot commit a stale translation
// over its successor's.
func openFencedClients(ctx context.Context, cfg *config.Config, log *slog.Logger, fence *kafka.Fence) (*clients, error) {
	b := &kafka.Builder{Logger: log, Fence: fence}
	src, err := b.Client(ctx, kafka.Source, cfg.Source)
	if err != nil {
		return nil, err
	}
	if err := kafka.Ping(ctx, kafka.Source, cfg.Source, src); err != nil {
		src.Close()
		return nil, err
	}
	tgt, err := b.Client(ctx, kafka.Target, cfg.Target)
	if err != nil {
		src.Close()
		return nil, err
	}
	if err := kafka.Ping(ctx, kafka.Target, cfg.Target, tgt); err != nil {
		src.Close()
		tgt.Close()
		return nil, err
	}
	return &clients{cfg: cfg, builder: b, src: src, tgt: tgt, srcAdm: kadm.NewClient(src), tgtAdm: kadm.NewClient(tgt)}, nil
}

func (c *clients) close() {
	c.src.Close()
	c.tgt.Close()
}

// store returns the migration's state store on the target.
func (c *clients) store() *state.Store {
	return state.NewStore(c.tgt, c.cfg.Migration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return c.builder.Client(ctx, kafka.Target, c.cfg.Target, opts...)
	})
}

// loadState reads the migration's state, failing clearly when there is none.
func (c *clients) loadState(ctx context.Context) (*state.State, error) {
	s := c.store()
	ok, err := s.Exists(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("migration %s has no state on the target (topic %s): run `kmigrate run` first", c.cfg.Migration, s.Topic())
	}
	return s.Load(ctx)
}

func renderGroups(stdout io.Writer, out *output, rep *groups.Report) error {
	w, closeOut, err := out.writer(stdout)
	if err != nil {
		return err
	}
	err = out.render(w, rep, func(w io.Writer) error { return groupsText(w, rep) }, func(w io.Writer) error { return groupsMarkdown(w, rep) })
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	return err
}

func groupsSummary(rep *groups.Report) string {
	return fmt.Sprintf("%d groups, %d partitions: %s", rep.Groups, len(rep.Rows), statusCounts(rep))
}

// statusCounts counts rows per status; stopped and error appear only when
// some row has them.
func statusCounts(rep *groups.Report) string {
	c := rep.Counts()
	var parts []string
	for _, st := range groups.Statuses() {
		if c[st] > 0 || (st != groups.Stopped && st != groups.Failed) {
			parts = append(parts, fmt.Sprintf("%d %s", c[st], st))
		}
	}
	return strings.Join(parts, ", ")
}

func groupsText(w io.Writer, rep *groups.Report) error {
	fmt.Fprintln(w, groupsSummary(rep))
	for _, e := range rep.Errors {
		fmt.Fprintln(w, "error:", e)
	}
	if len(rep.Rows) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPART\tSRC COMMITTED\tSRC END\tTRANSLATED\tTGT COMMITTED\tTGT END\tSRC LAG\tTGT LAG\tSTATUS\tREASON")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Group, r.Topic, r.Partition,
			r.SourceCommitted, r.SourceEnd, offsetOrDash(r.Translated), offsetOrDash(r.TargetCommitted), r.TargetEnd,
			r.SourceLag, r.TargetLag, r.Status, r.Reason)
	}
	return tw.Flush()
}

func groupsMarkdown(w io.Writer, rep *groups.Report) error {
	fmt.Fprintf(w, "## Consumer groups\n\n%s\n\n", groupsSummary(rep))
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "- error: %s\n", e)
	}
	if len(rep.Rows) == 0 {
		return nil
	}
	fmt.Fprintln(w, "| group | topic | partition | source committed | source end | translated | target committed | target end | status | reason |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %s | %s | %d | %s | %s |\n", mdEscape(r.Group), mdEscape(r.Topic), r.Partition,
			r.SourceCommitted, r.SourceEnd, offsetOrDash(r.Translated), offsetOrDash(r.TargetCommitted), r.TargetEnd, r.Status, mdEscape(r.Reason))
	}
	return nil
}

func offsetOrDash(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
