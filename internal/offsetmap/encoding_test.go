package offsetmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

var tpOrders = TopicPartition{Topic: "orders", Partition: 3}

func mustMarshal(t testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	hash := sha256.Sum256([]byte("last record"))
	tests := []struct {
		name string
		rec  Record
	}{
		{"run", Record{Key: RunKey("m1", tpOrders, 1_000_000_000), Run: Run{SrcStart: 1_000_000_000, Count: 5_000_000, TgtStart: 0}}},
		{"coarsened segment", Record{Key: RunKey("m1", tpOrders, 10), Run: Run{SrcStart: 10, Count: 5, TgtStart: 7, Coarsened: true, SpanEnd: 30}}},
		{"run tombstone", Record{Key: RunKey("m1", tpOrders, 10), Tombstone: true}},
		{"checkpoint", Record{Key: CheckpointKey("m1", tpOrders), Checkpoint: Checkpoint{SrcBegin: 100, SrcNext: 200, TgtStart: 0, TgtNext: 90, UnixMilli: 1_700_000_000_000}}},
		{"checkpoint with hash", Record{Key: CheckpointKey("m1", tpOrders), Checkpoint: Checkpoint{SrcBegin: 100, SrcNext: 200, TgtStart: 0, TgtNext: 90, Hash: hash, HasHash: true, UnixMilli: 1}}},
		{"checkpoint tombstone", Record{Key: CheckpointKey("m1", tpOrders), Tombstone: true}},
		{"lost range", Record{Key: LostKey("m1", tpOrders, 40), Lost: LostRange{From: 40, To: 90, DetectedMilli: 1_700_000_000_000}}},
		{"lost range tombstone", Record{Key: LostKey("m1", tpOrders, 40), Tombstone: true}},
		{"baseline", Record{Key: BaselineKey("m1"), Raw: []byte(`{"taken_unix_ms":1}`)}},
		{"topic ids", Record{Key: TopicIDsKey("m1", "orders"), TopicIDs: TopicIDs{Source: TopicID{1, 2, 3}, Target: TopicID{15: 9}}}},
		{"long names", Record{Key: RunKey(strings.Repeat("m", math.MaxUint16), TopicPartition{strings.Repeat("t", 249), math.MaxInt32}, 0), Run: Run{Count: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := mustMarshal(t, tt.rec.Key)
			var value []byte
			switch {
			case tt.rec.Tombstone:
			case tt.rec.Key.Kind == KindRun:
				value = mustMarshal(t, tt.rec.Run)
			case tt.rec.Key.Kind == KindLost:
				value = mustMarshal(t, tt.rec.Lost)
			case tt.rec.Key.Kind == KindTopicIDs:
				value = mustMarshal(t, tt.rec.TopicIDs)
			case tt.rec.Key.Kind == KindBaseline:
				value = tt.rec.Raw
			default:
				value = mustMarshal(t, tt.rec.Checkpoint)
			}
			got, err := Decode(key, value)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Fatalf("Decode = %+v; want %+v", got, tt.rec)
			}
			k, err := DecodeKey(key)
			if err != nil || k != tt.rec.Key {
				t.Fatalf("DecodeKey = %+v, %v", k, err)
			}
		})
	}
}

