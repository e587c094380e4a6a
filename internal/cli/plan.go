package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/inventory"
	"github.com/kmigrate/kmigrate/internal/kafka"
)

// exitBlockers is plan's exit status when the plan has a blocker.
const exitBlockers = 2

func newPlanCmd(g *globals) *cobra.Command {
	var out output
	var rateFlag string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Compare source and target: what run will create, and what stands in its way",
		Long: `Plan compares the selected source topics and groups with the target, changing
neither cluster, and reports what run will create on the target (name,
partitions, replication factor, configs) and every problem, with a severity.

Blockers (run would refuse or fail):
  partition-count-differs  a target topic exists with another partition count
  foreign-data             a target partition holds records kmigrate did not write
  state-mismatch           kmigrate's state says it wrote records the target lost
  cannot-read-source       the source principal may not read a selected topic or group
  cannot-create-target     the target refuses to create a topic (permission or spec;
                           checked with CreateTopics validate_only)
  cannot-write-target      the target principal may not write or configure a topic

Warnings (the migration runs; know what it means):
  rf-capped                source replication factor above the target's broker count
  min-insync-above-rf      min.insync.replicas above the replication factor it gets
  max-message-bytes-lower  target max.message.bytes below the source's
  log-append-time          target message.timestamp.type=LogAppendTime
  cleanup-policy-differs   target cleanup.policy differs from the source's
  retention-before-copy    source retention deletes records before the copy gets there

The retention check assumes all partitions are copied at once, sharing one copy
rate, and asks the source (ListOffsets by timestamp) which records will be older
than retention.ms at each moment of the copy. The rate is --assumed-rate, else
replication.max_bytes_per_second, else 20 MiB/s. Pass the rate you measured.

--format json prints one document (schema kmigrate.plan/v1) with one row per
finding, topic and group. Exit status 0 when there is no blocker, 2 when there is
one, 1 when a cluster could not be reached.`,
		Example: `  kmigrate plan -c migration.yaml
  kmigrate plan -c migration.yaml --assumed-rate 50MiB --format markdown --out plan.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			log, cfg, err := g.setup()
			if err != nil {
				return err
			}
			rate := inventory.CopyRate{BytesPerSecond: inventory.DefaultAssumedRate, Origin: "default"}
			switch {
			case rateFlag != "":
				n, err := parseRate(rateFlag)
				if err != nil {
					return err
				}
				rate = inventory.CopyRate{BytesPerSecond: n, Origin: "--assumed-rate"}
			case cfg.Replication.MaxBytesPerSecond > 0:
				rate = inventory.CopyRate{BytesPerSecond: cfg.Replication.MaxBytesPerSecond, Origin: "replication.max_bytes_per_second"}
			}
			ctx, cancel := out.context(cmd.Context())
			defer cancel()
			b := &kafka.Builder{Logger: log}
			src, err := b.Client(ctx, kafka.Source, cfg.Source)
			if err != nil {
				return err
			}
			defer src.Close()
			if err := kafka.Ping(ctx, kafka.Source, cfg.Source, src); err != nil {
				return err
			}
			tgt, err := b.Client(ctx, kafka.Target, cfg.Target)
			if err != nil {
				return err
			}
			defer tgt.Close()
			if err := kafka.Ping(ctx, kafka.Target, cfg.Target, tgt); err != nil {
				return err
			}
			plan, err := inventory.MakePlan(ctx, inventory.PlanOptions{
				Config: cfg, Source: src, Target: tgt, Rate: rate,
				NewTargetReader: func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
					return b.Client(ctx, kafka.Target, cfg.Target, opts...)
				},
			})
			if err != nil {
				return fmt.Errorf("plan migration %s: %w", cfg.Migration, err)
			}
			w, closeOut, err := out.writer(cmd.OutOrStdout())
			if err != nil {
				return err
			}
			rerr := out.render(w, plan, plan.WriteText, plan.WriteMarkdown)
			if cerr := closeOut(); rerr == nil && cerr != nil {
				rerr = fmt.Errorf("close report file: %w", cerr)
			}
			if rerr != nil {
				return fmt.Errorf("write plan report: %w", rerr)
			}
			if !plan.Summary.Ready {
				return &ExitError{Code: exitBlockers, Msg: fmt.Sprintf("plan of migration %s: %s", cfg.Migration, plan.Verdict())}
			}
			return nil
		},
	}
	out.register(cmd, 5*time.Minute)
	cmd.Flags().StringVar(&rateFlag, "assumed-rate", "", "copy rate the retention check assumes, bytes per second with an optional unit: 50MiB, 100MB, 1GiB (default replication.max_bytes_per_second, else 20MiB)")
	return cmd
}

// parseRate reads a rate in bytes per second: a number with an optional decimal
// (KB, MB, GB) or binary (KiB, MiB, GiB) unit and an optional "/s".
func parseRate(s string) (int64, error) {
	v := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f*mult < 1 {
		return 0, fmt.Errorf("--assumed-rate %q: want a positive number of bytes per second, optionally with a unit (50MiB, 100MB)", s)
	}
	return int64(f * mult), nil
}
