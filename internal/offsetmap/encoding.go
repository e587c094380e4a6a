package offsetmap

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Record layout, version 1. All integers are big-endian; strings carry a
// uint16 length prefix. Every key and value starts with the format version so
// that a later kmigrate can read or refuse old state explicitly.
//
//	key:        version(1) kind(1) migration(str) topic(str) partition(int32)
//	            [run, lost and baseline only: srcStart(int64)]
//	run value:  version(1) flags(1) srcStart(int64) count(int64) tgtStart(int64)
//	            [flagCoarsened: spanEnd(int64)]
//	checkpoint: version(1) flags(1) srcBegin(int64) srcNext(int64) tgtNext(int64)
//	            tgtStart(int64) [flagHash: sha256(32)] unixMilli(int64)
//	lost value: version(1) from(int64) to(int64) detectedUnixMilli(int64)
//	baseline:   JSON, owned by package state (key: topic "baseline", partition 0,
//	            srcStart 0)
//	topic ids:  version(1) sourceTopicID(16) targetTopicID(16) (key: the source
//	            topic, partition 0)
//	cutover:    JSON, owned by package state (key: topic "cutover", partition 0)
//
// This file is the one owner of the layout: package state reads and writes the
// state topic only through it.
//
// A nil or empty value is a tombstone; kmigrate never writes an empty value, so
// this does not depend on the client keeping null and empty apart.

// FormatVersion is the version of the record encoding written by this package.
const FormatVersion = 1

const (
	flagCoarsened = 1 << 0 // run value: a coarsened segment; spanEnd follows
	flagHash      = 1 << 0 // checkpoint value: a SHA-256 follows
)

// Decoding errors. Every error returned by Decode wraps one of them.
var (
	// ErrTruncated means the bytes end before a field.
	ErrTruncated = errors.New("truncated")
	// ErrVersion means the record has a format version this build cannot read.
	ErrVersion = errors.New("unsupported format version")
	// ErrKind means the key's kind byte is unknown.
	ErrKind = errors.New("unknown record kind")
	// ErrCorrupt means a field holds an impossible value or bytes trail.
	ErrCorrupt = errors.New("corrupt")
)

// RecordKind tells the kinds of state-topic records apart.
type RecordKind uint8

// Record kinds; the values are part of the encoding.
const (
	KindRun        RecordKind = 1
	KindCheckpoint RecordKind = 2
	// KindLost is a source range deleted by retention before it was copied.
	KindLost RecordKind = 3
	// KindBaseline is the snapshot of the source taken at the first run.
	KindBaseline RecordKind = 4
	// KindTopicIDs binds a source topic's name to the topic ids, on both
	// clusters, that the partition maps of that name belong to.
	KindTopicIDs RecordKind = 5
	// KindCutover is the progress of the migration's cutover: its steps, the
	// frozen offsets and what it changed on both clusters.
	KindCutover RecordKind = 6
	// KindOwner says which `run` process of a shared migration (scale-out)
	// last claimed a partition, and whether it released it cleanly (JSON,
	// decoded by package state).
	KindOwner RecordKind = 7
)

// hasOffset reports whether keys of the kind end with an int64.
func (k RecordKind) hasOffset() bool {
	return k == KindRun || k == KindLost || k == KindBaseline
}

func (k RecordKind) known() bool { return k >= KindRun && k <= KindOwner }

// String names the kind.
func (k RecordKind) String() string {
	switch k {
	case KindRun:
		return "run"
	case KindCheckpoint:
		return "checkpoint"
	case KindLost:
		return "lost range"
	case KindBaseline:
		return "baseline"
	case KindCutover:
		return "cutover"
	case KindTopicIDs:
		return "topic ids"
	case KindOwner:
		return "owner"
	}
	return fmt.Sprintf("RecordKind(%d)", uint8(k))
}

// TopicPartition names one source partition; the target partition has the same
// number.
type TopicPartition struct {
	// Topic is the source topic name.
	Topic string
	// Partition is the partition number, the same on both clusters.
	Partition int32
}

