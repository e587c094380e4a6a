// Package state keeps a migration's durable state on the target cluster, in one
// compacted topic per migration, "_kmigrate.<migration>.state": every partition's
// exact offset map and checkpoint (encoded by package offsetmap), the source
// ranges lost to retention before they could be copied, and the baseline taken at
// the first run. `run` writes it; `run` (on restart), `groups`, `verify` and
// `status` read it back, so every command works whether or not `run` is alive.
//
// All records go to partition 0, so log order is write order: a partition's run
// records are followed by its checkpoint, the commit point. Compaction keeps the
// latest record per key.
package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
)

// TopicName returns the state topic of a migration.
func TopicName(migration string) string { return "_kmigrate." + migration + ".state" }

// Key names a source partition.
type Key = offsetmap.TopicPartition

// LostRange is a source range deleted by retention before it was copied.
type LostRange = offsetmap.LostRange

// TopicIDs binds a source topic name to its source and target topic ids.
type TopicIDs = offsetmap.TopicIDs

// Saved is what the state topic holds for one partition.
type Saved struct {
	// Map is the rebuilt offset map; nil when Err is set.
	Map *offsetmap.Partition
	// Checkpoint is the latest checkpoint, with the hash of the last record.
	Checkpoint offsetmap.Checkpoint
	// Lost lists ranges lost to retention.
	Lost []LostRange
	// Err says why the map could not be rebuilt.
	Err error
}

// Baseline is the snapshot of the source taken at the first run: progress is
// measured against it.
type Baseline struct {
	TakenMilli int64 `json:"taken_unix_ms"`
	// EndOffsets maps topic to partition to the source end offset.
	EndOffsets map[string]map[int32]int64 `json:"end_offsets"`
	// StartOffsets maps topic to partition to the source log start offset.
	StartOffsets map[string]map[int32]int64 `json:"start_offsets"`
	// Bytes maps topic to its size on disk (leader replicas), when known.
	Bytes map[string]int64 `json:"bytes,omitempty"`
}

// State is everything the state topic holds for a migration.
type State struct {
	Partitions map[Key]*Saved
	Baseline   *Baseline
	// Topics holds, by source topic name, the topic ids its maps belong to.
	Topics map[string]TopicIDs
	// Cutover is the cutover's record (JSON owned by package cutover); nil
	// when no cutover ever ran.
	Cutover []byte
	// Owners holds, by partition, the latest owner record of a shared
	// migration (replication.scale_out); empty for a single-writer one.
	Owners map[Key]Owner
	// Records is the number of state records read.
	Records int
}

