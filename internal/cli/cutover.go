package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/cutover"
	"github.com/kmigrate/kmigrate/internal/kafka"
)

func newCutoverCmd(g *globals) *cobra.Command {
	var opts cutover.Options
	var yes, abort bool
	var report string
	cmd := &cobra.Command{
		Use:   "cutover",
		Short: "Switch the migration to the target: freeze, drain, translate, verify, seal; GO or NO-GO",
		Long: `Cutover walks the switch from the source to the target as steps, each with a
gate that must pass, while ` + "`kmigrate run`" + ` keeps copying:

  1. preflight  every selected topic on the target with the same partitions, no
                partition stopped, lag under --max-lag, a sample verification
                without failure, ACLs readable for --fence-source, one live run
  2. freeze     the source producers stopped: every end offset unchanged for
                --quiet-period and no open transaction (NO-GO after
                --freeze-timeout, listing the partitions still moving and their
                producer ids); --fence-source first adds DENY WRITE ACLs on the
                selected source topics for every principal but kmigrate's
  3. drain      the copy checkpointed up to the frozen end offsets: zero lag
  4. consumers  the selected source groups have no members (NO-GO after
                --consumers-timeout, listing member ids, client ids and hosts)
  5. groups     one last translation pass: every group partition in sync
  6. verify     counts, SHA-256 sample, compacted state and groups all PASS
  7. seal       the copy stops for good: the run flushes, checkpoints and exits,
                no kmigrate process copies the migration forward again, and the
                target ends exactly at the drained offsets
  8. report     GO or NO-GO with every figure (--report FILE: .json or .md)

Each step's progress is persisted in the migration's state topic, so a re-run
after kill -9 or a lost terminal resumes where the last one stopped. A NO-GO
removes what the cutover added (ACLs, the seal) and leaves the copy running;
--abort does the same for a cutover in progress, or after a GO as long as no
application wrote to the target yet. --dry-run runs every check and changes
nothing (no fence, no commit, no seal).

With --reverse, the same steps cut the reverse migration over (the way back to
the source after a GO, fed by ` + "`kmigrate run --reverse`" + `).

Exit status 0 on GO, 2 on NO-GO, 1 when the cutover could not run.`,
		Example: `  kmigrate cutover -c migration.yaml --dry-run
  kmigrate cutover -c migration.yaml --fence-source --report cutover.md
  kmigrate cutover -c migration.yaml --abort --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if report != "" {
				if ext := strings.ToLower(filepath.Ext(report)); ext != ".json" && ext != ".md" {
					return fmt.Errorf("--report %s: the file name must end in .json or .md", report)
				}
			}
			if abort && opts.DryRun {
				return errors.New("--abort and --dry-run exclude each other")
			}
			log, cfg, err := g.setup()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			opts.Out = out
			if !opts.DryRun && !yes {
				what := "cut over"
				if abort {
					what = "abort the cutover of"
				}
				fmt.Fprintf(out, "this will %s migration %s on both clusters; type the migration name (%s) to confirm: ", what, cfg.Migration, cfg.Migration)
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(line) != cfg.Migration {
					return fmt.Errorf("cutover of %s: not confirmed (or pass --yes); nothing changed", cfg.Migration)
				}
			}
			b := &kafka.Builder{Logger: log}
			var rec *cutover.Record
			if abort {
				rec, err = cutover.Abort(cmd.Context(), cfg, b, log, opts)
			} else {
				rec, err = cutover.Run(cmd.Context(), cfg, b, log, opts)
			}
			if rec != nil {
				fmt.Fprintln(out)
				_ = rec.WriteText(out)
				if report != "" {
					if werr := writeCutoverReport(report, rec); werr != nil {
						return werr
					}
					fmt.Fprintf(out, "report written to %s\n", report)
				}
			}
			if errors.Is(err, cutover.ErrNoGo) {
				return &ExitError{Code: 2, Msg: err.Error()}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.DryRun, "dry-run", false, "run every check, change nothing")
	f.BoolVar(&opts.FenceSource, "fence-source", false, "add DENY WRITE ACLs on the selected source topics during the freeze (removed by --abort or a NO-GO)")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&abort, "abort", false, "undo the cutover: remove its ACLs, lift the seal")
	f.StringVar(&report, "report", "", "write the report to this file: JSON (.json) or Markdown (.md)")
	f.DurationVar(&opts.QuietPeriod, "quiet-period", 0, "how long the source end offsets must stay unchanged (default 10s)")
	f.DurationVar(&opts.FreezeTimeout, "freeze-timeout", 0, "NO-GO when the source producers did not stop within this (default 5m)")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", 0, "NO-GO when the copy did not reach the frozen offsets within this (default 5m)")
	f.DurationVar(&opts.ConsumersTimeout, "consumers-timeout", 0, "NO-GO when source groups still have members after this (default 5m)")
	f.DurationVar(&opts.SealTimeout, "seal-timeout", 0, "NO-GO when the run did not stop within this of the seal (default 1m)")
	f.Int64Var(&opts.MaxLag, "max-lag", 0, "preflight lag threshold in records (default 100000)")
	f.StringVar(&opts.RunURL, "run-url", "", "base URL of the live run's HTTP server (default: from http.listen)")
	return cmd
}

func writeCutoverReport(path string, rec *cutover.Record) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	var w io.Writer = f
	if strings.EqualFold(filepath.Ext(path), ".json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(rec)
	} else {
		err = rec.WriteMarkdown(w)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	return nil
}