// TestEncodingIsStable pins the bytes: state written by one kmigrate must be
// readable by the next.
func TestEncodingIsStable(t *testing.T) {
	tests := []struct {
		name string
		v    interface{ MarshalBinary() ([]byte, error) }
		hex  string
	}{
		{"run key", RunKey("m", TopicPartition{"t", 2}, 258), "0101" + "00016d" + "000174" + "00000002" + "0000000000000102"},
		{"checkpoint key", CheckpointKey("m", TopicPartition{"t", 2}), "0102" + "00016d" + "000174" + "00000002"},
		// Lost range and baseline keys keep the layout state topics written
		// before this package owned them already have.
		{"lost key", LostKey("m", TopicPartition{"t", 2}, 258), "0103" + "00016d" + "000174" + "00000002" + "0000000000000102"},
		{"baseline key", BaselineKey("m"), "0104" + "00016d" + "0008" + hex.EncodeToString([]byte("baseline")) + "00000000" + "0000000000000000"},
		{"topic ids key", TopicIDsKey("m", "t"), "0105" + "00016d" + "000174" + "00000000"},
		{"lost", LostRange{From: 1, To: 5, DetectedMilli: 6}, "01" + "0000000000000001" + "0000000000000005" + "0000000000000006"},
		{"topic ids", TopicIDs{Source: TopicID{15: 1}, Target: TopicID{15: 2}}, "01" + strings.Repeat("00", 15) + "01" + strings.Repeat("00", 15) + "02"},
		{"run", Run{SrcStart: 1, Count: 2, TgtStart: 3}, "0100" + "0000000000000001" + "0000000000000002" + "0000000000000003"},
		{"segment", Run{SrcStart: 1, Count: 2, TgtStart: 3, Coarsened: true, SpanEnd: 9}, "0101" + "0000000000000001" + "0000000000000002" + "0000000000000003" + "0000000000000009"},
		{"checkpoint", Checkpoint{SrcBegin: 1, SrcNext: 5, TgtStart: 2, TgtNext: 4, UnixMilli: 6},
			"0100" + "0000000000000001" + "0000000000000005" + "0000000000000004" + "0000000000000002" + "0000000000000006"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(mustMarshal(t, tt.v)); got != tt.hex {
				t.Fatalf("encoded %s; want %s", got, tt.hex)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	key := mustMarshal(t, RunKey("m", TopicPartition{"t", 2}, 1))
	cpKey := mustMarshal(t, CheckpointKey("m", TopicPartition{"t", 2}))
	run := mustMarshal(t, Run{SrcStart: 1, Count: 2, TgtStart: 3})
	cp := mustMarshal(t, Checkpoint{SrcBegin: 1, SrcNext: 5, TgtStart: 2, TgtNext: 4})
	set := func(b []byte, i int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[i:], v)
		return b
	}
	tests := []struct {
		name       string
		key, value []byte
		is         error
		msg        string
	}{
		{"empty key", nil, run, ErrTruncated, "decode key: truncated: key version needs 1 bytes at byte 0, 0 left"},
		{"key version", set(key, 0, 2), run, ErrVersion, "decode key: unsupported format version 2 in key (want 1)"},
		{"key kind", set(key, 1, 9), run, ErrKind, "decode key: unknown record kind 9"},
		{"lost value truncated", set(key, 1, byte(KindLost)), []byte{1, 0}, ErrTruncated, "truncated: from needs 8 bytes"},
		{"lost value empty range", set(key, 1, byte(KindLost)), mustMarshalLost(1, 1), ErrCorrupt, "[1,1) is not a range"},
		{"lost value disagrees with key", set(key, 1, byte(KindLost)), mustMarshalLost(0, 3), ErrCorrupt, "value start 0 differs from key"},
		{"baseline key with partition", baselineKeyWithPartition(1), nil, ErrCorrupt, "baseline key has partition"},
		{"topic ids value short", mustMarshal(t, TopicIDsKey("m", "t")), []byte{1, 2}, ErrTruncated, "source topic id needs 16 bytes"},
		{"key kind zero", set(key, 1, 0), run, ErrKind, "decode key: unknown record kind 0"},
		{"key truncated in topic", key[:6], run, ErrTruncated, "decode key: truncated: topic length needs 2 bytes at byte 5, 1 left"},
		{"key truncated in offset", key[:len(key)-1], run, ErrTruncated, "decode key: truncated: source start needs 8 bytes at byte 12, 7 left"},
		{"key trailing", append(bytes.Clone(key), 0), run, ErrCorrupt, "decode key: corrupt: 1 trailing bytes"},
		{"checkpoint key with offset", append(bytes.Clone(cpKey), 0, 0, 0, 0, 0, 0, 0, 1), cp, ErrCorrupt, "decode key: corrupt: 8 trailing bytes"},
		{"empty migration", set(key, 2, 0, 0, 'm'), run, ErrTruncated, ""},
		{"negative partition", set(key, 8, 0xff), run, ErrCorrupt, "decode key: corrupt: partition -16777214 is negative"},
		{"negative run key", set(key, 12, 0x80), run, ErrCorrupt, "decode key: corrupt: run source start -9223372036854775807 is out of range"},
		{"run value version", key, set(run, 0, 0), ErrVersion, "decode value of run of t/2 at source offset 1 in migration m: unsupported format version 0 in run value (want 1)"},
		{"run value flags", key, set(run, 1, 0x82), ErrCorrupt, "unknown flags 0x82"},
		{"run value truncated", key, run[:20], ErrTruncated, "decode value of run of t/2 at source offset 1 in migration m: truncated: target start needs 8 bytes at byte 18, 2 left"},
		{"run value trailing", key, append(bytes.Clone(run), 1), ErrCorrupt, "corrupt: 1 trailing bytes"},
		{"segment without span", key, set(run, 1, 1), ErrTruncated, "truncated: span end needs 8 bytes at byte 26, 0 left"},
		{"run count zero", key, set(run, 10, 0, 0, 0, 0, 0, 0, 0, 0), ErrCorrupt, "corrupt: count 0 is not positive"},
		{"run value differs from key", set(key, 19, 7), run, ErrCorrupt, "decode value of run of t/2 at source offset 7 in migration m: corrupt: value source start 1 differs from key"},
		{"checkpoint truncated", cpKey, cp[:40], ErrTruncated, "decode value of checkpoint of t/2 in migration m: truncated: timestamp needs 8 bytes at byte 34, 6 left"},
		{"checkpoint hash truncated", cpKey, set(cp, 1, 1), ErrTruncated, "truncated: hash needs 32 bytes at byte 34, 8 left"},
		{"checkpoint flags", cpKey, set(cp, 1, 4), ErrCorrupt, "unknown flags 0x04"},
		{"checkpoint next below begin", cpKey, set(cp, 17, 0), ErrCorrupt, "corrupt: next source offset 0 is out of range [1,4611686018427387904]"},
		{"checkpoint copies too much", cpKey, set(cp, 25, 9), ErrCorrupt, "corrupt: 7 records copied from 4 source offsets"},
		{"checkpoint version", cpKey, set(cp, 0, 7), ErrVersion, "unsupported format version 7 in checkpoint value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.key, tt.value)
			if err == nil {
				t.Fatal("decoded")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %q", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q; want one containing %q", err, tt.msg)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		v    interface{ MarshalBinary() ([]byte, error) }
		msg  string
	}{
		{"no migration", RunKey("", tpOrders, 0), "encode key: corrupt: migration name is empty"},
		{"no topic", CheckpointKey("m", TopicPartition{}), "encode key: corrupt: topic name is empty"},
		{"topic too long", CheckpointKey("m", TopicPartition{Topic: strings.Repeat("t", math.MaxUint16+1)}), "encode key: corrupt: topic name is 65536 bytes, over 65535"},
		{"no kind", Key{Migration: "m", TopicPartition: tpOrders}, "encode key: unknown record kind 0"},
		{"negative run", Run{SrcStart: -1, Count: 1}, "encode run value: corrupt: source start -1 is negative"},
		{"empty run", Run{Count: 0}, "encode run value: corrupt: count 0 is not positive"},
		{"exact run with span", Run{Count: 1, SpanEnd: 4}, "encode run value: corrupt: exact run has span end 4"},
		{"segment too small", Run{SrcStart: 2, Count: 5, Coarsened: true, SpanEnd: 4}, "encode run value: corrupt: coarsened span [2,4) cannot hold 5 records"},
		{"overflow", Run{SrcStart: math.MaxInt64 - 1, Count: 2}, "overflows"},
		{"checkpoint target before start", Checkpoint{TgtStart: 5, TgtNext: 4}, "encode checkpoint value: corrupt: next target offset 4 is below target start 5"},
		{"checkpoint hash without flag", Checkpoint{Hash: [32]byte{1}}, "encode checkpoint value: corrupt: hash set without HasHash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.MarshalBinary()
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v; want one containing %q", err, tt.msg)
			}
		})
	}
}

func mustMarshalLost(from, to int64) []byte {
	// Built by hand: AppendBinary refuses an impossible range.
	b := []byte{FormatVersion}
	for _, v := range []int64{from, to, 0} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// baselineKeyWithPartition encodes a baseline key whose partition is p.
func baselineKeyWithPartition(p byte) []byte {
	b, err := BaselineKey("m").MarshalBinary()
	if err != nil {
		panic(err)
	}
	b[len(b)-9] = p // the partition's low byte, before the trailing int64
	return b
}
