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
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// LostRange is a source range deleted by retention before it was copied:
// offsets [From, To) (an upper bound of records where the source had gaps).
type LostRange struct {
	From          int64 `json:"from"`
	To            int64 `json:"to"`
	DetectedMilli int64 `json:"detected_unix_ms"`
}

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
	// Records is the number of state records read.
	Records int
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
	st := &State{Partitions: map[Key]*Saved{}}
	ends, err := s.adm.ListEndOffsets(ctx, s.topic)
	if err != nil {
		return nil, fmt.Errorf("list end offset of state topic %s: %w", s.topic, err)
	}
	end, ok := ends.Lookup(s.topic, 0)
	if !ok || errors.Is(end.Err, kerr.UnknownTopicOrPartition) {
		return st, nil // no state topic: nothing was ever copied
	}
	if end.Err != nil {
		return nil, fmt.Errorf("list end offset of state topic %s: %w", s.topic, end.Err)
	}
	loader := offsetmap.NewLoader(s.migration)
	lost := map[Key]map[int64]LostRange{}
	if end.Offset > 0 {
		cl, err := s.newReader(ctx,
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		for done := false; !done; {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("read state topic %s: %w", s.topic, err)
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil {
				return nil, fmt.Errorf("read state topic %s: %w", s.topic, ferr)
			}
			var derr error
			fs.EachRecord(func(r *kgo.Record) {
				st.Records++
				if r.Offset+1 >= end.Offset {
					done = true
				}
				if derr != nil || len(r.Key) < 2 {
					return
				}
				switch r.Key[1] {
				case kindLost:
					k, from, ok := decodeOwnKey(r.Key, s.migration)
					if !ok {
						return
					}
					if lost[k] == nil {
						lost[k] = map[int64]LostRange{}
					}
					if len(r.Value) == 0 {
						delete(lost[k], from)
					} else if lr, err := decodeLost(r.Value); err == nil {
						lost[k][from] = lr
					} else {
						derr = fmt.Errorf("state record at offset %d: %w", r.Offset, err)
					}
				case kindBaseline:
					if _, _, ok := decodeOwnKey(r.Key, s.migration); !ok {
						return
					}
					var b Baseline
					if err := json.Unmarshal(r.Value, &b); err != nil {
						derr = fmt.Errorf("state record at offset %d: decode baseline: %w", r.Offset, err)
						return
					}
					st.Baseline = &b
				default:
					if err := loader.Add(r.Key, r.Value); err != nil {
						derr = fmt.Errorf("state record at offset %d: %w", r.Offset, err)
					}
				}
			})
			if derr != nil {
				return nil, fmt.Errorf("read state topic %s: %w", s.topic, derr)
			}
		}
	}
	for _, tp := range loader.Partitions() {
		sv := &Saved{}
		sv.Checkpoint, _ = loader.Checkpoint(tp)
		sv.Map, _, sv.Err = loader.Rebuild(tp)
		st.Partitions[tp] = sv
	}
	for tp, ranges := range lost {
		sv := st.Partitions[tp]
		if sv == nil {
			continue
		}
		for _, lr := range ranges {
			sv.Lost = append(sv.Lost, lr)
		}
		sortLost(sv.Lost)
	}
	return st, nil
}

func sortLost(l []LostRange) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].From < l[j-1].From; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// Record kinds of this package, beside offsetmap's runs (1) and checkpoints (2).
// The second byte of every state key is its kind.
const (
	kindLost     = 3
	kindBaseline = 4
)

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
		recs = append(recs, &kgo.Record{Key: ownKey(kindLost, migration, tp, lr.From), Value: encodeLost(lr)})
	}
	for _, kv := range kvs {
		recs = append(recs, &kgo.Record{Key: kv.Key, Value: kv.Value})
	}
	return recs, nil
}

// BaselineRecord returns the record that stores b.
func BaselineRecord(migration string, b *Baseline) (*kgo.Record, error) {
	v, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode baseline: %w", err)
	}
	return &kgo.Record{Key: ownKey(kindBaseline, migration, Key{Topic: "baseline"}, 0), Value: v}, nil
}

// ownKey encodes a key of this package's kinds in the layout of offsetmap keys:
// version, kind, migration, topic, partition, an int64.
func ownKey(kind byte, migration string, tp Key, n int64) []byte {
	b := []byte{offsetmap.FormatVersion, kind}
	b = binary.BigEndian.AppendUint16(b, uint16(len(migration)))
	b = append(b, migration...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(tp.Topic)))
	b = append(b, tp.Topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(tp.Partition))
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func decodeOwnKey(b []byte, migration string) (Key, int64, bool) {
	if len(b) < 4 || b[0] != offsetmap.FormatVersion {
		return Key{}, 0, false
	}
	rest := b[2:]
	str := func() (string, bool) {
		if len(rest) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return "", false
		}
		s := string(rest[2 : 2+n])
		rest = rest[2+n:]
		return s, true
	}
	m, ok := str()
	if !ok || m != migration {
		return Key{}, 0, false
	}
	t, ok := str()
	if !ok || len(rest) != 12 {
		return Key{}, 0, false
	}
	return Key{Topic: t, Partition: int32(binary.BigEndian.Uint32(rest))}, int64(binary.BigEndian.Uint64(rest[4:])), true
}

func encodeLost(lr LostRange) []byte {
	b := []byte{offsetmap.FormatVersion}
	for _, v := range []int64{lr.From, lr.To, lr.DetectedMilli} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func decodeLost(b []byte) (LostRange, error) {
	if len(b) != 25 || b[0] != offsetmap.FormatVersion {
		return LostRange{}, fmt.Errorf("lost range value: %d bytes, want 25 of version %d", len(b), offsetmap.FormatVersion)
	}
	lr := LostRange{
		From:          int64(binary.BigEndian.Uint64(b[1:])),
		To:            int64(binary.BigEndian.Uint64(b[9:])),
		DetectedMilli: int64(binary.BigEndian.Uint64(b[17:])),
	}
	if lr.From < 0 || lr.To <= lr.From || lr.To == math.MaxInt64 {
		return LostRange{}, fmt.Errorf("lost range value: [%d,%d) is not a range", lr.From, lr.To)
	}
	return lr, nil
}
