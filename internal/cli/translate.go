package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/translate"
)

func newTranslateCmd(g *globals) *cobra.Command {
	var format string
	var topic, batch string
	var partition int32
	var offset int64
	cmd := &cobra.Command{
		Use:   "translate",
		Short: "Translate source offsets kept outside Kafka (checkpoints, sink tables) to the target",
		Long: `Translate maps source positions to target positions through the exact offset
map kmigrate keeps in its state topic on the target, so it works whether or not
'kmigrate run' is running. A position is the next offset to read, as consumers
commit it and as Flink and Spark checkpoint it.

One position: --topic, --partition and --offset. Many: --batch - reads standard
input (or --batch FILE), one query per line, as JSON
({"topic":"orders","partition":0,"offset":42}) or CSV (orders,0,42; a header
line topic,partition,offset is skipped).

Each answer has topic, partition, offset, target_topic, target_offset and a
status with its reason:
  exact              resume at target_offset: no duplicate, no skip
  approximate        the map was coarsened: up to max_duplicates re-read, none skipped
  pending            beyond what is copied; no target offset yet, ask again later
  behind-retention   records before the position were deleted on the source before
                     they were copied; target_offset holds the next copied record
  not-migrated       the topic is not selected
  unknown-partition  the partition has no offset map
  invalid            the query (or input line) is not a position

--format json prints one JSON object per answer and line (JSON lines). Exit
status 0 when every answer is exact or approximate, 1 otherwise.`,
		Example: `  kmigrate translate -c migration.yaml --topic orders --partition 3 --offset 1200345
  printf 'orders,0,42\norders,1,97\n' | kmigrate translate -c migration.yaml --batch - --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != formatText && format != formatJSON {
				return fmt.Errorf("--format %q: use one of text, json", format)
			}
			single := cmd.Flags().Changed("topic") || cmd.Flags().Changed("partition") || cmd.Flags().Changed("offset")
			var lines []translate.Line
			switch {
			case batch != "" && single:
				return fmt.Errorf("--batch: give either --batch or --topic, --partition and --offset")
			case batch != "":
				in, closeIn, err := openInput(cmd, batch)
				if err != nil {
					return err
				}
				lines, err = translate.ReadBatch(in)
				closeIn()
				if err != nil {
					return err
				}
			case topic == "" || !cmd.Flags().Changed("partition") || !cmd.Flags().Changed("offset"):
				return fmt.Errorf("--topic, --partition and --offset are required (or --batch)")
			default:
				lines = []translate.Line{{Query: translate.Query{Topic: topic, Partition: partition, Offset: offset}}}
			}
			tr, err := stateTranslator(cmd.Context(), g)
			if err != nil {
				return err
			}
			answers := tr.Batch(lines)
			if err := writeAnswers(cmd.OutOrStdout(), format, answers); err != nil {
				return fmt.Errorf("write translations: %w", err)
			}
			bad := 0
			for _, a := range answers {
				if !a.OK() {
					bad++
				}
			}
			if bad > 0 {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("translate: %d of %d positions are not exact", bad, len(answers))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", formatText, "output format: text, json (JSON lines)")
	cmd.Flags().StringVar(&topic, "topic", "", "source topic")
	cmd.Flags().Int32Var(&partition, "partition", 0, "source partition")
	cmd.Flags().Int64Var(&offset, "offset", 0, "source position: the next offset to read")
	cmd.Flags().StringVar(&batch, "batch", "", `read queries from this file, "-" for standard input`)
	return cmd
}

// stateTranslator loads the migration's state from the target.
func stateTranslator(ctx context.Context, g *globals) (*translate.Translator, error) {
	log, cfg, err := g.setup()
	if err != nil {
		return nil, err
	}
	b := &kafka.Builder{Logger: log}
	tgt, err := b.Client(ctx, kafka.Target, cfg.Target)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()
	if err := kafka.Ping(ctx, kafka.Target, cfg.Target, tgt); err != nil {
		return nil, err
	}
	env := &clients{cfg: cfg, builder: b, tgt: tgt}
	st, err := env.loadState(ctx)
	if err != nil {
		return nil, err
	}
	return translate.FromState(cfg, st), nil
}

func openInput(cmd *cobra.Command, path string) (io.Reader, func(), error) {
	if path == "-" {
		return cmd.InOrStdin(), func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--batch: %w", err)
	}
	return f, func() { f.Close() }, nil
}

func writeAnswers(w io.Writer, format string, answers []translate.Answer) error {
	if format == formatJSON {
		enc := json.NewEncoder(w)
		for _, a := range answers {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tOFFSET\tTARGET TOPIC\tTARGET OFFSET\tSTATUS\tREASON")
	for _, a := range answers {
		to := "-"
		if a.TargetOffset != nil {
			to = fmt.Sprint(*a.TargetOffset)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", dashIfEmpty(a.Topic), a.Partition, a.Offset, dashIfEmpty(a.TargetTopic), to, a.Status, a.Reason)
	}
	return tw.Flush()
}
