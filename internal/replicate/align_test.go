package replicate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/recordhash"
)

// sliceStream streams records from a slice.
type sliceStream []tailRecord

func (s *sliceStream) next() (tailRecord, bool, error) {
	if len(*s) == 0 {
		return tailRecord{}, false, nil
	}
	r := (*s)[0]
	*s = (*s)[1:]
	return r, true, nil
}

// rec is a record with value v at offset o; "" is an offset with no record,
// "|" a control record (source only).
func recs(from int64, values ...string) sliceStream {
	var out sliceStream
	var controls []int64
	for i, v := range values {
		o := from + int64(i)
		switch v {
		case "":
		case "|":
			controls = append(controls, o)
		default:
			r := &kgo.Record{Key: []byte(v), Value: []byte(v)}
			out = append(out, tailRecord{offset: o, sum: recordhash.Record(r), rec: r, controls: controls})
			controls = nil
		}
	}
	return out
}

// sink records what alignTail gives the map.
type sink struct {
	appended []int64
	next     int64
}

func (s *sink) Append(src int64) error {
	if src < s.next {
		return fmt.Errorf("append %d below %d", src, s.next)
	}
	s.appended = append(s.appended, src)
	s.next = src + 1
	return nil
}

func (s *sink) Advance(n int64) error {
	if n < s.next {
		return fmt.Errorf("advance to %d below %d", n, s.next)
	}
	s.next = n
	return nil
}

