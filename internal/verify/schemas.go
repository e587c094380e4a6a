package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/schemas"
	"github.com/kmigrate/kmigrate/internal/units"
)

// CheckSchemas is the check that the schema ids in the migrated records resolve
// on the target registry to the source's schemas. It runs only when the
// configuration has a schemas section.
const CheckSchemas = "schemas"

// schemas reads every target record of the compared range of every migrated
// partition, collects the Confluent wire-format ids of keys and values, and
// resolves each on both registries. A partition that failed coverage is left
// out (coverage reports it).
func (s *session) schemas(ctx context.Context, opts Options) (*Check, error) {
	c := newCheck(CheckSchemas, "schema ids")
	sc := s.v.cfg.Schemas
	src, err := s.resolver(ctx, "source", sc.Source, sc.RequestTimeout.Duration, s.src)
	if err != nil {
		return nil, err
	}
	tgt, err := s.resolver(ctx, "target", sc.Target, sc.RequestTimeout.Duration, s.tgt)
	if err != nil {
		return nil, err
	}
	var parts []*part
	var spans []span
	for _, p := range s.parts {
		if p.skip {
			continue
		}
		parts = append(parts, p)
		spans = append(spans, span{topic: p.tgtTopic, partition: p.tp.Partition, from: p.tLo, to: p.tHi})
	}
	ids := schemas.NewIDCheck()
	err = s.tgt.scan(ctx, spans, opts.Workers, func(_, i int, recs []*kgo.Record) error {
		for _, r := range recs {
			ids.Add(r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read target records for schema ids: %w", err)
	}
	rep, err := ids.Check(ctx, src, tgt)
	if err != nil {
		return nil, err
	}
	bySrcTopic := map[string]string{}
	for _, p := range parts {
		bySrcTopic[p.tgtTopic] = p.tp.Topic
	}
	c.Checked = rep.Checked
	for _, f := range rep.Failures {
		c.fail(Failure{Topic: bySrcTopic[f.Topic], Partition: ptr(f.Partition), TargetOffset: ptr(f.Offset), Kind: f.Kind, Message: f.Message})
	}
	// The report lists at most 50 failures; the count stays exact.
	c.Failed = rep.Failed
	c.Summary = fmt.Sprintf("%s read on the target, %s in the wire format, %s found, %s known to the source and compared in canonical form",
		count(rep.Records, "record"), units.Count(rep.Framed), count(rep.IDs, "distinct id"), units.Count(int64(rep.Checked)))
	if rep.UnknownCount > 0 {
		c.note("%s unknown to the source registry, not compared (values that only start with a zero byte, or schemas deleted for good): %v", count(rep.UnknownCount, "id"), rep.Unknown)
	}
	return c, nil
}

// resolver returns the registry r of one side: its REST API, or its storage
// topic read from that side's cluster.
func (s *session) resolver(ctx context.Context, role string, r config.Registry, timeout time.Duration, sd *side) (schemas.Resolver, error) {
	if r.Topic == "" {
		cl, err := schemas.NewClient(role, r, timeout)
		if err != nil {
			return nil, err
		}
		return cl, nil
	}
	snap, err := schemas.Load(ctx, role, r, timeout, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return sd.builder.Client(ctx, sd.role, sd.cfg, opts...)
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}
