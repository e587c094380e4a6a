// Package translate answers, for any source position (topic, partition, offset)
// a program keeps outside Kafka, where it lies on the target: the stream
// processor's checkpoint, a sink connector's offsets table, a hand-kept bookmark.
// It is the same exact translation group sync uses (package offsetmap), asked
// one position at a time, through the live engine (GET /api/translate on the
// run server) or through the offset maps kept in the state topic
// (`kmigrate translate`, which needs no running `run`).
//
// A position is the next offset to read, as Kafka consumers commit and as Flink
// and Spark checkpoint. Its answer is exact (the program resumes on the target at
// the same record, no duplicate, no skip), approximate (the map was coarsened:
// up to max_duplicates records re-read, none skipped), pending (beyond what is
// copied: no target offset yet), behind-retention (records before the position
// were deleted on the source before they could be copied: the target offset is
// where the copy holds the next record, but the program lost records), or
// not-migrated / unknown-partition / invalid with the reason.
package translate

import (
	"fmt"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// Statuses of an Answer (the package doc says what each means).
const (
	Exact            = "exact"             // resume at the target offset: no duplicate, no skip
	Approximate      = "approximate"       // coarsened map: up to MaxDuplicates re-read, none skipped
	Pending          = "pending"           // beyond the copy: no target offset yet
	BehindRetention  = "behind-retention"  // records before the position were lost on the source
	NotMigrated      = "not-migrated"      // the topic is not selected
	UnknownPartition = "unknown-partition" // the partition has no offset map
	Invalid          = "invalid"           // not a position
)

// Query is one source position: Offset is the next offset to read in
// Partition of Topic.
type Query struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Answer is a translated position; Topic, Partition and Offset repeat the query.
type Answer struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// TargetTopic is the topic's name on the target; empty when not migrated.
	TargetTopic string `json:"target_topic"`
	// TargetOffset is the position on the target; nil when there is none
	// (pending, not migrated, invalid).
	TargetOffset *int64 `json:"target_offset"`
	// Status is one of the status constants.
	Status string `json:"status"`
	// Reason says why, in a sentence.
	Reason string `json:"reason"`
	// MaxDuplicates bounds, for approximate answers, the records re-read.
	MaxDuplicates int64 `json:"max_duplicates,omitempty"`
	// Line is the input line of a batch query, when there is one.
	Line int `json:"line,omitempty"`
}

// OK reports whether the program can resume on the target from this answer
// without losing a record: exact or approximate.
func (a Answer) OK() bool { return a.Status == Exact || a.Status == Approximate }

// Map is what answers come from: the running engine or the state topic's maps.
type Map interface {
	// Translate maps source position c of a partition; ok is false when the
	// partition has no map.
	Translate(topic string, partition int32, c int64) (offsetmap.Translation, bool)
	// TargetTopic returns the target name of a copied source topic.
	TargetTopic(source string) (string, bool)
}

// LostFunc returns the source ranges of a partition deleted by retention before
// they were copied; nil when unknown.
type LostFunc func(topic string, partition int32) []state.LostRange

// Translator answers queries.
type Translator struct {
	cfg  *config.Config
	m    Map
	lost LostFunc
}

// New returns a translator over m; lost may be nil.
func New(cfg *config.Config, m Map, lost LostFunc) *Translator {
	return &Translator{cfg: cfg, m: m, lost: lost}
}

// FromState returns a translator over the maps of a loaded state.
func FromState(cfg *config.Config, st *state.State) *Translator {
	return New(cfg, groups.NewStateTranslator(cfg, st), func(topic string, partition int32) []state.LostRange {
		if s := st.Partitions[state.Key{Topic: topic, Partition: partition}]; s != nil {
			return s.Lost
		}
		return nil
	})
}

// Translate answers one query.
func (t *Translator) Translate(q Query) Answer {
	a := Answer{Topic: q.Topic, Partition: q.Partition, Offset: q.Offset}
	if q.Offset < 0 || q.Partition < 0 || q.Topic == "" {
		a.Status, a.Reason = Invalid, "a query needs a topic, a partition ≥ 0 and an offset ≥ 0"
		return a
	}
	target, ok := t.m.TargetTopic(q.Topic)
	if !ok {
		if scope.Topic(&t.cfg.Topics, q.Topic) {
			a.TargetTopic = scope.TargetTopic(t.cfg.Replication, q.Topic)
			a.Status, a.Reason = Pending, fmt.Sprintf("topic %s is selected but has no offset map yet: the copy has not started it", q.Topic)
		} else {
			a.Status, a.Reason = NotMigrated, fmt.Sprintf("topic %s is not migrated (topics.include/exclude)", q.Topic)
		}
		return a
	}
	a.TargetTopic = target
	tr, ok := t.m.Translate(q.Topic, q.Partition, q.Offset)
	if !ok {
		a.Status, a.Reason = UnknownPartition, fmt.Sprintf("partition %d of %s has no offset map: not a partition of the topic, or not copied yet", q.Partition, q.Topic)
		return a
	}
	off := tr.Offset
	switch tr.Kind {
	case offsetmap.Pending:
		a.Status, a.Reason = Pending, fmt.Sprintf("source offset %d of %s/%d is beyond what has been copied; translate again later", q.Offset, q.Topic, q.Partition)
		return a
	case offsetmap.BehindStart:
		a.TargetOffset = &off
		a.Status, a.Reason = BehindRetention, fmt.Sprintf("source offset %d of %s/%d is before the first offset the copy read: the records in between were deleted on the source before the migration began; the copy's first record is target offset %d", q.Offset, q.Topic, q.Partition, off)
		return a
	case offsetmap.Approximate:
		a.TargetOffset = &off
		a.MaxDuplicates = tr.MaxDuplicates
		a.Status, a.Reason = Approximate, fmt.Sprintf("the offset map of %s/%d was coarsened here: resuming at target offset %d re-reads up to %d records, skips none", q.Topic, q.Partition, off, tr.MaxDuplicates)
		return a
	}
	a.TargetOffset = &off
	if t.lost != nil {
		for _, l := range t.lost(q.Topic, q.Partition) {
			if q.Offset >= l.From && q.Offset < l.To {
				a.Status, a.Reason = BehindRetention, fmt.Sprintf("source offsets %d to %d of %s/%d were deleted on the source before they were copied; target offset %d holds the next copied record", l.From, l.To-1, q.Topic, q.Partition, off)
				return a
			}
		}
	}
	a.Status, a.Reason = Exact, fmt.Sprintf("the record at source position %d of %s/%d is at target offset %d of %s: resume there, no duplicate, no skip", q.Offset, q.Topic, q.Partition, off, target)
	return a
}
