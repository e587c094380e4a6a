package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/acls"
)

func newACLsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acls",
		Short: "Copy the migrated resources' ACLs to the target, principals mapped",
		Long: `acls maps the source's ACLs on what the migration moves (selected topics, with
the rename rule; selected groups; transactional ids; the cluster) to the target,
renaming principals with the acls section of the configuration, and compares
them with the target's ACLs.

Each ACL is one row: add (sync creates it), present, held, duplicate, skipped
(not a migrated resource) or extra (on the target only: left alone, kmigrate
never deletes an ACL it did not create).

ALLOW WRITE on a migrated topic is held until cutover, so that no application
writes to the target by mistake while the source is live; ALLOW ALL on a
migrated topic is created as its operations except WRITE, and the ALL itself is
held. DENY ACLs are created at once.

Principals: every target principal with ACLs, and whether it has a SCRAM
credential on the target. SCRAM credentials cannot be copied (a cluster never
returns them); create the missing ones before the applications move.`,
		Example: `  kmigrate acls plan -c migration.yaml
  kmigrate acls sync -c migration.yaml --dry-run --format json
  kmigrate acls sync -c migration.yaml`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newACLsPlanCmd(g), newACLsSyncCmd(g))
	return cmd
}

func newACLsPlanCmd(g *globals) *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what acls sync would do, changing nothing",
		Long: `Plan prints one row per ACL and one per principal; --format json prints one
document (schema kmigrate.acls/v1). Exit status 0 when both clusters' ACLs could
be read, 1 otherwise.`,
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
			p, err := acls.MakePlan(cmd.Context(), acls.Options{Config: env.cfg, Source: env.src, Target: env.tgt})
			if err != nil {
				return err
			}
			return renderACLs(cmd.OutOrStdout(), &out, p)
		},
	}
	out.register(cmd, formatText, formatJSON)
	out.registerOut(cmd)
	return cmd
}

func newACLsSyncCmd(g *globals) *cobra.Command {
	var out output
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Create the missing ACLs on the target (WRITE on migrated topics held until cutover)",
		Long: `Sync creates the plan's add rows on the target and prints every row with its
outcome (added or failed). Held, present, skipped and extra rows are left as
they are. With --dry-run it prints the plan and changes nothing. Exit status 1
when any ACL could not be created.`,
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
			p, err := acls.MakePlan(cmd.Context(), acls.Options{Config: env.cfg, Source: env.src, Target: env.tgt})
			if err != nil {
				return err
			}
			failed := 0
			if !dryRun {
				failed = acls.Sync(cmd.Context(), env.tgt, p)
			}
			if err := renderACLs(cmd.OutOrStdout(), &out, p); err != nil {
				return err
			}
			if failed > 0 {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("acls sync: %d of the ACLs could not be created (see the failed rows)", failed)}
			}
			return nil
		},
	}
	out.register(cmd, formatText, formatJSON)
	out.registerOut(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan, create nothing")
	return cmd
}

// openBoth loads the configuration and connects to both clusters.
func (g *globals) openBoth(ctx context.Context) (*clients, error) {
	log, cfg, err := g.setup()
	if err != nil {
		return nil, err
	}
	return openClients(ctx, cfg, log)
}

func renderACLs(stdout io.Writer, out *output, p *acls.Plan) error {
	w, closeOut, err := out.writer(stdout)
	if err != nil {
		return err
	}
	err = out.render(w, p, func(w io.Writer) error { return aclsText(w, p) }, nil)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write acls report: %w", err)
	}
	return nil
}

func aclsText(w io.Writer, p *acls.Plan) error {
	var counts []string
	for _, s := range []string{acls.StatusAdd, acls.StatusAdded, acls.StatusFailed, acls.StatusPresent, acls.StatusHeld, acls.StatusDuplicate, acls.StatusSkipped, acls.StatusExtra} {
		if n := p.Summary[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(counts) == 0 {
		counts = []string{"no ACL on either side"}
	}
	fmt.Fprintf(w, "ACLs of migration %s: %s\n\n", p.Migration, strings.Join(counts, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tPERMISSION\tPRINCIPAL\tOPERATION\tRESOURCE\tPATTERN\tNAME\tHOST\tFROM\tREASON")
	for _, r := range p.Rows {
		a := r.Target
		if a == nil {
			a = r.Source
		}
		from := "-"
		if r.Source != nil && r.Target != nil && (r.Source.Principal != r.Target.Principal || r.Source.ResourceName != r.Target.ResourceName || r.Source.Operation != r.Target.Operation) {
			from = r.Source.Principal + " " + r.Source.Operation + " " + r.Source.ResourceName
		}
		reason := r.Reason
		if r.Error != "" {
			reason = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Status, a.Permission, a.Principal, a.Operation, a.ResourceType, a.PatternType, a.ResourceName, a.Host, from, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Principals) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tFROM\tACLS\tSOURCE SCRAM\tTARGET SCRAM\tSTATUS\tREASON")
	for _, pr := range p.Principals {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", pr.Target, strings.Join(pr.Sources, ","), pr.ACLs,
			dashIfEmpty(strings.Join(pr.SourceSCRAM, ",")), dashIfEmpty(strings.Join(pr.TargetSCRAM, ",")), pr.Status, dashIfEmpty(pr.Reason))
	}
	return tw.Flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
