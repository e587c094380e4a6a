package schemas

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// maxIDFailures bounds the failures an IDReport lists; the count stays exact.
const maxIDFailures = 50

// IDCheck collects the schema ids found in records and then checks that each
// resolves on the target registry to the same schema as on the source. Add may
// be called from several goroutines.
type IDCheck struct {
	mu      sync.Mutex
	records int64
	framed  int64
	ids     map[int32]*idSeen
}

// idSeen is where an id was first seen and how often.
type idSeen struct {
	records   int64
	topic     string
	partition int32
	offset    int64
}

// NewIDCheck returns an empty check.
func NewIDCheck() *IDCheck { return &IDCheck{ids: map[int32]*idSeen{}} }

// Add looks for a wire-format schema id in a record's key and value.
func (c *IDCheck) Add(topic string, partition int32, offset int64, key, value []byte) {
	kid, kok := WireID(key)
	vid, vok := WireID(value)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records++
	if kok || vok {
		c.framed++
	}
	for _, x := range []struct {
		id int32
		ok bool
	}{{kid, kok}, {vid, vok}} {
		if !x.ok {
			continue
		}
		s := c.ids[x.id]
		if s == nil {
			s = &idSeen{topic: topic, partition: partition, offset: offset}
			c.ids[x.id] = s
		}
		s.records++
	}
}

// IDFailure is an id that does not resolve on the target to the source's
// schema.
type IDFailure struct {
	// ID is the schema id.
	ID int32 `json:"id"`
	// Kind is missing (the target does not know the id) or differs (it
	// resolves to another schema).
	Kind string `json:"kind"`
	// Uses are the source subject versions of the id.
	Uses []SubjectVersion `json:"uses"`
	// Topic, Partition and Offset locate the first target record seen with the
	// id; Records counts the records that carry it.
	Topic string `json:"topic"`
	// Partition is the partition of that record.
	Partition int32 `json:"partition"`
	// Offset is the target offset of that record.
	Offset int64 `json:"offset"`
	// Records counts the records that carry the id.
	Records int64 `json:"records"`
	// Message says what differs.
	Message string `json:"message"`
}

// IDReport is the outcome of an IDCheck.
type IDReport struct {
	// Records counts the records examined; Framed those with a key or value in
	// the wire format.
	Records int64 `json:"records"`
	// Framed counts the records whose key or value starts like the wire format.
	Framed int64 `json:"framed"`
	// IDs counts the distinct ids found; Checked those the source knows.
	IDs int `json:"ids"`
	// Checked counts the ids the source registry knows, which were compared.
	Checked int `json:"checked"`
	// Unknown lists ids neither registry knows: values that only start with a
	// zero byte, or schemas deleted for good on the source (at most 50).
	Unknown []int32 `json:"unknown,omitempty"`
	// UnknownCount is the exact number of such ids.
	UnknownCount int `json:"unknown_count"`
	// Failed counts the failures; Failures lists at most 50.
	Failed int `json:"failed"`
	// Failures are the ids that do not resolve to the source's schema.
	Failures []IDFailure `json:"failures,omitempty"`
}

// Pass reports whether every id known to the source resolves on the target to
// the same schema.
func (r *IDReport) Pass() bool { return r.Failed == 0 }

// Check resolves every collected id on both registries and compares their
// canonical forms.
func (c *IDCheck) Check(ctx context.Context, source, target Resolver) (*IDReport, error) {
	c.mu.Lock()
	ids := make([]int32, 0, len(c.ids))
	seenOf := make(map[int32]idSeen, len(c.ids))
	for id, s := range c.ids {
		ids = append(ids, id)
		seenOf[id] = *s
	}
	rep := &IDReport{Records: c.records, Framed: c.framed, IDs: len(ids)}
	c.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		seen := seenOf[id]
		ss, uses, err := source.Lookup(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("resolve schema id %d on the source: %w", id, err)
		}
		if ss == nil {
			// Unknown to the source: not a schema id there, so nothing to
			// compare, whatever the target holds under that number.
			rep.UnknownCount++
			if len(rep.Unknown) < maxIDFailures {
				rep.Unknown = append(rep.Unknown, id)
			}
			continue
		}
		ts, tuses, err := target.Lookup(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("resolve schema id %d on the target: %w", id, err)
		}
		rep.Checked++
		f := IDFailure{ID: id, Uses: uses, Topic: seen.topic, Partition: seen.partition, Offset: seen.offset, Records: seen.records}
		switch {
		case ts == nil:
			f.Kind = "missing"
			f.Message = fmt.Sprintf("schema id %d (%s on the source) is not on the target registry; %d records carry it, the first at %s[%d] offset %d",
				id, usesText(uses), seen.records, seen.topic, seen.partition, seen.offset)
		case !ss.Same(ts):
			f.Kind = "differs"
			f.Message = fmt.Sprintf("schema id %d is %s on the source (fingerprint %s) but %s on the target (fingerprint %s); %d records carry it, the first at %s[%d] offset %d",
				id, usesText(uses), ss.Fingerprint(), usesText(tuses), ts.Fingerprint(), seen.records, seen.topic, seen.partition, seen.offset)
		default:
			continue
		}
		rep.Failed++
		if len(rep.Failures) < maxIDFailures {
			rep.Failures = append(rep.Failures, f)
		}
	}
	return rep, nil
}

func usesText(uses []SubjectVersion) string {
	if len(uses) == 0 {
		return "no subject"
	}
	parts := make([]string, len(uses))
	for i, u := range uses {
		parts[i] = fmt.Sprintf("subject %s version %d", u.Subject, u.Version)
	}
	return strings.Join(parts, ", ")
}
