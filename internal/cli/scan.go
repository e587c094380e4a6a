package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/progress"
)

func newScanCmd(g *globals) *cobra.Command {
	var out output
	var cluster string
	var includeInternal bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Take inventory of one cluster: brokers, quorum, topics, groups, ACLs",
		Long: `Scan takes a read-only inventory of the source or the target cluster: brokers
and racks, the active controller and the KRaft quorum, every topic with its
partitions, replication factor, leader, replicas and ISR (under-replicated and
offline partitions flagged), the configs that differ from the broker defaults and
where each value comes from, compacted topics, earliest and latest offsets, records
stored, size on disk, leaders per broker, consumer groups with their committed
offsets and lag, and the ACLs when an authorizer is present.

The report starts with a summary. What the principal may not see (a refused
request, an unsupported one) is listed under "Not visible" instead of failing the
scan. Records stored is latest minus earliest offset: an upper bound, marked ≤,
where compaction or transactions leave gaps.

On the source, topics and groups are marked when the migration's selection picks
them, and groups that read topics outside the selection are named.
The baseline that progress is measured against is not a scan: 'kmigrate run'
takes it at its first start and keeps it in the migration's state topic.

--format json prints the whole inventory as one document (schema kmigrate.scan/v1)
with one row per broker, topic, partition, group, committed offset and ACL.
Exit status 0 when the scan completed, 1 when a cluster could not be reached.`,
		Example: `  kmigrate scan -c migration.yaml --cluster source
  kmigrate scan -c migration.yaml --cluster target --format markdown --out target.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			role, err := parseRole(cluster)
			if err != nil {
				return err
			}
			// On standard error: standard output carries the report.
			bar := progress.New(cmd.ErrOrStderr(), progress.Options{Title: "scan " + string(role), Unit: "requests"})
			log, err := g.loggerWith(bar)
			if err != nil {
				return err
			}
			cfg, err := config.Load(g.configFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			cc := cfg.Source
			opts := inventory.Options{Role: role, IncludeInternal: includeInternal, Progress: bar}
			if role == kafka.Source {
				opts.Topics, opts.Groups = &cfg.Topics, &cfg.Groups
			} else {
				cc = cfg.Target
			}
			b := &kafka.Builder{Logger: log}
			cl, err := b.Client(ctx, role, cc)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := kafka.Ping(ctx, role, cc, cl); err != nil {
				return err
			}
			snap, err := inventory.Scan(ctx, cl, opts)
			bar.Finish()
			if err != nil {
				return err
			}
			w, closeOut, err := out.writer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			rerr := out.render(w, snap, snap.WriteText, snap.WriteMarkdown)
			if cerr := closeOut(); rerr == nil && cerr != nil {
				rerr = fmt.Errorf("close report file: %w", cerr)
			}
			if rerr != nil {
				return fmt.Errorf("write scan report: %w", rerr)
			}
			return nil
		},
	}
	out.register(cmd, formatText, formatJSON, formatMarkdown)
	out.registerOut(cmd)
	cmd.Flags().StringVar(&cluster, "cluster", "source", "which cluster to scan: source or target")
	cmd.Flags().BoolVar(&includeInternal, "include-internal", false, "also list internal topics (Kafka's __* and kmigrate's _kmigrate*), flagged")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long the whole scan may take")
	return cmd
}

func parseRole(s string) (kafka.Role, error) {
	switch kafka.Role(s) {
	case kafka.Source, kafka.Target:
		return kafka.Role(s), nil
	}
	return "", fmt.Errorf("--cluster %q: use source or target", s)
}