// String formats as topic/partition; Kafka topic names cannot contain '/'.
func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Key is the key of a state-topic record.
type Key struct {
	// Kind says what the record holds.
	Kind RecordKind
	// Migration names the migration, so that several can share the topic.
	Migration string
	// TopicPartition is the source partition the record describes.
	TopicPartition
	// SrcStart is the first source offset of a run or a lost range; zero for
	// the other kinds.
	SrcStart int64
}

// RunKey returns the key of the run starting at source offset srcStart.
func RunKey(migration string, tp TopicPartition, srcStart int64) Key {
	return Key{Kind: KindRun, Migration: migration, TopicPartition: tp, SrcStart: srcStart}
}

// CheckpointKey returns the key of a partition's checkpoint.
func CheckpointKey(migration string, tp TopicPartition) Key {
	return Key{Kind: KindCheckpoint, Migration: migration, TopicPartition: tp}
}

// LostKey returns the key of the lost range starting at source offset from.
func LostKey(migration string, tp TopicPartition, from int64) Key {
	return Key{Kind: KindLost, Migration: migration, TopicPartition: tp, SrcStart: from}
}

// BaselineKey returns the key of a migration's baseline.
func BaselineKey(migration string) Key {
	return Key{Kind: KindBaseline, Migration: migration, TopicPartition: TopicPartition{Topic: "baseline"}}
}

// CutoverKey returns the key of a migration's cutover record.
func CutoverKey(migration string) Key {
	return Key{Kind: KindCutover, Migration: migration, TopicPartition: TopicPartition{Topic: "cutover"}}
}

// TopicIDsKey returns the key of a source topic's identity record.
func TopicIDsKey(migration, topic string) Key {
	return Key{Kind: KindTopicIDs, Migration: migration, TopicPartition: TopicPartition{Topic: topic}}
}

// OwnerKey returns the key of a partition's owner record.
func OwnerKey(migration string, tp TopicPartition) Key {
	return Key{Kind: KindOwner, Migration: migration, TopicPartition: tp}
}

// String formats the key for errors and logs.
func (k Key) String() string {
	switch k.Kind {
	case KindRun, KindLost:
		return fmt.Sprintf("%v of %v at source offset %d in migration %s", k.Kind, k.TopicPartition, k.SrcStart, k.Migration)
	case KindTopicIDs:
		return fmt.Sprintf("topic ids of %s in migration %s", k.Topic, k.Migration)
	case KindBaseline:
		return fmt.Sprintf("baseline of migration %s", k.Migration)
	case KindCutover:
		return fmt.Sprintf("cutover of migration %s", k.Migration)
	}
	return fmt.Sprintf("%v of %v in migration %s", k.Kind, k.TopicPartition, k.Migration)
}

func (k Key) validate() error {
	switch {
	case !k.Kind.known():
		return fmt.Errorf("%w %d", ErrKind, uint8(k.Kind))
	case k.Migration == "":
		return fmt.Errorf("%w: migration name is empty", ErrCorrupt)
	case len(k.Migration) > math.MaxUint16:
		return fmt.Errorf("%w: migration name is %d bytes, over %d", ErrCorrupt, len(k.Migration), math.MaxUint16)
	case k.Topic == "":
		return fmt.Errorf("%w: topic name is empty", ErrCorrupt)
	case len(k.Topic) > math.MaxUint16:
		return fmt.Errorf("%w: topic name is %d bytes, over %d", ErrCorrupt, len(k.Topic), math.MaxUint16)
	case k.Partition < 0:
		return fmt.Errorf("%w: partition %d is negative", ErrCorrupt, k.Partition)
	case (k.Kind == KindRun || k.Kind == KindLost) && (k.SrcStart < 0 || k.SrcStart >= MaxOffset):
		return fmt.Errorf("%w: %v source start %d is out of range", ErrCorrupt, k.Kind, k.SrcStart)
	case k.Kind != KindRun && k.Kind != KindLost && k.SrcStart != 0:
		return fmt.Errorf("%w: %v key has source start %d", ErrCorrupt, k.Kind, k.SrcStart)
	case (k.Kind == KindBaseline || k.Kind == KindTopicIDs || k.Kind == KindCutover) && k.Partition != 0:
		return fmt.Errorf("%w: %v key has partition %d", ErrCorrupt, k.Kind, k.Partition)
	}
	return nil
}

