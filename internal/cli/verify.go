package cli

import (
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/progress"
	"github.com/kmigrate/kmigrate/internal/verify"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var out output
	var mode, topics string
	var samples, workers int
	var seed int64
	var waitFor time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove the copy is complete and intact: counts, SHA-256 checks, compacted state, group offsets",
		Long: `Verify compares the target with the source through the migration's exact offset
map, read from the state on the target (so it works whether or not run is alive),
and prints PASS or FAIL per check, with details for failures only:

  coverage   every selected partition was copied; nothing was lost to retention
  counts     records per partition over the copied range: source, map and target
             agree (exact: where the source has gaps, it is counted by reading);
             records past the last checkpoint must be the next source records
  sample     SHA-256 of the first, the last and --samples random records of each
             partition, source against target (--mode sample, the default)
  full       SHA-256 of every record on both sides; the first diverging offset of
             each partition (--mode full; throughput shown)
  compacted  latest state per key of compacted topics at the checkpoint: missing,
             extra and different keys, with examples
  groups     for each translated consumer-group partition, the next record on the
             source and on the target hash the same and the lags agree
  schemas    (with a schemas section) every Confluent wire-format schema id in
             the target's records resolves on the target registry to the same
             schema as on the source, compared in canonical form

The hash covers key, value, headers and timestamp in a canonical, versioned,
length-prefixed encoding; a mismatch names what differs.

Each check, and the verification, is PASS, PENDING or FAIL. PENDING is for
what heals by itself on a live migration (a group committed past the copy, a
target group the next translation pass moves): nothing is wrong, but the copy
is not complete yet. --wait D verifies again every few seconds while the result
is PENDING, up to D, and reports the last result.

Exit status: 0 PASS, 1 FAIL (or verify could not run), 2 PENDING.`,
		Example: `  kmigrate verify -c migration.yaml
  kmigrate verify -c migration.yaml --mode full --topics 'orders.*'
  kmigrate verify -c migration.yaml --format markdown --out verify-report.md
  kmigrate verify -c migration.yaml --wait 2m   # on a live migration: until it settles`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			m, err := verify.ParseMode(mode)
			if err != nil {
				return fmt.Errorf("--%w", err)
			}
			filter, err := topicFilter(topics)
			if err != nil {
				return err
			}
			opts := verify.Options{Mode: m, Samples: samples, Topics: filter, Seed: seed, Workers: workers}
			var bar *progress.Bar
			if m == verify.ModeFull {
				// On standard error: standard output carries the report.
				bar = progress.New(cmd.ErrOrStderr(), progress.Options{Title: "verify full", Unit: "records"})
				opts.Progress = bar
			}
			log, err := g.loggerWith(bar)
			if err != nil {
				return err
			}
			cfg, err := config.Load(g.configFile)
			if err != nil {
				return err
			}
			v := verify.New(cfg, &kafka.Builder{Logger: log}, log)
			ctx, cancel := out.context(cmd.Context())
			defer cancel()
			deadline := time.Now().Add(waitFor)
			var rep *verify.Report
			for {
				rep, err = v.Verify(ctx, opts)
				if err != nil {
					break
				}
				left := time.Until(deadline)
				if rep.Result != verify.ResultPending || left <= 0 {
					break
				}
				pause := min(verifyRetry, left)
				log.Info("verify: PENDING; verifying again", "pending_items", pendingItems(rep), "in", pause.String(), "wait_left", left.Round(time.Second).String())
				if !wait(ctx, pause) {
					break // interrupted: the last report stands
				}
			}
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return fmt.Errorf("verify migration %s: %w", cfg.Migration, err)
			}
			w, closeOut, err := out.writer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			err = out.render(w, rep, rep.WriteText, rep.WriteMarkdown)
			if cerr := closeOut(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write verify report: %w", err)
			}
			if out.outFile != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "verify: %s; report written to %s\n", rep.Result, out.outFile)
			}
			return verifyExit(rep)
		},
	}
	out.register(cmd, 0)
	f := cmd.Flags()
	f.StringVar(&mode, "mode", string(verify.ModeSample), "how deeply records are compared: counts, sample or full")
	f.IntVar(&samples, "samples", 10, "random records per partition in sample mode, besides the first and the last")
	f.StringVar(&topics, "topics", "", "verify only the selected source topics this regular expression matches (anchored, like topics.include)")
	f.Int64Var(&seed, "seed", 0, "seed of the random samples, to repeat a run (0: random; the report shows it)")
	f.IntVar(&workers, "workers", 0, "goroutines hashing per cluster (0: one per CPU)")
	f.DurationVar(&waitFor, "wait", 0, "while the result is PENDING, verify again every few seconds up to this long (0: once)")
	return cmd
}

// topicFilter compiles a --topics pattern, anchored like the configuration's
// selections; nil when empty.
func topicFilter(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("--topics %q: %w", pattern, err)
	}
	return re, nil
}

// Exit codes of verify.
const (
	exitVerifyFail    = 1
	exitVerifyPending = 2
)

// verifyRetry is the pause between two verifications under --wait.
const verifyRetry = 3 * time.Second

// verifyExit is the exit of a verification: 0 PASS, 1 FAIL, 2 PENDING.
func verifyExit(rep *verify.Report) error {
	switch rep.Result {
	case verify.ResultPass:
		return nil
	case verify.ResultPending:
		return &ExitError{Code: exitVerifyPending}
	}
	return &ExitError{Code: exitVerifyFail}
}

// pendingItems counts the pending items of rep.
func pendingItems(rep *verify.Report) int {
	n := 0
	for _, c := range rep.Checks {
		n += c.Pending
	}
	return n
}
