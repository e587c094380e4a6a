package replicate

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// writeBaseline takes the baseline at the first run, when the state holds
// none: the source start and end (last stable) offsets of every selected
// partition, and each topic's size on its leaders. Status measures progress
// against it. A later run keeps the first baseline.
func (e *Engine) writeBaseline(ctx context.Context, st *state.State) error {
	if st.Baseline != nil {
		return nil
	}
	topics, err := scope.SourceTopics(ctx, e.srcAdm, &e.cfg.Topics)
	if err != nil {
		return err
	}
	b := &state.Baseline{
		TakenMilli:   e.now().UnixMilli(),
		EndOffsets:   map[string]map[int32]int64{},
		StartOffsets: map[string]map[int32]int64{},
	}
	if names := topics.Names(); len(names) > 0 {
		starts, err := e.srcAdm.ListStartOffsets(ctx, names...)
		if err != nil {
			return fmt.Errorf("list source start offsets for the baseline: %w", err)
		}
		ends, err := e.srcAdm.ListCommittedOffsets(ctx, names...)
		if err != nil {
			return fmt.Errorf("list source end offsets for the baseline: %w", err)
		}
		for _, l := range []struct {
			from kadm.ListedOffsets
			into map[string]map[int32]int64
		}{{starts, b.StartOffsets}, {ends, b.EndOffsets}} {
			l.from.Each(func(o kadm.ListedOffset) {
				if o.Err != nil {
					return
				}
				if l.into[o.Topic] == nil {
					l.into[o.Topic] = map[int32]int64{}
				}
				l.into[o.Topic][o.Partition] = o.Offset
			})
		}
		b.Bytes = e.topicBytes(ctx, topics)
	}
	rec, err := state.BaselineRecord(e.cfg.Migration, b)
	if err != nil {
		return err
	}
	if err := e.store.Write(ctx, []*kgo.Record{rec}); err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	st.Baseline = b
	return nil
}

// topicBytes sums, per topic, the size of each partition on its leader; nil
// when the brokers do not say (sizes are informative, never required).
func (e *Engine) topicBytes(ctx context.Context, topics kadm.TopicDetails) map[string]int64 {
	set := kadm.TopicsSet{}
	set.MergeTopics(topics.Names())
	dirs, err := e.srcAdm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		e.log.Debug("describe source log dirs for the baseline sizes", "err", err)
		return nil
	}
	out := map[string]int64{}
	for name, d := range topics {
		for p, pd := range d.Partitions {
			if part, ok := dirs[pd.Leader].LookupPartition(name, p); ok {
				out[name] += part.Size
			}
		}
	}
	return out
}
