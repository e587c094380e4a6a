package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/verify"
)

func newStatusCmd(g *globals) *cobra.Command {
	var out output
	var watch bool
	var interval time.Duration
	var topics string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show progress against the baseline, lag in records and seconds, rate and ETA",
		Long: `Status shows whether a run of the migration is alive (a live member in its
writer group on the source) and, per topic and partition with totals on top, the
phase (not-started, catching-up, following, stopped, failed), the baseline end offset
(the source end at the first run), the source end, the source position copied up
to, the target end, the lag in records and in seconds (the age of the oldest
record not yet copied), the share of the baseline copied, the copy rate and the
time to catch up, and any data lost to source retention before it was copied.

It reads the migration's state on the target and both clusters' offsets, so it
works while run is running and after it stopped. Rates come from two samples
--interval apart (0: one sample, no rates); --watch keeps sampling until
interrupted. Exit status 1 when a partition failed or data was lost.`,
		Example: `  kmigrate status -c migration.yaml
  kmigrate status -c migration.yaml --watch --interval 10s
  kmigrate status -c migration.yaml --format json --interval 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if interval < 0 || (watch && interval == 0) {
				return fmt.Errorf("--interval %s: must be positive (with --watch) or 0", interval)
			}
			filter, err := topicFilter(topics)
			if err != nil {
				return err
			}
			log, cfg, err := g.setup()
			if err != nil {
				return err
			}
			v := verify.New(cfg, &kafka.Builder{Logger: log}, log)
			ctx, cancel := out.context(cmd.Context())
			defer cancel()
			stdout, closeOut, err := out.writer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer closeOut()
			// Every sample is kept: the rates come from the first and the last.
			hist := status.NewHistory(0, 0)
			sample := func() (*status.Report, error) {
				rep, err := v.Status(ctx, filter, hist)
				if err != nil {
					return nil, fmt.Errorf("status of migration %s: %w", cfg.Migration, err)
				}
				return rep, nil
			}
			rep, err := sample()
			if err != nil {
				return err
			}
			if !watch {
				if interval > 0 {
					if !wait(ctx, interval) {
						return ctx.Err()
					}
					if rep, err = sample(); err != nil {
						return err
					}
				}
				if err := out.render(stdout, rep, rep.WriteText, rep.WriteMarkdown); err != nil {
					return err
				}
				return statusExit(rep)
			}
			for {
				if !wait(ctx, interval) {
					return nil // interrupted: the last sample stands
				}
				next, err := sample()
				if err != nil {
					return err
				}
				rep = next
				if out.format == formatText && isTerminal(stdout) {
					fmt.Fprint(stdout, "\033[H\033[2J") // clear the screen
				}
				if err := out.render(stdout, rep, rep.WriteText, rep.WriteMarkdown); err != nil {
					return err
				}
				if out.format != formatJSON {
					fmt.Fprintln(stdout)
				}
			}
		},
	}
	out.register(cmd, 0)
	f := cmd.Flags()
	f.BoolVar(&watch, "watch", false, "sample every --interval until interrupted")
	f.DurationVar(&interval, "interval", 3*time.Second, "time between the two samples that give rates (0: one sample)")
	f.StringVar(&topics, "topics", "", "show only the selected source topics this regular expression matches (anchored)")
	return cmd
}

// wait waits d and reports false if ctx ended first.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// statusExit fails when a partition failed or lost data.
func statusExit(rep *status.Report) error {
	if rep.Totals.FailedPartitions > 0 || rep.Totals.LostRecords > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
