package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/quotas"
)

func newQuotasCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quotas",
		Short: "Copy client quotas to the target, user names mapped",
		Long: `quotas copies the source's client quotas (user, client-id and user+client-id,
defaults included) to the target. User names go through the principal mapping
of the acls section ("User:name"); client ids stay. IP quotas are not copied.
Each quota is one row: add, update (the target has another value; the
source's wins), present, skipped or extra (on the target only: left alone).`,
		Example: `  kmigrate quotas plan -c migration.yaml
  kmigrate quotas sync -c migration.yaml --dry-run
  kmigrate quotas sync -c migration.yaml --format json`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newQuotasVerbCmd(g, false), newQuotasVerbCmd(g, true))
	return cmd
}

func newQuotasVerbCmd(g *globals, sync bool) *cobra.Command {
	var out output
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what quotas sync would do, changing nothing",
		Long: `Plan prints one row per quota; --format json prints one document (schema
kmigrate.quotas/v1). Exit status 0 when both clusters' quotas could be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			env, err := g.openBoth(cmd.Context())
			if err != nil {
				return err
			}
			defer env.close()
			p, err := quotas.MakePlan(cmd.Context(), env.cfg, env.src, env.tgt)
			if err != nil {
				return err
			}
			failed := 0
			if sync && !dryRun {
				failed = quotas.Sync(cmd.Context(), env.tgt, p)
			}
			w, closeOut, err := out.writer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			err = out.render(w, p, func(w io.Writer) error { return quotasText(w, p) }, nil)
			if cerr := closeOut(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write quotas report: %w", err)
			}
			if failed > 0 {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("quotas sync: %d of the quotas could not be set (see the failed rows)", failed)}
			}
			return nil
		},
	}
	if sync {
		cmd.Use = "sync"
		cmd.Short = "Set the source's client quotas on the target"
		cmd.Long = `Sync sets the plan's add and update rows on the target and prints every row
with its outcome (set or failed). With --dry-run it prints the plan and changes
nothing. Exit status 1 when any quota could not be set.`
		cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan, set nothing")
	}
	out.register(cmd, formatText, formatJSON)
	out.registerOut(cmd)
	return cmd
}

func quotasText(w io.Writer, p *quotas.Plan) error {
	var counts []string
	for _, s := range []string{quotas.StatusAdd, quotas.StatusUpdate, quotas.StatusSet, quotas.StatusFailed, quotas.StatusPresent, quotas.StatusSkipped, quotas.StatusExtra} {
		if n := p.Summary[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(counts) == 0 {
		counts = []string{"no client quota on either side"}
	}
	fmt.Fprintf(w, "client quotas of migration %s: %s\n", p.Migration, strings.Join(counts, ", "))
	if len(p.Rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tENTITY\tKEY\tVALUE\tSOURCE ENTITY\tREASON")
	for _, r := range p.Rows {
		q, from := r.Target, "-"
		if q == nil {
			q = r.Source
		} else if r.Source != nil && r.Source.Entity != q.Entity {
			from = r.Source.Entity
		}
		reason := r.Reason
		if r.TargetValue != nil {
			reason += " (target had " + quotas.FormatValue(*r.TargetValue) + ")"
		}
		if r.Error != "" {
			reason = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Status, q.Entity, q.Key, quotas.FormatValue(q.Value), from, reason)
	}
	return tw.Flush()
}
