package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/scope"
)

func newResetCmd(g *globals) *cobra.Command {
	var topic string
	var yes, dryRun bool
	cmd := &cobra.Command{
		Use:   "reset --topic TOPIC",
		Short: "Start one topic's copy over: delete its target topic, its state and its target group offsets",
		Long: `Reset is the way forward when a topic's copy stopped because the source or the
target topic was deleted and recreated under the same name (a new topic id): the
old offset map cannot describe the new topic. Reset deletes the target topic, every
state record of the source topic (offset maps, checkpoints, lost ranges, topic ids)
and the target consumer-group offsets of that topic, so that the next run creates
the target topic again and copies the source topic from its start.

It refuses while a run of the migration is alive, asks for the topic name as
confirmation unless --yes is given, and changes nothing with --dry-run.`,
		Example: `  kmigrate reset -c migration.yaml --topic orders --dry-run
  kmigrate reset -c migration.yaml --topic orders --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, cfg, err := g.setup()
			if err != nil {
				return err
			}
			if topic == "" {
				return errors.New("reset: --topic is required")
			}
			if !scope.Topic(&cfg.Topics, topic) {
				return fmt.Errorf("reset: topic %s is not selected by this migration's topics.include/exclude", topic)
			}
			ctx := cmd.Context()
			env, err := openClients(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer env.close()
			live, err := replicate.LiveWriters(ctx, env.src, cfg.Migration)
			if err != nil {
				return err
			}
			if len(live) > 0 {
				return fmt.Errorf("reset %s: a run of migration %s is alive (%s): stop it first", topic, cfg.Migration, live[0])
			}
			target := scope.TargetTopic(cfg.Replication, topic)
			groups, sets, err := targetGroupsOn(ctx, env.tgtAdm, target)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "reset %s of migration %s:\n  delete target topic %s\n  delete the state records of %s\n  delete the committed offsets of %d target group(s) on %s%s\n",
				topic, cfg.Migration, target, topic, len(groups), target, listed(groups))
			if dryRun {
				fmt.Fprintln(out, "dry run: nothing changed")
				return nil
			}
			if !yes {
				fmt.Fprintf(out, "type the topic name (%s) to confirm: ", topic)
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(line) != topic {
					return fmt.Errorf("reset %s: not confirmed; nothing changed", topic)
				}
			}
			return resetTopic(ctx, env, topic, target, sets, out)
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "source topic to start over (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be deleted and change nothing")
	return cmd
}

func listed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// targetGroupsOn returns, sorted, the target groups with committed offsets on
// topic and those partitions.
func targetGroupsOn(ctx context.Context, adm *kadm.Client, topic string) ([]string, map[string]kadm.TopicsSet, error) {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list target groups: %w", err)
	}
	sets := map[string]kadm.TopicsSet{}
	var names []string
	for name, r := range adm.FetchManyOffsets(ctx, listed.Groups()...) {
		if r.Err != nil {
			return nil, nil, fmt.Errorf("fetch offsets of target group %s: %w", name, r.Err)
		}
		for p := range r.Fetched[topic] {
			set, ok := sets[name]
			if !ok {
				set = kadm.TopicsSet{}
				names = append(names, name)
			}
			set.Add(topic, p)
			sets[name] = set
		}
	}
	sort.Strings(names)
	return names, sets, nil
}

func resetTopic(ctx context.Context, env *clients, topic, target string, groups map[string]kadm.TopicsSet, out io.Writer) error {
	for g, set := range groups {
		resp, err := env.tgtAdm.DeleteOffsets(ctx, g, set)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("delete offsets of target group %s on %s: %w", g, target, err)
		}
	}
	resp, err := env.tgtAdm.DeleteTopic(ctx, target)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("delete target topic %s: %w", target, err)
	}
	n, err := env.store().Forget(ctx, topic)
	if err != nil {
		return fmt.Errorf("delete the state of %s: %w", topic, err)
	}
	fmt.Fprintf(out, "reset %s: target topic %s deleted, %d state records deleted, offsets of %d target group(s) deleted; the next run copies it from the start\n", topic, target, n, len(groups))
	return nil
}