// AppendBinary appends the encoded key to b.
func (k Key) AppendBinary(b []byte) ([]byte, error) {
	if err := k.validate(); err != nil {
		return b, fmt.Errorf("encode key: %w", err)
	}
	b = append(b, FormatVersion, byte(k.Kind))
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Migration)))
	b = append(b, k.Migration...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Topic)))
	b = append(b, k.Topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(k.Partition))
	if k.Kind.hasOffset() {
		b = binary.BigEndian.AppendUint64(b, uint64(k.SrcStart))
	}
	return b, nil
}

// MarshalBinary encodes the key.
func (k Key) MarshalBinary() ([]byte, error) { return k.AppendBinary(nil) }

// AppendBinary appends the encoded run value to b.
func (r Run) AppendBinary(b []byte) ([]byte, error) {
	if err := r.validate(); err != nil {
		return b, fmt.Errorf("encode run value: %w: %w", ErrCorrupt, err)
	}
	var flags byte
	if r.Coarsened {
		flags |= flagCoarsened
	}
	b = append(b, FormatVersion, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(r.SrcStart))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Count))
	b = binary.BigEndian.AppendUint64(b, uint64(r.TgtStart))
	if r.Coarsened {
		b = binary.BigEndian.AppendUint64(b, uint64(r.SpanEnd))
	}
	return b, nil
}

// MarshalBinary encodes the run as a state-topic value.
func (r Run) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// Checkpoint is the commit point of a partition's map: everything below SrcNext
// on the source was copied (or skipped on purpose) to the target offsets below
// TgtNext.
type Checkpoint struct {
	// SrcBegin is the source offset replication started reading at.
	SrcBegin int64
	// SrcNext is the next source offset to read.
	SrcNext int64
	// TgtStart is t0, the target offset of the first copied record.
	TgtStart int64
	// TgtNext is the target offset of the next record to write.
	TgtNext int64
	// Hash is the SHA-256 of the last record written (at TgtNext-1), if HasHash.
	// Tail reconciliation checks the target still holds that record.
	Hash [sha256.Size]byte
	// HasHash says Hash is set; the first checkpoint, before any record, has
	// none.
	HasHash bool
	// UnixMilli is when the checkpoint was written, in Unix milliseconds.
	UnixMilli int64
}

func (c Checkpoint) validate() error {
	switch {
	case c.SrcBegin < 0 || c.SrcBegin > MaxOffset:
		return fmt.Errorf("source begin %d is out of range", c.SrcBegin)
	case c.SrcNext < c.SrcBegin || c.SrcNext > MaxOffset:
		return fmt.Errorf("next source offset %d is out of range [%d,%d]", c.SrcNext, c.SrcBegin, int64(MaxOffset))
	case c.TgtStart < 0 || c.TgtStart >= MaxOffset:
		return fmt.Errorf("target start %d is out of range", c.TgtStart)
	case c.TgtNext < c.TgtStart:
		return fmt.Errorf("next target offset %d is below target start %d", c.TgtNext, c.TgtStart)
	case c.TgtNext-c.TgtStart > c.SrcNext-c.SrcBegin:
		// More records than source offsets read cannot have been copied.
		return fmt.Errorf("%d records copied from %d source offsets", c.TgtNext-c.TgtStart, c.SrcNext-c.SrcBegin)
	case !c.HasHash && c.Hash != [sha256.Size]byte{}:
		return errors.New("hash set without HasHash")
	}
	return nil
}

// AppendBinary appends the encoded checkpoint value to b.
func (c Checkpoint) AppendBinary(b []byte) ([]byte, error) {
	if err := c.validate(); err != nil {
		return b, fmt.Errorf("encode checkpoint value: %w: %w", ErrCorrupt, err)
	}
	var flags byte
	if c.HasHash {
		flags |= flagHash
	}
	b = append(b, FormatVersion, flags)
	for _, v := range [...]int64{c.SrcBegin, c.SrcNext, c.TgtNext, c.TgtStart} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	if c.HasHash {
		b = append(b, c.Hash[:]...)
	}
	return binary.BigEndian.AppendUint64(b, uint64(c.UnixMilli)), nil
}

// MarshalBinary encodes the checkpoint as a state-topic value.
func (c Checkpoint) MarshalBinary() ([]byte, error) { return c.AppendBinary(nil) }