func TestAlignTail(t *testing.T) {
	// The checkpoint is source 10, target 20 in every case.
	type want struct {
		appended                                     []int64
		matched, srcCompacted, srcRetention, tgtHole int64
		bothRemoved                                  int64
		err                                          string
	}
	for _, tc := range []struct {
		name         string
		src, tgt     []string // from offsets 10 and 20
		srcStart     int64    // 0: 10
		tgtStart     int64    // 0: 20
		srcCompacted bool
		tgtCompacted bool
		want         want
	}{
		{name: "no compaction", src: []string{"a", "b", "c", "d"}, tgt: []string{"a", "b", "c"},
			want: want{appended: []int64{10, 11, 12}, matched: 3}},
		{name: "control records skipped", src: []string{"a", "|", "b", "|", "|", "c"}, tgt: []string{"a", "b", "c"},
			want: want{appended: []int64{10, 12, 15}, matched: 3}},
		{name: "source holes take the latest free offsets", src: []string{"a", "", "", "", "", "d"}, tgt: []string{"a", "b", "c", "d"},
			srcCompacted: true, want: want{appended: []int64{10, 13, 14, 15}, matched: 2, srcCompacted: 2}},
		{name: "source holes skip control records", src: []string{"a", "", "", "", "|", "d"}, tgt: []string{"a", "b", "c", "d"},
			srcCompacted: true, want: want{appended: []int64{10, 12, 13, 15}, matched: 2, srcCompacted: 2}},
		{name: "target holes take the source records", src: []string{"a", "b", "c", "d"}, tgt: []string{"a", "", "", "d"},
			tgtCompacted: true, want: want{appended: []int64{10, 11, 12, 13}, matched: 2, tgtHole: 2}},
		{name: "target hole at the end", src: []string{"a", "b", "c"}, tgt: []string{"a", ""},
			tgtCompacted: true, want: want{appended: []int64{10, 11}, matched: 1, tgtHole: 1}},
		{name: "removed on both sides", src: []string{"a", "", "c", "", "e"}, tgt: []string{"a", "", "c", "", "e"},
			srcCompacted: true, tgtCompacted: true,
			want: want{appended: []int64{10, 11, 12, 13, 14}, matched: 3, tgtHole: 2, bothRemoved: 2}},
		{name: "hole on one side, then the other", src: []string{"a", "b", "c", "", "e"}, tgt: []string{"a", "", "c", "d", "e"},
			srcCompacted: true, tgtCompacted: true,
			want: want{appended: []int64{10, 11, 12, 13, 14}, matched: 3, tgtHole: 1, srcCompacted: 1}},
		{name: "target hole before records retention deleted at the source", src: []string{"", "", "k1v2", "k2v2"}, tgt: []string{"", "k2v1", "k1v2"},
			srcStart: 12, tgtCompacted: true,
			// k1v1 and k2v1 were at source offsets 10 and 11, below the log start now.
			want: want{appended: []int64{10, 11, 12}, matched: 1, srcRetention: 1, tgtHole: 1, bothRemoved: 1}},
		{name: "both compacted, hole and removed record", src: []string{"", "", "k1v2", "", "k2v2"}, tgt: []string{"", "k2v1", "k1v2"},
			srcCompacted: true, tgtCompacted: true,
			want: want{appended: []int64{10, 11, 12}, matched: 1, srcCompacted: 1, tgtHole: 1, bothRemoved: 1}},
		{name: "identical records", src: []string{"x", "x", "y", "x"}, tgt: []string{"x", "x", "y", "x"},
			want: want{appended: []int64{10, 11, 12, 13}, matched: 4}},
		{name: "identical records around a target hole", src: []string{"x", "x", "y"}, tgt: []string{"", "x", "y"},
			tgtCompacted: true, want: want{appended: []int64{10, 11, 12}, matched: 2, tgtHole: 1}},
		{name: "retention deleted the start of the tail", src: []string{"", "", "", "d", "e"}, tgt: []string{"a", "b", "c", "d"},
			srcStart: 13, want: want{appended: []int64{10, 11, 12, 13}, matched: 1, srcRetention: 3}},
		{name: "retention deleted the whole tail and more", src: []string{"", "", "", "", "", "f"}, tgt: []string{"a", "b"},
			srcStart: 15, want: want{appended: []int64{10, 11}, srcRetention: 2}},
		{name: "target retention", src: []string{"a", "b", "c"}, tgt: []string{"", "", "c"}, tgtStart: 22,
			want: want{appended: []int64{10, 11, 12}, matched: 1, tgtHole: 2}},
		{name: "differs, source not compacted", src: []string{"a", "b", "c"}, tgt: []string{"a", "B"},
			want: want{err: "target t[0] offset 21 holds a record that differs from source offset 11 (key)"}},
		{name: "differs, no free source offset", src: []string{"a", "c"}, tgt: []string{"a", "b", "c"}, srcCompacted: true,
			want: want{err: "target t[0] offset 21 holds a record that differs from source offset 11 (key), and too few source offsets are free"}},
		{name: "more target records than the source had", src: []string{"a"}, tgt: []string{"a", "b"},
			want: want{err: "target t[0] offset 21 holds a record that source s[0] does not have"}},
		{name: "hole in a target that is not compacted", src: []string{"a", "b"}, tgt: []string{"", "b"},
			want: want{err: "target t[0] has no record at offset 20 (the next is at 21) and the topic is not compacted"}},
		{name: "target holes the source cannot account for", src: []string{"a"}, tgt: []string{"a", "", "c"}, tgtCompacted: true,
			want: want{err: "target t[0] offset 22 holds a record that source s[0] does not have"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, tgt := recs(10, tc.src...), recs(20, tc.tgt...)
			sp := alignSpec{srcNext: 10, tgtNext: 20, tgtEnd: 20 + int64(len(tc.tgt)),
				srcStart: max(tc.srcStart, 10), srcEnd: 10 + int64(len(tc.src)), tgtStart: max(tc.tgtStart, 20),
				srcCompacted: tc.srcCompacted, tgtCompacted: tc.tgtCompacted, srcName: "s[0]", tgtName: "t[0]"}
			// The source stream starts at the log start, as the engine reads it.
			for len(src) > 0 && src[0].offset < sp.srcStart {
				src = src[1:]
			}
			var m sink
			c, err := alignTail(sp, &tgt, &src, &m)
			if tc.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want.err) {
					t.Fatalf("error %v, want one with %q", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.appended, tc.want.appended) {
				t.Errorf("source offsets %v, want %v", m.appended, tc.want.appended)
			}
			got := want{appended: tc.want.appended, matched: c.matched, srcCompacted: c.srcCompacted,
				srcRetention: c.srcRetention, tgtHole: c.tgtHoles, bothRemoved: c.bothRemoved}
			if !slices.Equal(got.appended, tc.want.appended) || got.matched != tc.want.matched || got.srcCompacted != tc.want.srcCompacted ||
				got.srcRetention != tc.want.srcRetention || got.tgtHole != tc.want.tgtHole || got.bothRemoved != tc.want.bothRemoved {
				t.Errorf("counts %+v, want %+v", c, tc.want)
			}
			if c.adopted() != sp.tgtEnd-sp.tgtNext {
				t.Errorf("adopted %d, want %d", c.adopted(), sp.tgtEnd-sp.tgtNext)
			}
		})
	}
}

