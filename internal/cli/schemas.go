package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/schemas"
)

func newSchemasCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Migrate a Confluent-compatible Schema Registry with schema ids kept",
		Long: `Schemas copies the subjects, versions, schema ids, references and compatibility
levels of the source Schema Registry to the target registry, which is put in
IMPORT mode for the copy so that every id and version stays what it was: the ids
inside the migrated records keep resolving. Soft-deleted versions are copied
(and soft-deleted again) only with schemas.include_deleted.

  plan   what sync would do, and every conflict: a subject version or a schema
         id on the target that holds a different schema. Exit 1 on a conflict.
  sync   does it; a re-run checks what is there and skips it. Exit 1 on a
         conflict, before any change.

A registry is reached through schemas.source.url / schemas.target.url; the
source (or, for plan, the target) may instead be read from its storage topic on
that side's Kafka cluster (schemas.source.topic: _schemas).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSchemasPlanCmd(g, false), newSchemasPlanCmd(g, true))
	return cmd
}

// schemasResult is what plan and sync print.
type schemasResult struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// DryRun is set for plan and sync --dry-run: nothing was changed.
	DryRun bool `json:"dry_run"`
	*schemas.Plan
	// Applied counts the actions sync carried out.
	Applied int `json:"applied"`
	// Remaining counts the actions a fresh plan still finds after sync: 0
	// when the target holds everything.
	Remaining int `json:"remaining"`
}

func newSchemasPlanCmd(g *globals, sync bool) *cobra.Command {
	var out output
	var dryRun bool
	use, short := "plan", "Show what a schema sync would do, and every conflict"
	if sync {
		use, short = "sync", "Copy the schemas to the target registry, ids and versions kept"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Example: `  kmigrate schemas plan -c migration.yaml
  kmigrate schemas sync -c migration.yaml --dry-run --format json
  kmigrate schemas sync -c migration.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			log, cfg, err := g.setup()
			if err != nil {
				return err
			}
			if cfg.Schemas == nil {
				return errors.New("the configuration has no schemas section")
			}
			res, err := schemasSync(cmd.Context(), log, cfg, sync && !dryRun)
			if res != nil {
				if werr := out.render(cmd.OutOrStdout(), res, res.writeText, nil); werr != nil {
					return fmt.Errorf("write schemas report: %w", werr)
				}
			}
			if err != nil {
				return err
			}
			if !res.OK() {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	out.register(cmd, 0)
	if sync {
		cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be done (as plan does) and change nothing")
	}
	return cmd
}

// schemasSync reads both registries, diffs them and, with apply, carries the
// plan out and plans again to confirm nothing is left.
func schemasSync(ctx context.Context, log *slog.Logger, cfg *config.Config, apply bool) (*schemasResult, error) {
	sc := cfg.Schemas
	b := &kafka.Builder{Logger: log}
	load := func(role kafka.Role, name string, r config.Registry, c config.Cluster) (*schemas.Snapshot, error) {
		return schemas.Load(ctx, name, r, sc.RequestTimeout.Duration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
			return b.Client(ctx, role, c, opts...)
		})
	}
	var target *schemas.Client
	if apply {
		var err error
		if target, err = schemas.NewClient("target", sc.Target, sc.RequestTimeout.Duration); err != nil {
			return nil, err
		}
	}
	src, err := load(kafka.Source, "source", sc.Source, cfg.Source)
	if err != nil {
		return nil, err
	}
	tgt, err := load(kafka.Target, "target", sc.Target, cfg.Target)
	if err != nil {
		return nil, err
	}
	plan := schemas.Diff(src, tgt, sc.IncludeDeleted)
	res := &schemasResult{Source: registryName(sc.Source), Target: registryName(sc.Target), DryRun: !apply, Plan: plan}
	log.Info("schemas planned", "source_versions", len(src.Versions), "target_versions", len(tgt.Versions),
		"actions", len(plan.Actions), "conflicts", len(plan.Conflicts))
	if !apply || !plan.OK() {
		return res, nil
	}
	res.Applied, err = schemas.Apply(ctx, plan, target)
	if err != nil {
		return res, fmt.Errorf("sync schemas: %w", err)
	}
	if tgt, err = load(kafka.Target, "target", sc.Target, cfg.Target); err != nil {
		return res, err
	}
	again := schemas.Diff(src, tgt, sc.IncludeDeleted)
	res.Remaining = len(again.Actions)
	res.Conflicts = again.Conflicts
	log.Info("schemas synced", "applied", res.Applied, "remaining", res.Remaining)
	if res.Remaining > 0 {
		return res, fmt.Errorf("sync schemas: %d actions still needed after the sync; the target registry did not keep what it was given (run plan to see them)", res.Remaining)
	}
	return res, nil
}

func registryName(r config.Registry) string {
	if r.URL != "" {
		return r.URL
	}
	return "topic " + r.Topic
}

func (r *schemasResult) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "source registry:\t%s\n", r.Source)
	fmt.Fprintf(tw, "target registry:\t%s\n", r.Target)
	fmt.Fprintf(tw, "versions:\t%d considered, %d already on the target, %d soft-deleted left out\n", r.Versions, r.Present, r.SkippedDeleted)
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := "to do"
	if !r.DryRun {
		verb = "done"
	}
	if len(r.Actions) == 0 {
		fmt.Fprintln(w, "\nnothing to do: the target holds every source version with the same id and schema")
	} else {
		fmt.Fprintf(w, "\n%d actions %s:\n", len(r.Actions), verb)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tSUBJECT\tVERSION\tID\tDETAIL")
		for _, a := range r.Actions {
			v, id := "-", "-"
			if a.Version > 0 {
				v, id = fmt.Sprint(a.Version), fmt.Sprint(a.ID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Kind, orDash(a.Subject), v, id, a.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !r.DryRun {
		fmt.Fprintf(w, "\napplied %d actions; a fresh plan finds %d left\n", r.Applied, r.Remaining)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if len(r.Conflicts) > 0 {
		fmt.Fprintf(w, "\nFAIL: %d conflicts (sync makes no change while there is one):\n", len(r.Conflicts))
		for _, c := range r.Conflicts {
			fmt.Fprintln(w, "  "+c.Message)
		}
		return nil
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