// Owner is the latest claim or release of a partition by a `run` process of
// a shared migration. A process writes a claim (through its fenced client)
// before it writes anything of the partition, and a release once nothing of
// it is in flight any more and its final checkpoint is written. A partition
// whose latest record is a claim may still have writes of that claimer in
// flight: its next owner waits for the fence's grace before reading the
// target.
type Owner struct {
	// Holder is the claiming process's random id.
	Holder string `json:"holder"`
	// Released says the holder let go cleanly.
	Released bool   `json:"released,omitempty"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	// UnixMilli is when the record was written.
	UnixMilli int64 `json:"unix_ms"`
}

// Store reads and writes a migration's state topic.
type Store struct {
	cl        *kgo.Client
	adm       *kadm.Client
	migration string
	topic     string
	// newReader builds a client that reads the state topic; Load closes it.
	newReader func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error)
}

// NewStore returns the store of migration, writing through cl (a target client
// with a manual partitioner or the default one: records carry partition 0) and
// reading with clients from newReader.
func NewStore(cl *kgo.Client, migration string, newReader func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error)) *Store {
	return &Store{cl: cl, adm: kadm.NewClient(cl), migration: migration, topic: TopicName(migration), newReader: newReader}
}

// Topic returns the state topic name.
func (s *Store) Topic() string { return s.topic }

// Ensure creates the state topic if it does not exist: one partition, compacted,
// replication factor min(3, brokers) and min.insync.replicas min(2, RF).
func (s *Store) Ensure(ctx context.Context) error {
	topics, err := s.adm.ListTopics(ctx, s.topic)
	if err != nil {
		return fmt.Errorf("look up state topic %s: %w", s.topic, err)
	}
	if d, ok := topics[s.topic]; ok && d.Err == nil {
		return nil
	}
	brokers, err := s.adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("list target brokers: %w", err)
	}
	rf, configs := TopicSpec(len(brokers))
	resp, err := s.adm.CreateTopic(ctx, 1, rf, configs, s.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create state topic %s on the target: %w", s.topic, err)
	}
	return nil
}

// TopicSpec returns the replication factor and configs of a state topic on a
// cluster of the given number of brokers: RF min(3, brokers), compacted,
// min.insync.replicas min(2, RF), hourly segments so that compaction can run.
func TopicSpec(brokers int) (int16, map[string]*string) {
	rf := int16(min(3, brokers))
	isr := strconv.Itoa(min(2, int(rf)))
	compact, segment := "compact", strconv.FormatInt(int64(time.Hour/time.Millisecond), 10)
	return rf, map[string]*string{"cleanup.policy": &compact, "min.insync.replicas": &isr, "segment.ms": &segment}
}

// Exists reports whether the state topic exists.
func (s *Store) Exists(ctx context.Context) (bool, error) {
	topics, err := s.adm.ListTopics(ctx, s.topic)
	if err != nil {
		return false, fmt.Errorf("look up state topic %s: %w", s.topic, err)
	}
	d, ok := topics[s.topic]
	return ok && d.Err == nil, nil
}

// Write appends records to the state topic and waits for all of them.
func (s *Store) Write(ctx context.Context, recs []*kgo.Record) error {
	for _, r := range recs {
		r.Topic, r.Partition = s.topic, 0
	}
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write state topic %s: %w", s.topic, err)
	}
	return nil
}

// Load reads the whole state topic and rebuilds every partition's map. A
// partition whose records are inconsistent gets Saved.Err; the other partitions
// still load.
func (s *Store) Load(ctx context.Context) (*State, error) {
	b := newBuilder(s.migration)
	if err := s.scan(ctx, b.add); err != nil {
		return nil, err
	}
	return b.state(), nil
}

// scan calls fn with every record of the state topic, in log order, up to its
// end when scan started. A topic that does not exist holds nothing.
func (s *Store) scan(ctx context.Context, fn func(key, value []byte) error) error {
	ends, err := s.adm.ListEndOffsets(ctx, s.topic)
	if err != nil {
		return fmt.Errorf("list end offset of state topic %s: %w", s.topic, err)
	}
	end, ok := ends.Lookup(s.topic, 0)
	if !ok || errors.Is(end.Err, kerr.UnknownTopicOrPartition) {
		return nil // no state topic: nothing was ever copied
	}
	if end.Err != nil {
		return fmt.Errorf("list end offset of state topic %s: %w", s.topic, end.Err)
	}
	if end.Offset == 0 {
		return nil
	}
	cl, err := s.newReader(ctx,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read state topic %s: %w", s.topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("read state topic %s: %w", s.topic, ferr)
		}
		var derr error
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= end.Offset {
				done = true
			}
			if derr != nil {
				return
			}
			if err := fn(r.Key, r.Value); err != nil {
				derr = fmt.Errorf("state record at offset %d: %w", r.Offset, err)
			}
		})
		if derr != nil {
			return fmt.Errorf("read state topic %s: %w", s.topic, derr)
		}
	}
	return nil
}

// Forget deletes everything the state holds about a source topic (every
// partition's runs, checkpoint and lost ranges, and its topic ids) with
// tombstones, so that the next run copies it as a new topic. It returns the
// number of keys deleted. Only a command that made sure no run is alive may
// call it.
func (s *Store) Forget(ctx context.Context, topic string) (int, error) {
	keys := map[string][]byte{}
	err := s.scan(ctx, func(key, _ []byte) error {
		k, err := offsetmap.DecodeKey(key)
		if err != nil {
			return err
		}
		if k.Migration == s.migration && k.Topic == topic && k.Kind != offsetmap.KindBaseline && k.Kind != offsetmap.KindCutover {
			keys[string(key)] = key
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	recs := make([]*kgo.Record, 0, len(keys))
	for _, k := range keys {
		recs = append(recs, &kgo.Record{Key: k})
	}
	if err := s.Write(ctx, recs); err != nil {
		return 0, err
	}
	return len(recs), nil
}

// builder rebuilds a State from the state topic's records in log order,
// keeping the latest record per key as compaction would.
type builder struct {
	migration string
	st        *State
	loader    *offsetmap.Loader
	lost      map[Key]map[int64]LostRange
}

func newBuilder(migration string) *builder {
	return &builder{
		migration: migration,
		st:        &State{Partitions: map[Key]*Saved{}, Topics: map[string]TopicIDs{}, Owners: map[Key]Owner{}},
		loader:    offsetmap.NewLoader(migration),
		lost:      map[Key]map[int64]LostRange{},
	}
}

// state rebuilds every partition's map from the records added.
func (b *builder) state() *State {
	st := b.st
	for _, tp := range b.loader.Partitions() {
		sv := &Saved{}
		sv.Checkpoint, _ = b.loader.Checkpoint(tp)
		sv.Map, _, sv.Err = b.loader.Rebuild(tp)
		st.Partitions[tp] = sv
	}
	for tp, ranges := range b.lost {
		sv := st.Partitions[tp]
		if sv == nil {
			continue
		}
		sv.Lost = sv.Lost[:0]
		for _, lr := range ranges {
			sv.Lost = append(sv.Lost, lr)
		}
		sortLost(sv.Lost)
	}
	return st
}

// add applies one state record, read in log order. Every record of the topic
// must decode: the topic belongs to this migration alone.
func (b *builder) add(key, value []byte) error {
	b.st.Records++
	rec, err := offsetmap.Decode(key, value)
	if err != nil {
		return err
	}
	k := rec.Key
	if k.Migration != b.migration {
		return fmt.Errorf("%v: the state topic of migration %s holds a record of another migration", k, b.migration)
	}
	st, loader, lost := b.st, b.loader, b.lost
	switch k.Kind {
	case offsetmap.KindRun, offsetmap.KindCheckpoint:
		loader.AddRecord(rec)
	case offsetmap.KindLost:
		tp := k.TopicPartition
		if lost[tp] == nil {
			lost[tp] = map[int64]LostRange{}
		}
		if rec.Tombstone {
			delete(lost[tp], k.SrcStart)
		} else {
			lost[tp][k.SrcStart] = rec.Lost
		}
	case offsetmap.KindBaseline:
		if rec.Tombstone {
			st.Baseline = nil
			return nil
		}
		var bl Baseline
		if err := json.Unmarshal(rec.Raw, &bl); err != nil {
			return fmt.Errorf("decode baseline: %w", err)
		}
		st.Baseline = &bl
	case offsetmap.KindCutover:
		if rec.Tombstone {
			st.Cutover = nil
		} else {
			st.Cutover = rec.Raw
		}
	case offsetmap.KindTopicIDs:
		if rec.Tombstone {
			delete(st.Topics, k.Topic)
		} else {
			st.Topics[k.Topic] = rec.TopicIDs
		}
	case offsetmap.KindOwner:
		if rec.Tombstone {
			delete(st.Owners, k.TopicPartition)
			return nil
		}
		var o Owner
		if err := json.Unmarshal(rec.Raw, &o); err != nil {
			return fmt.Errorf("decode %v: %w", k, err)
		}
		st.Owners[k.TopicPartition] = o
	}
	return nil
}

func sortLost(l []LostRange) {
	slices.SortFunc(l, func(a, b LostRange) int { return cmp.Compare(a.From, b.From) })
}

// encode returns the state record of key k and value v.
func encode(k offsetmap.Key, v interface{ MarshalBinary() ([]byte, error) }) (*kgo.Record, error) {
	key, err := k.MarshalBinary()
	if err != nil {
		return nil, err
	}
	var value []byte
	if v != nil {
		if value, err = v.MarshalBinary(); err != nil {
			return nil, fmt.Errorf("%v: %w", k, err)
		}
	}
	return &kgo.Record{Key: key, Value: value}, nil
}

// ChangeRecords returns the state records that persist ch (from the partition's
// offset map) and the lost ranges not yet written, in write order: lost ranges,
// runs, then the checkpoint.
func ChangeRecords(migration string, tp Key, ch offsetmap.Changes, newLost []LostRange) ([]*kgo.Record, error) {
	kvs, err := ch.Encode(migration, tp)
	if err != nil {
		return nil, err
	}
	recs := make([]*kgo.Record, 0, len(kvs)+len(newLost))
	for _, lr := range newLost {
		r, err := encode(offsetmap.LostKey(migration, tp, lr.From), lr)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	for _, kv := range kvs {
		recs = append(recs, &kgo.Record{Key: kv.Key, Value: kv.Value})
	}
	return recs, nil
}

// TopicIDsRecord returns the record that binds source topic to ids.
func TopicIDsRecord(migration, topic string, ids TopicIDs) (*kgo.Record, error) {
	return encode(offsetmap.TopicIDsKey(migration, topic), ids)
}

// BaselineRecord returns the record that stores b.
func BaselineRecord(migration string, b *Baseline) (*kgo.Record, error) {
	v, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode baseline: %w", err)
	}
	key, err := offsetmap.BaselineKey(migration).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Key: key, Value: v}, nil
}

// OwnerRecord returns the record that stores a partition's owner.
func OwnerRecord(migration string, tp Key, o Owner) (*kgo.Record, error) {
	v, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode owner of %v: %w", tp, err)
	}
	key, err := offsetmap.OwnerKey(migration, tp).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Key: key, Value: v}, nil
}

// CutoverRecord returns the record that stores a cutover's record, the JSON
// that package cutover encodes.
func CutoverRecord(migration string, raw []byte) (*kgo.Record, error) {
	key, err := offsetmap.CutoverKey(migration).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Key: key, Value: raw}, nil
}