// LostRange is a source range deleted by retention before it was copied:
// offsets [From, To) (an upper bound of records where the source had gaps).
type LostRange struct {
	From          int64 `json:"from"`
	To            int64 `json:"to"`
	DetectedMilli int64 `json:"detected_unix_ms"`
}

func (lr LostRange) validate() error {
	if lr.From < 0 || lr.To <= lr.From || lr.To > MaxOffset {
		return fmt.Errorf("[%d,%d) is not a range of offsets", lr.From, lr.To)
	}
	return nil
}

// AppendBinary appends the encoded lost range value to b.
func (lr LostRange) AppendBinary(b []byte) ([]byte, error) {
	if err := lr.validate(); err != nil {
		return b, fmt.Errorf("encode lost range value: %w: %w", ErrCorrupt, err)
	}
	b = append(b, FormatVersion)
	for _, v := range [...]int64{lr.From, lr.To, lr.DetectedMilli} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b, nil
}

// MarshalBinary encodes the lost range as a state-topic value.
func (lr LostRange) MarshalBinary() ([]byte, error) { return lr.AppendBinary(nil) }

// TopicID is a Kafka topic id (a UUID); the zero value means unknown.
type TopicID [16]byte

// String formats the id as Kafka's tools print it (base64 URL encoding).
func (id TopicID) String() string {
	if id == (TopicID{}) {
		return "unknown"
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// TopicIDs binds a source topic name to the ids of the source and target
// topics its partition maps describe. A topic deleted and recreated under the
// same name gets a new id, and its old maps must not translate its records.
type TopicIDs struct {
	Source TopicID
	Target TopicID
}

// AppendBinary appends the encoded topic ids value to b.
func (t TopicIDs) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, FormatVersion)
	b = append(b, t.Source[:]...)
	return append(b, t.Target[:]...), nil
}

// MarshalBinary encodes the topic ids as a state-topic value.
func (t TopicIDs) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// Record is a decoded state-topic record.
type Record struct {
	Key Key
	// Run is the value of a run record, unless Tombstone.
	Run Run
	// Checkpoint is the value of a checkpoint record, unless Tombstone.
	Checkpoint Checkpoint
	// Lost is the value of a lost range record, unless Tombstone.
	Lost LostRange
	// TopicIDs is the value of a topic ids record, unless Tombstone.
	TopicIDs TopicIDs
	// Raw is the value of a baseline, cutover or owner record (JSON, decoded
	// by package state).
	Raw []byte
	// Tombstone marks a nil value: the key was deleted.
	Tombstone bool
}

// Decode decodes a state-topic record strictly: a wrong version, an unknown
// kind or flag, a short or long buffer, an impossible value, or a run value
// that disagrees with its key is an error that wraps ErrVersion, ErrKind,
// ErrTruncated or ErrCorrupt and says which field is wrong.
func Decode(key, value []byte) (Record, error) {
	k, err := DecodeKey(key)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Key: k}
	if len(value) == 0 {
		rec.Tombstone = true
		return rec, nil
	}
	switch k.Kind {
	case KindRun:
		if rec.Run, err = decodeRun(value); err != nil {
			return Record{}, fmt.Errorf("decode value of %v: %w", k, err)
		}
		if rec.Run.SrcStart != k.SrcStart {
			return Record{}, fmt.Errorf("decode value of %v: %w: value source start %d differs from key",
				k, ErrCorrupt, rec.Run.SrcStart)
		}
	case KindCheckpoint:
		if rec.Checkpoint, err = decodeCheckpoint(value); err != nil {
			return Record{}, fmt.Errorf("decode value of %v: %w", k, err)
		}
	case KindLost:
		if rec.Lost, err = decodeLost(value); err != nil {
			return Record{}, fmt.Errorf("decode value of %v: %w", k, err)
		}
		if rec.Lost.From != k.SrcStart {
			return Record{}, fmt.Errorf("decode value of %v: %w: value start %d differs from key", k, ErrCorrupt, rec.Lost.From)
		}
	case KindTopicIDs:
		if rec.TopicIDs, err = decodeTopicIDs(value); err != nil {
			return Record{}, fmt.Errorf("decode value of %v: %w", k, err)
		}
	case KindBaseline, KindCutover, KindOwner:
		rec.Raw = value
	}
	return rec, nil
}

