package offsetmap

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzTranslate drives a map and the naive model with operations decoded from
// the input and compares every answer, coarsened or not.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{3, 10, 0, 0, 0, 1, 0, 2, 2, 5, 0, 1})                  // appends, a gap, a run
	f.Add([]byte{0, 0, 0, 0, 0, 3, 0, 0, 0, 2, 4, 0, 0, 1, 5, 2, 0, 1}) // gaps, then coarsen
	f.Add([]byte{1, 4, 6, 3, 0, 0, 3, 2, 0, 1, 0, 2, 0, 0, 3, 1, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || len(data) > 256 {
			return
		}
		t0, begin := int64(data[0]), int64(data[1])
		p, err := New(t0, begin)
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(t0, begin)
		for i := 2; i+1 < len(data); i += 2 {
			op, arg := data[i]%6, int64(data[i+1])
			switch op {
			case 0, 1: // one record after a gap of arg%4
				src := m.srcNext + arg%4
				if err := p.Append(src); err != nil {
					t.Fatal(err)
				}
				m.copied = append(m.copied, src)
				m.srcNext = src + 1
			case 2: // a batch
				src, cnt := m.srcNext+arg%3, 1+arg/3%8
				if err := p.AppendRun(src, cnt); err != nil {
					t.Fatal(err)
				}
				for j := range cnt {
					m.copied = append(m.copied, src+j)
				}
				m.srcNext = src + cnt
			case 3:
				to := m.srcNext + arg%5
				if err := p.Advance(to); err != nil {
					t.Fatal(err)
				}
				m.srcNext = to
			case 4:
				if err := p.Coarsen(MinMaxRuns + int(arg%8)); err != nil {
					t.Fatal(err)
				}
			case 5:
				n := int(arg % 10)
				if n == 1 {
					n = 0
				}
				if err := p.SetMaxRuns(n); err != nil {
					t.Fatal(err)
				}
			}
			// Misuse must fail and change nothing.
			if p.Append(m.srcNext-1) == nil || p.Advance(m.srcNext-1) == nil {
				t.Fatal("a step backwards was accepted")
			}
		}
		compare(t, p, m)
	})
}

// FuzzDecode checks that decoding never panics and that whatever decodes
// re-encodes to the same bytes: the encoding has one form per record, so
// nothing corrupt hides behind a lenient parse.
func FuzzDecode(f *testing.F) {
	for _, kv := range []struct {
		k, v interface{ MarshalBinary() ([]byte, error) }
	}{
		{RunKey("m", tpOrders, 5), Run{SrcStart: 5, Count: 3, TgtStart: 1}},
		{RunKey("m", tpOrders, 5), Run{SrcStart: 5, Count: 3, TgtStart: 1, Coarsened: true, SpanEnd: 12}},
		{CheckpointKey("m", tpOrders), Checkpoint{SrcBegin: 1, SrcNext: 9, TgtNext: 4, HasHash: true, Hash: [32]byte{7}}},
		{CheckpointKey("m", tpOrders), nil},
	} {
		k := mustMarshal(f, kv.k)
		var v []byte
		if kv.v != nil {
			v = mustMarshal(f, kv.v)
		}
		f.Add(k, v)
	}
	f.Add([]byte{1, 1, 0}, []byte{1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		rec, err := Decode(key, value)
		if err != nil {
			return
		}
		k, err := rec.Key.MarshalBinary()
		if err != nil || !bytes.Equal(k, key) {
			t.Fatalf("key %x decoded to %+v, re-encoded to %x, %v", key, rec.Key, k, err)
		}
		var v []byte
		switch {
		case rec.Tombstone:
			if len(value) != 0 {
				t.Fatalf("value %x decoded as a tombstone", value)
			}
			return
		case rec.Key.Kind == KindRun:
			v, err = rec.Run.MarshalBinary()
		default:
			v, err = rec.Checkpoint.MarshalBinary()
		}
		if err != nil || !bytes.Equal(v, value) {
			t.Fatalf("value %x decoded to %+v, re-encoded to %x, %v", value, rec, v, err)
		}
	})
}

// FuzzRebuild feeds Rebuild arbitrary run records and checkpoints. It must
// never panic, and whatever it accepts must be a valid map standing at the
// checkpoint that can keep copying.
func FuzzRebuild(f *testing.F) {
	le := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		}
		return b
	}
	// Checkpoint (begin, srcNext, t0, tgtNext) then runs (src, count, tgt,
	// span end or 0, tombstone flag).
	f.Add(le(0, 10, 0, 10, 0, 10, 0, 0, 0))
	f.Add(le(0, 20, 0, 8, 0, 5, 0, 0, 0, 7, 6, 5, 0, 0, 20, 4, 11, 0, 0))
	f.Add(le(0, 30, 0, 12, 0, 5, 0, 0, 0, 7, 3, 5, 0, 0, 0, 8, 0, 10, 0, 11, 4, 8, 0, 0, 7, 0, 0, 0, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		var vals []int64
		for i := 0; i+1 < len(data); i += 2 {
			vals = append(vals, int64(binary.LittleEndian.Uint16(data[i:])))
		}
		if len(vals) < 4 || len(vals) > 4+5*64 {
			return
		}
		cp := Checkpoint{SrcBegin: vals[0], SrcNext: vals[1], TgtStart: vals[2], TgtNext: vals[3]}
		var log []Record
		for v := vals[4:]; len(v) >= 5; v = v[5:] {
			r := Run{SrcStart: v[0], Count: v[1], TgtStart: v[2], SpanEnd: v[3], Coarsened: v[3] != 0}
			log = append(log, Record{Key: RunKey("m", tpOrders, r.SrcStart), Run: r, Tombstone: v[4]&1 == 1})
		}
		p, err := Rebuild(tpOrders, cp, log)
		if err != nil {
			return
		}
		if err := p.check(); err != nil {
			t.Fatalf("accepted an invalid map: %v", err)
		}
		if s, g := p.Next(); s != cp.SrcNext || g != cp.TgtNext {
			t.Fatalf("Next() = %d, %d; checkpoint %+v", s, g, cp)
		}
		if err := p.Append(cp.SrcNext); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Changes().Encode("m", tpOrders); err != nil {
			t.Fatal(err)
		}
	})
}
