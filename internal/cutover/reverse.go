package cutover

import (
	"context"

	"fmt"
	"github.com/twmb/franz-go/pkg/kgo"
	"log/slog"
	"regexp"
	"slices"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
)

// ReverseSuffix ends the id of the reverse migration of a migration.
const ReverseSuffix = ".reverse"

// ReverseConfig returns the reverse migration of cfg: the target becomes the
// source and the source the target, under the migration id with ReverseSuffix,
// with the same topic and group selections. It needs the identity rename (the
// reverse copy writes back into the topics the forward copy read).
func ReverseConfig(cfg *config.Config) (*config.Config, error) {
	if cfg.Replication.TopicPrefix != "" || cfg.Replication.TopicSuffix != "" {
		return nil, fmt.Errorf("--reverse needs target topics named like their source topics; replication.topic_prefix %q and topic_suffix %q rename them", cfg.Replication.TopicPrefix, cfg.Replication.TopicSuffix)
	}
	r := *cfg
	r.Migration = cfg.Migration + ReverseSuffix
	r.Source, r.Target = cfg.Target, cfg.Source
	r.ReverseOf = cfg.Migration
	return &r, nil
}

// Reverse is what the reverse copy after a GO needs: where each partition
// continues, and the forward maps that translate consumer positions from
// before the switch back to the source.
type Reverse struct {
	// Config is the reverse migration (ReverseConfig).
	Config *config.Config
	// Start continues every migrated partition: from the target offset where
	// the switch left it, onto the source partition that ends where the
	// freeze left it.
	Start map[replicate.TP]replicate.StartAt
	// Lifted are the DENY WRITE ACLs of the cutover's source fence that would
	// have kept the reverse copy itself from writing (for everyone, or for
	// kmigrate's own principal); they were removed. Applications' principals
	// stay denied.
	Lifted []acls.ACL
	// forward are the forward offset maps; switchAt the target offsets of the
	// switch.
	forward  map[offsetmap.TopicPartition]*offsetmap.Partition
	switchAt map[offsetmap.TopicPartition]int64
}

// PrepareReverse reads the forward migration's cutover, which must have ended
// GO, and returns what the reverse copy needs. cfg is the forward migration.
func PrepareReverse(ctx context.Context, cfg *config.Config, b *kafka.Builder, log *slog.Logger) (*Reverse, error) {
	rcfg, err := ReverseConfig(cfg)
	if err != nil {
		return nil, err
	}
	c, err := open(ctx, cfg, b, log, Options{})
	if err != nil {
		return nil, err
	}
	defer c.close()
	st, rec, err := c.loadRecord(ctx)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Phase != PhaseGo || !rec.Sealed {
		phase := "none"
		if rec != nil {
			phase = rec.Phase
		}
		return nil, fmt.Errorf("--reverse copies back what applications wrote to the target after a cutover that ended GO; migration %s has no such cutover (cutover phase: %s)", cfg.Migration, phase)
	}
	r, err := reverseOf(st, rec)
	if err != nil {
		return nil, err
	}
	// Reverse of the forward selection: exactly the topics the cutover switched.
	rcfg.Topics = config.Selection{}
	for topic := range rec.TargetEnds {
		rcfg.Topics.Include = append(rcfg.Topics.Include, regexp.QuoteMeta(topic))
	}
	slices.Sort(rcfg.Topics.Include)
	if err := rcfg.Topics.Compile(); err != nil {
		return nil, err
	}
	r.Config = rcfg
	own := ownPrincipal(cfg.Source)
	var keep []acls.ACL
	for _, a := range rec.SourceFence {
		if a.Principal == everyone || (own != "" && a.Principal == own) {
			r.Lifted = append(r.Lifted, a)
		} else {
			keep = append(keep, a)
		}
	}
	if len(r.Lifted) > 0 {
		if err := join(acls.Delete(ctx, c.src, r.Lifted)); err != nil {
			return nil, fmt.Errorf("lift the source fence for the reverse copy: %w", err)
		}
		c.rec = rec
		rec.SourceFence = keep
		if err := c.save(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// reverseOf returns the switch points and forward maps of a GO cutover.
func reverseOf(st *state.State, rec *Record) (*Reverse, error) {
	r := &Reverse{Start: map[replicate.TP]replicate.StartAt{},
		forward: map[offsetmap.TopicPartition]*offsetmap.Partition{}, switchAt: map[offsetmap.TopicPartition]int64{}}
	for topic, parts := range rec.TargetEnds {
		for p, end := range parts {
			tp := offsetmap.TopicPartition{Topic: topic, Partition: p}
			frozen, ok := rec.Frozen[topic][p]
			if !ok {
				return nil, fmt.Errorf("cutover %s recorded no frozen source offset for %s[%d]", rec.ID, topic, p)
			}
			r.Start[replicate.TP(tp)] = replicate.StartAt{From: end, TargetEnd: frozen}
			r.switchAt[tp] = end
			if saved := st.Partitions[state.Key(tp)]; saved != nil && saved.Map != nil {
				r.forward[tp] = saved.Map
			}
		}
	}
	return r, nil
}

// loadReverse reads, for a cutover of a reverse migration, the forward
// migration's switch points and maps: its state lives on the reverse
// migration's source cluster.
func (c *cutover) loadReverse(ctx context.Context) (*Reverse, error) {
	fwd := state.NewStore(c.src, c.cfg.ReverseOf, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return c.builder.Client(ctx, kafka.Source, c.cfg.Source, opts...)
	})
	st, err := fwd.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the state of the forward migration %s: %w", c.cfg.ReverseOf, err)
	}
	if st.Cutover == nil {
		return nil, fmt.Errorf("the forward migration %s has no cutover", c.cfg.ReverseOf)
	}
	rec, err := decode(st.Cutover)
	if err != nil {
		return nil, err
	}
	return reverseOf(st, rec)
}

// before translates a position before the switch back through the forward
// map (verify.Options.Before).
func (r *Reverse) before(topic string, partition int32, c int64) (offsetmap.Translation, bool) {
	tp := offsetmap.TopicPartition{Topic: topic, Partition: partition}
	if at, ok := r.switchAt[tp]; ok && c < at {
		if m := r.forward[tp]; m != nil {
			return m.Inverse(c), true
		}
	}
	return offsetmap.Translation{}, false
}

// Translator returns the group translation of the reverse copy: positions at
// or after the switch through the live reverse map, positions before it back
// through the forward map (a consumer that had not reached the switch on the
// target resumes on the source at the same record).
func (r *Reverse) Translator(live groups.Translator) groups.Translator {
	return &reverseTranslator{Translator: live, r: r}
}

type reverseTranslator struct {
	groups.Translator
	r *Reverse
}

func (t *reverseTranslator) Translate(topic string, partition int32, c int64) (offsetmap.Translation, bool) {
	if tr, ok := t.r.before(topic, partition, c); ok {
		return tr, true
	}
	return t.Translator.Translate(topic, partition, c)
}

// TopicIDs passes the live translator's topic ids through.
func (t *reverseTranslator) TopicIDs(source string) (offsetmap.TopicIDs, bool) {
	if it, ok := t.Translator.(groups.IdentityTranslator); ok {
		return it.TopicIDs(source)
	}
	return offsetmap.TopicIDs{}, false
}