// DecodeKey decodes a state-topic key alone, for example to skip other
// migrations' records before decoding their values.
func DecodeKey(key []byte) (Key, error) {
	d := decoder{b: key}
	var k Key
	d.version("key")
	k.Kind = RecordKind(d.u8("kind"))
	if d.err == nil && !k.Kind.known() {
		d.err = fmt.Errorf("%w %d", ErrKind, uint8(k.Kind))
	}
	k.Migration = d.str("migration")
	k.Topic = d.str("topic")
	k.Partition = int32(d.u32("partition"))
	if k.Kind.hasOffset() {
		k.SrcStart = d.i64("source start")
	}
	d.end()
	if d.err == nil {
		if err := k.validate(); err != nil {
			d.err = err
		}
	}
	if d.err != nil {
		return Key{}, fmt.Errorf("decode key: %w", d.err)
	}
	return k, nil
}

func decodeRun(b []byte) (Run, error) {
	d := decoder{b: b}
	var r Run
	d.version("run value")
	flags := d.u8("flags")
	if d.err == nil && flags&^flagCoarsened != 0 {
		d.err = fmt.Errorf("%w: unknown flags 0x%02x", ErrCorrupt, flags)
	}
	r.Coarsened = flags&flagCoarsened != 0
	r.SrcStart = d.i64("source start")
	r.Count = d.i64("count")
	r.TgtStart = d.i64("target start")
	if r.Coarsened {
		r.SpanEnd = d.i64("span end")
	}
	d.end()
	if d.err == nil {
		if err := r.validate(); err != nil {
			d.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return r, d.err
}

func decodeCheckpoint(b []byte) (Checkpoint, error) {
	d := decoder{b: b}
	var c Checkpoint
	d.version("checkpoint value")
	flags := d.u8("flags")
	if d.err == nil && flags&^flagHash != 0 {
		d.err = fmt.Errorf("%w: unknown flags 0x%02x", ErrCorrupt, flags)
	}
	c.SrcBegin = d.i64("source begin")
	c.SrcNext = d.i64("next source offset")
	c.TgtNext = d.i64("next target offset")
	c.TgtStart = d.i64("target start")
	if flags&flagHash != 0 {
		c.HasHash = true
		copy(c.Hash[:], d.take("hash", sha256.Size))
	}
	c.UnixMilli = d.i64("timestamp")
	d.end()
	if d.err == nil {
		if err := c.validate(); err != nil {
			d.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return c, d.err
}

func decodeLost(b []byte) (LostRange, error) {
	d := decoder{b: b}
	var lr LostRange
	d.version("lost range value")
	lr.From = d.i64("from")
	lr.To = d.i64("to")
	lr.DetectedMilli = d.i64("detected")
	d.end()
	if d.err == nil {
		if err := lr.validate(); err != nil {
			d.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return lr, d.err
}

func decodeTopicIDs(b []byte) (TopicIDs, error) {
	d := decoder{b: b}
	var t TopicIDs
	d.version("topic ids value")
	copy(t.Source[:], d.take("source topic id", 16))
	copy(t.Target[:], d.take("target topic id", 16))
	d.end()
	return t, d.err
}

// decoder reads fields in order and keeps the first error, so decoding code
// reads like the layout and checks once.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.err = fmt.Errorf("%w: %s needs %d bytes at byte %d, %d left", ErrTruncated, field, n, d.off, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) version(what string) {
	if b := d.take(what+" version", 1); b != nil && b[0] != FormatVersion {
		d.err = fmt.Errorf("%w %d in %s (want %d)", ErrVersion, b[0], what, FormatVersion)
	}
}

func (d *decoder) u8(field string) uint8 {
	if b := d.take(field, 1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if b := d.take(field, 4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) i64(field string) int64 {
	if b := d.take(field, 8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (d *decoder) str(field string) string {
	var n int
	if b := d.take(field+" length", 2); b != nil {
		n = int(binary.BigEndian.Uint16(b))
	}
	return string(d.take(field, n))
}

func (d *decoder) end() {
	if d.err == nil && d.off != len(d.b) {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b)-d.off)
	}
}
