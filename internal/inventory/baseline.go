package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kmigrate/kmigrate/internal/state"
)

// BaselineSchema is the schema version of a Baseline's JSON form.
const BaselineSchema = "kmigrate.baseline/v1"

// Baseline is a snapshot of the source that progress and validation are measured
// against: where every selected partition started and ended, how big it was, and
// where every selected group stood, at one moment.
type Baseline struct {
	// Schema is BaselineSchema.
	Schema string `json:"schema"`
	// Migration names the migration it belongs to.
	Migration string `json:"migration"`
	// ClusterID is the source cluster's id.
	ClusterID string `json:"cluster_id"`
	// TakenAt is when the scan it comes from started.
	TakenAt time.Time `json:"taken_at"`
	// Topics maps each selected topic to its partitions.
	Topics map[string]BaselineTopic `json:"topics"`
	// Groups maps each selected group to topic to partition to its committed
	// offset.
	Groups map[string]map[string]map[int32]int64 `json:"groups"`
}

// BaselineTopic is one topic of a baseline.
type BaselineTopic struct {
	// SizeBytes is the size of the leader replicas; Unknown when not visible.
	SizeBytes int64 `json:"size_bytes"`
	// Compacted is set for compacted topics: counts over their offsets are upper
	// bounds.
	Compacted bool `json:"compacted,omitempty"`
	// Partitions maps partition number to its offsets and size.
	Partitions map[int32]BaselinePartition `json:"partitions"`
}

// BaselinePartition is one partition of a baseline.
type BaselinePartition struct {
	// Start is the log start offset and End the last stable offset, the end a
	// read_committed copy reaches (the high watermark unless a transaction is
	// open); HighWatermark is the high watermark. Unknown when they could not be
	// listed.
	Start         int64 `json:"start"`
	End           int64 `json:"end"`
	HighWatermark int64 `json:"high_watermark"`
	// SizeBytes is the leader replica's size; Unknown when not visible.
	SizeBytes int64 `json:"size_bytes"`
}

// NewBaseline extracts the baseline of migration from a source snapshot: its
// selected topics (all topics when none is marked selected) and selected groups.
func NewBaseline(snap *Snapshot, migration string) *Baseline {
	b := &Baseline{
		Schema: BaselineSchema, Migration: migration, ClusterID: snap.ClusterID, TakenAt: snap.TakenAt,
		Topics: map[string]BaselineTopic{}, Groups: map[string]map[string]map[int32]int64{},
	}
	anySelected := false
	for _, t := range snap.Topics {
		anySelected = anySelected || t.Selected
	}
	for _, t := range snap.Topics {
		if t.Internal || (anySelected && !t.Selected) {
			continue
		}
		bt := BaselineTopic{SizeBytes: t.SizeBytes, Compacted: t.Compacted, Partitions: map[int32]BaselinePartition{}}
		for _, p := range t.PartitionList {
			end := p.Stable
			if end < 0 {
				end = p.Latest
			}
			bt.Partitions[p.Partition] = BaselinePartition{Start: p.Earliest, End: end, HighWatermark: p.Latest, SizeBytes: p.SizeBytes}
		}
		b.Topics[t.Name] = bt
	}
	anyGroupSelected := false
	for _, g := range snap.Groups {
		anyGroupSelected = anyGroupSelected || g.Selected
	}
	for _, g := range snap.Groups {
		if anyGroupSelected && !g.Selected {
			continue
		}
		offsets := map[string]map[int32]int64{}
		for _, o := range g.Offsets {
			if offsets[o.Topic] == nil {
				offsets[o.Topic] = map[int32]int64{}
			}
			offsets[o.Topic][o.Partition] = o.Committed
		}
		b.Groups[g.Name] = offsets
	}
	return b
}

// State converts the baseline into the form the migration's state topic keeps.
func (b *Baseline) State() *state.Baseline {
	s := &state.Baseline{
		TakenMilli:   b.TakenAt.UnixMilli(),
		EndOffsets:   map[string]map[int32]int64{},
		StartOffsets: map[string]map[int32]int64{},
		Bytes:        map[string]int64{},
	}
	for name, t := range b.Topics {
		s.EndOffsets[name] = map[int32]int64{}
		s.StartOffsets[name] = map[int32]int64{}
		for p, bp := range t.Partitions {
			s.EndOffsets[name][p] = bp.End
			s.StartOffsets[name][p] = bp.Start
		}
		if t.SizeBytes >= 0 {
			s.Bytes[name] = t.SizeBytes
		}
	}
	return s
}

// WriteFile writes the baseline as indented JSON to path, through a temporary
// file renamed into place so that a reader never sees half a baseline.
func (b *Baseline) WriteFile(path string) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("encode baseline: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write baseline %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write baseline %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write baseline %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write baseline %s: %w", path, err)
	}
	return nil
}

// ReadBaseline reads a baseline written by WriteFile, refusing another schema.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", err)
	}
	var b Baseline
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("read baseline %s: %w", path, err)
	}
	if b.Schema != BaselineSchema {
		return nil, fmt.Errorf("read baseline %s: schema %q, this kmigrate reads %q", path, b.Schema, BaselineSchema)
	}
	if b.Topics == nil {
		return nil, errors.New("read baseline " + path + ": no topics")
	}
	return &b, nil
}