// FuzzAlignTail builds a copy, removes records on either side as compaction
// would (a record goes only when a later one has its key), and checks that
// the alignment gives every target offset a source offset, in order, each
// kept source record its own offset, and every removed one an offset at or
// above its true one (the safe direction for translation).
func FuzzAlignTail(f *testing.F) {
	f.Add(uint64(1), uint8(20), uint8(4), true, true)
	f.Add(uint64(7), uint8(50), uint8(3), true, false)
	f.Add(uint64(9), uint8(50), uint8(8), false, true)
	f.Fuzz(func(t *testing.T, seed uint64, n, keys uint8, srcComp, tgtComp bool) {
		if n == 0 || keys == 0 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		// The source: n records from offset 100 with a control record now
		// and then; each has a unique value.
		type rec struct {
			off int64
			key string
			r   tailRecord
		}
		var source []rec
		var controls []int64
		o := int64(100)
		for i := range int(n) {
			if rng.IntN(8) == 0 {
				controls = append(controls, o)
				o++
			}
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", rng.IntN(int(keys))), Value: fmt.Appendf(nil, "v%d", i)}
			source = append(source, rec{off: o, key: string(r.Key), r: tailRecord{offset: o, sum: recordhash.Record(r), rec: r, controls: controls}})
			controls = nil
			o++
		}
		srcEnd := o
		copied := 1 + rng.IntN(len(source))
		// removable: a later record of the same key exists within limit.
		removable := func(i, limit int) bool {
			for j := i + 1; j < limit; j++ {
				if source[j].key == source[i].key {
					return true
				}
			}
			return false
		}
		var src, tgt sliceStream
		keptSrc := map[int64]bool{}
		for i, r := range source {
			// The last record always stays, like the active segment.
			if srcComp && i < len(source)-1 && removable(i, len(source)) && rng.IntN(2) == 0 {
				continue
			}
			src = append(src, r.r)
			keptSrc[r.off] = true
		}
		// Control records survive with the next kept record.
		var all []int64
		for _, r := range source {
			all = append(all, r.r.controls...)
		}
		prev := int64(0)
		for i := range src {
			var cs []int64
			for _, c := range all {
				if c >= prev && c < src[i].offset {
					cs = append(cs, c)
				}
			}
			src[i].controls = cs
			prev = src[i].offset
		}
		for i := range copied {
			if tgtComp && i < copied-1 && removable(i, copied) && rng.IntN(2) == 0 {
				continue
			}
			r := source[i].r
			r.offset = 200 + int64(i)
			r.controls = nil
			tgt = append(tgt, r)
		}
		tgtCopy := append(sliceStream(nil), tgt...)
		sp := alignSpec{srcNext: 100, tgtNext: 200, tgtEnd: 200 + int64(copied), srcStart: 100, srcEnd: srcEnd, tgtStart: 200,
			srcCompacted: srcComp, tgtCompacted: tgtComp, srcName: "s", tgtName: "t"}
		m, err := offsetmap.New(200, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got sink
		c, err := alignTail(sp, &tgt, &src, &both{m, &got})
		dump := func() string {
			var b strings.Builder
			for i, r := range source {
				fmt.Fprintf(&b, "%d:%s/%s kept=%v ctl=%v tgt<%d? ; ", r.off, r.key, r.r.rec.Value, keptSrc[r.off], r.r.controls, i)
			}
			fmt.Fprintf(&b, "\ncopied %d; target:", copied)
			for _, r := range tgtCopy {
				fmt.Fprintf(&b, " %d:%s", r.offset, r.rec.Value)
			}
			fmt.Fprintf(&b, "\ngot %v", got.appended)
			return b.String()
		}
		if err != nil {
			t.Fatalf("a copy compaction explains was refused: %v\n%s", err, dump())
		}
		if int64(len(got.appended)) != int64(copied) || c.adopted() != int64(copied) {
			t.Fatalf("%d source offsets for %d target offsets (counts %+v)", len(got.appended), copied, c)
		}
		// A target record whose source record is still there has its offset.
		present := map[int64]bool{}
		for _, r := range tgtCopy {
			present[r.offset] = true
		}
		for i, off := range got.appended {
			if was := source[i].off; present[200+int64(i)] && keptSrc[was] && off != was {
				t.Errorf("target %d: source offset %d, want %d (the record is on both sides)", 200+i, off, was)
			}
		}
		// Every source position translates, to the next target record still
		// there, at or before where it truly does: a consumer may read a
		// record again, never skip one.
		translate := func(srcOffs []int64, c int64) int64 {
			i, _ := slices.BinarySearch(srcOffs, c)
			for int64(i) < int64(copied) && !present[200+int64(i)] {
				i++
			}
			return int64(i)
		}
		var truth []int64
		for _, r := range source[:copied] {
			truth = append(truth, r.off)
		}
		for c := int64(100); c <= srcEnd; c++ {
			if ours, want := translate(got.appended, c), translate(truth, c); ours > want {
				t.Errorf("source position %d translates to target %d, after its true %d\n%s", c, 200+ours, 200+want, dump())
			}
		}
		// The copy resumes after the last source offset given: no record
		// still on the source is skipped, and none is copied twice.
		ours, want := got.appended[len(got.appended)-1], truth[len(truth)-1]
		for o := min(ours, want) + 1; o <= max(ours, want); o++ {
			if keptSrc[o] {
				t.Errorf("the copy resumes after source offset %d, the last copied was %d: record %d would be skipped or copied twice\n%s", ours, want, o, dump())
			}
		}
	})
}

// both sends the alignment to two sinks.
type both struct {
	a, b mapSink
}

func (s *both) Append(o int64) error {
	if err := s.a.Append(o); err != nil {
		return err
	}
	return s.b.Append(o)
}

func (s *both) Advance(o int64) error {
	if err := s.a.Advance(o); err != nil {
		return err
	}
	return s.b.Advance(o)
}
