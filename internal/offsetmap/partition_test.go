package offsetmap

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// step is one operation in a table test; exactly one of its fields is used.
type step struct {
	append  int64    // Append(append) when op == "append"
	run     [2]int64 // AppendRun(run[0], run[1])
	advance int64    // Advance(advance)
	op      string   // "append", "run", "advance"
	wantErr string   // substring of the expected error, "" for none
}

func apply(t *testing.T, p *Partition, steps []step) {
	t.Helper()
	for i, s := range steps {
		var err error
		switch s.op {
		case "append":
			err = p.Append(s.append)
		case "run":
			err = p.AppendRun(s.run[0], s.run[1])
		case "advance":
			err = p.Advance(s.advance)
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if s.wantErr == "" && err != nil {
			t.Fatalf("step %d (%s): %v", i, s.op, err)
		}
		if s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
			t.Fatalf("step %d (%s): error %v, want one containing %q", i, s.op, err, s.wantErr)
		}
	}
}

func ap(src int64) step             { return step{op: "append", append: src} }
func apRun(src, count int64) step   { return step{op: "run", run: [2]int64{src, count}} }
func adv(to int64) step             { return step{op: "advance", advance: to} }
func fails(s step, msg string) step { s.wantErr = msg; return s }

func TestPartition(t *testing.T) {
	tests := []struct {
		name             string
		t0, begin        int64
		steps            []step
		wantRuns         []Run
		wantNext         [2]int64
		translate        map[int64]Translation
		targetOf         map[int64]int64 // missing key: not copied
		checkTargetRange [2]int64
	}{
		{
			name: "empty",
			t0:   7, begin: 100,
			wantNext: [2]int64{100, 7},
			translate: map[int64]Translation{
				99:  {Kind: BehindStart, Offset: 7},
				100: {Kind: Exact, Offset: 7},
				101: {Kind: Pending, Offset: -1},
			},
		},
		{
			name: "ordinary topic is one run",
			t0:   0, begin: 1_000_000_000,
			steps:    []step{ap(1_000_000_000), ap(1_000_000_001), apRun(1_000_000_002, 8)},
			wantRuns: []Run{{SrcStart: 1_000_000_000, Count: 10, TgtStart: 0}},
			wantNext: [2]int64{1_000_000_010, 10},
			translate: map[int64]Translation{
				999_999_999:   {Kind: BehindStart, Offset: 0},
				1_000_000_000: {Kind: Exact, Offset: 0},
				1_000_000_005: {Kind: Exact, Offset: 5},
				1_000_000_010: {Kind: Exact, Offset: 10},
				1_000_000_011: {Kind: Pending, Offset: -1},
			},
			targetOf: map[int64]int64{
				1_000_000_000: 0, 1_000_000_001: 1, 1_000_000_002: 2, 1_000_000_003: 3, 1_000_000_004: 4,
				1_000_000_005: 5, 1_000_000_006: 6, 1_000_000_007: 7, 1_000_000_008: 8, 1_000_000_009: 9,
			},
			checkTargetRange: [2]int64{999_999_998, 1_000_000_012},
		},
		{
			name: "first copied record after the start",
			t0:   5, begin: 10,
			steps:    []step{ap(13), ap(14)},
			wantRuns: []Run{{SrcStart: 13, Count: 2, TgtStart: 5}},
			wantNext: [2]int64{15, 7},
			translate: map[int64]Translation{
				10: {Kind: Exact, Offset: 5},
				13: {Kind: Exact, Offset: 5},
				14: {Kind: Exact, Offset: 6},
				15: {Kind: Exact, Offset: 7},
			},
			targetOf:         map[int64]int64{13: 5, 14: 6},
			checkTargetRange: [2]int64{8, 17},
		},
		{
			name: "compaction holes make runs",
			t0:   0, begin: 0,
			steps: []step{ap(0), ap(1), ap(4), ap(5), ap(6), ap(9)},
			wantRuns: []Run{
				{SrcStart: 0, Count: 2, TgtStart: 0},
				{SrcStart: 4, Count: 3, TgtStart: 2},
				{SrcStart: 9, Count: 1, TgtStart: 5},
			},
			wantNext: [2]int64{10, 6},
			translate: map[int64]Translation{
				2:  {Kind: Exact, Offset: 2}, // in a hole: the next copied record
				3:  {Kind: Exact, Offset: 2},
				4:  {Kind: Exact, Offset: 2},
				7:  {Kind: Exact, Offset: 5},
				9:  {Kind: Exact, Offset: 5},
				10: {Kind: Exact, Offset: 6},
			},
			targetOf:         map[int64]int64{0: 0, 1: 1, 4: 2, 5: 3, 6: 4, 9: 5},
			checkTargetRange: [2]int64{0, 11},
		},
		{
			name: "transaction marker at the end is advanced over",
			t0:   0, begin: 0,
			steps:    []step{apRun(0, 3), adv(4)},
			wantRuns: []Run{{SrcStart: 0, Count: 3, TgtStart: 0}},
			wantNext: [2]int64{4, 3},
			translate: map[int64]Translation{
				3: {Kind: Exact, Offset: 3},
				4: {Kind: Exact, Offset: 3}, // exact up to srcNext
				5: {Kind: Pending, Offset: -1},
			},
		},
		{
			name: "append after advance starts a run",
			t0:   0, begin: 0,
			steps:    []step{ap(0), adv(2), ap(2)},
			wantRuns: []Run{{SrcStart: 0, Count: 1, TgtStart: 0}, {SrcStart: 2, Count: 1, TgtStart: 1}},
			wantNext: [2]int64{3, 2},
		},
		{
			name: "batch extends a run",
			t0:   0, begin: 0,
			steps:    []step{ap(0), apRun(1, 4), apRun(7, 2), ap(9)},
			wantRuns: []Run{{SrcStart: 0, Count: 5, TgtStart: 0}, {SrcStart: 7, Count: 3, TgtStart: 5}},
			wantNext: [2]int64{10, 8},
		},
		{
			name: "offsets up to the limit",
			t0:   0, begin: MaxOffset - 2,
			steps: []step{
				ap(MaxOffset - 2), ap(MaxOffset - 1),
				fails(ap(MaxOffset), "out of range"),
				adv(MaxOffset),
				fails(apRun(MaxOffset, 1), "out of range"),
			},
			wantRuns: []Run{{SrcStart: MaxOffset - 2, Count: 2, TgtStart: 0}},
			wantNext: [2]int64{MaxOffset, 2},
		},
		{
			name: "errors leave the map unchanged",
			t0:   0, begin: 10,
			steps: []step{
				fails(ap(9), "append source offset 9: below next source offset 10"),
				ap(10),
				fails(ap(10), "below next source offset 11"),
				adv(12),
				fails(ap(11), "append source offset 11: below next source offset 12"),
				fails(apRun(12, 0), "append run at source offset 12: count 0 is not positive"),
				fails(apRun(11, 2), "below next source offset 12"),
				fails(adv(11), "advance to source offset 11: below next source offset 12"),
				fails(ap(math.MaxInt64), "out of range"),
				fails(ap(MaxOffset), "append source offset 4611686018427387904: out of range"),
				fails(apRun(12, math.MaxInt64-5), "out of range"),
				fails(adv(math.MaxInt64), "out of range"),
			},
			wantRuns: []Run{{SrcStart: 10, Count: 1, TgtStart: 0}},
			wantNext: [2]int64{12, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.t0, tt.begin)
			if err != nil {
				t.Fatal(err)
			}
			apply(t, p, tt.steps)
			if err := p.check(); err != nil {
				t.Fatal(err)
			}
			if got := p.Runs(); !slices.Equal(got, tt.wantRuns) && len(got)+len(tt.wantRuns) > 0 {
				t.Errorf("Runs() = %v; want %v", got, tt.wantRuns)
			}
			if p.NumRuns() != len(tt.wantRuns) {
				t.Errorf("NumRuns() = %d; want %d", p.NumRuns(), len(tt.wantRuns))
			}
			if s, g := p.Next(); s != tt.wantNext[0] || g != tt.wantNext[1] {
				t.Errorf("Next() = %d, %d; want %v", s, g, tt.wantNext)
			}
			for c, want := range tt.translate {
				if got := p.Translate(c); got != want {
					t.Errorf("Translate(%d) = %v; want %v", c, got, want)
				}
			}
			for src := tt.checkTargetRange[0]; src < tt.checkTargetRange[1]; src++ {
				want, wantOK := tt.targetOf[src]
				got, ok := p.TargetOf(src)
				if got != want || ok != wantOK {
					t.Errorf("TargetOf(%d) = %d, %v; want %d, %v", src, got, ok, want, wantOK)
				}
				if ok {
					if back, ok := p.SourceOf(got); !ok || back != src {
						t.Errorf("SourceOf(%d) = %d, %v; want %d, true", got, back, ok, src)
					}
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name      string
		t0, begin int64
		wantErr   string
	}{
		{"zero", 0, 0, ""},
		{"billions", 0, 4_000_000_000, ""},
		{"negative target start", -1, 0, "new offset map: target start -1 is out of range"},
		{"target start at the limit", MaxOffset, 0, "new offset map: target start 4611686018427387904 is out of range"},
		{"source begin at the limit", 0, MaxOffset, ""},
		{"negative source begin", 0, -1, "new offset map: source begin -1 is out of range"},
		{"source begin past the limit", 0, math.MaxInt64, "new offset map: source begin 9223372036854775807 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.t0, tt.begin)
			if tt.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("New(%d, %d) = %v, %v", tt.t0, tt.begin, p, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("New(%d, %d) error = %v; want %q", tt.t0, tt.begin, err, tt.wantErr)
			}
		})
	}
}

func TestCoarsen(t *testing.T) {
	// Runs: [0,2) [4,7) [9,10) [12,14) -> target [0,2) [2,5) [5,6) [6,8).
	build := func(t *testing.T) *Partition {
		p, _ := New(0, 0)
		apply(t, p, []step{apRun(0, 2), apRun(4, 3), ap(9), apRun(12, 2)})
		return p
	}
	t.Run("merges the oldest runs", func(t *testing.T) {
		p := build(t)
		if err := p.Coarsen(2); err != nil {
			t.Fatal(err)
		}
		want := []Run{
			{SrcStart: 0, Count: 6, TgtStart: 0, Coarsened: true, SpanEnd: 10},
			{SrcStart: 12, Count: 2, TgtStart: 6},
		}
		if got := p.Runs(); !slices.Equal(got, want) {
			t.Fatalf("Runs() = %v; want %v", got, want)
		}
		if s, e, ok := p.CoarsenedRange(); !ok || s != 0 || e != 10 || !p.Coarsened() {
			t.Fatalf("CoarsenedRange() = %d, %d, %v", s, e, ok)
		}
		for c, want := range map[int64]Translation{
			0: {Kind: Exact, Offset: 0},
			// 6 records in [0,10): below 1 at least max(0, 6-9) = 0, at most 1.
			1:  {Kind: Approximate, Offset: 0, MaxDuplicates: 1},
			2:  {Kind: Approximate, Offset: 0, MaxDuplicates: 2},
			5:  {Kind: Approximate, Offset: 1, MaxDuplicates: 4},
			9:  {Kind: Approximate, Offset: 5, MaxDuplicates: 1},
			10: {Kind: Exact, Offset: 6},
			11: {Kind: Exact, Offset: 6},
			13: {Kind: Exact, Offset: 7},
			14: {Kind: Exact, Offset: 8},
		} {
			if got := p.Translate(c); got != want {
				t.Errorf("Translate(%d) = %v; want %v", c, got, want)
			}
		}
		if _, ok := p.TargetOf(4); ok {
			t.Error("TargetOf(4) answered inside the coarsened segment")
		}
		if tgt, ok := p.TargetOf(12); !ok || tgt != 6 {
			t.Errorf("TargetOf(12) = %d, %v; want 6, true", tgt, ok)
		}
		if _, ok := p.SourceOf(3); ok {
			t.Error("SourceOf(3) answered inside the coarsened segment")
		}
	})
	t.Run("recoarsening extends the segment", func(t *testing.T) {
		p := build(t)
		if err := p.Coarsen(3); err != nil {
			t.Fatal(err)
		}
		apply(t, p, []step{ap(20)})
		if err := p.Coarsen(2); err != nil {
			t.Fatal(err)
		}
		want := []Run{
			{SrcStart: 0, Count: 8, TgtStart: 0, Coarsened: true, SpanEnd: 14},
			{SrcStart: 20, Count: 1, TgtStart: 8},
		}
		if got := p.Runs(); !slices.Equal(got, want) {
			t.Fatalf("Runs() = %v; want %v", got, want)
		}
	})
	t.Run("bound applies as runs appear", func(t *testing.T) {
		p := build(t)
		if err := p.SetMaxRuns(3); err != nil {
			t.Fatal(err)
		}
		if p.NumRuns() != 3 || p.MaxRuns() != 3 {
			t.Fatalf("NumRuns() = %d MaxRuns() = %d; want 3, 3", p.NumRuns(), p.MaxRuns())
		}
		for src := int64(20); src < 2000; src += 2 {
			apply(t, p, []step{ap(src)})
			if p.NumRuns() > 3 {
				t.Fatalf("NumRuns() = %d after Append(%d)", p.NumRuns(), src)
			}
		}
		if p.SizeBytes() > partitionBytes+16*runBytes {
			t.Errorf("SizeBytes() = %d for 3 runs", p.SizeBytes())
		}
	})
	t.Run("fewer runs than the bound", func(t *testing.T) {
		p := build(t)
		if err := p.Coarsen(4); err != nil || p.Coarsened() {
			t.Fatalf("Coarsen(4) = %v, Coarsened() = %v", err, p.Coarsened())
		}
	})
	t.Run("bound below the minimum", func(t *testing.T) {
		p := build(t)
		if err := p.Coarsen(1); err == nil || err.Error() != "coarsen offset map to 1 runs: below the minimum of 2" {
			t.Errorf("Coarsen(1) = %v", err)
		}
		if err := p.SetMaxRuns(-1); err == nil {
			t.Error("SetMaxRuns(-1) succeeded")
		}
		if err := p.SetMaxRuns(0); err != nil {
			t.Errorf("SetMaxRuns(0) = %v", err)
		}
	})
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Translation{Kind: Exact, Offset: 42}.String(), "exact 42"},
		{Translation{Kind: Approximate, Offset: 40, MaxDuplicates: 2}.String(), "approximate 40 (up to 2 duplicates)"},
		{Translation{Kind: Pending, Offset: -1}.String(), "pending"},
		{Translation{Kind: BehindStart, Offset: 0}.String(), "behind-start 0"},
		{Translation{}.String(), "TranslationKind(0) 0"},
		{Run{SrcStart: 5, Count: 3, TgtStart: 0}.String(), "source [5,8) -> target [0,3)"},
		{Run{SrcStart: 5, Count: 3, TgtStart: 0, Coarsened: true, SpanEnd: 10}.String(), "coarsened source [5,10) 3 records -> target [0,3)"},
		{TopicPartition{"orders", 3}.String(), "orders/3"},
		{KindRun.String() + " " + KindCheckpoint.String() + " " + RecordKind(9).String(), "run checkpoint RecordKind(9)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
	p, _ := New(0, 0)
	_ = p.AppendRun(0, 3)
	_ = p.AppendRun(5, 3)
	_ = p.Append(10)
	_ = p.Coarsen(2)
	if got, want := p.String(), "offset map source [0,11) -> target [0,7), 2 runs, coarsened source [0,8)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

// TestAppendAllocs pins the hot path: extending a run allocates nothing.
func TestAppendAllocs(t *testing.T) {
	p, _ := New(0, 0)
	_ = p.Append(0)
	src := int64(1)
	if n := testing.AllocsPerRun(1000, func() {
		_ = p.Append(src)
		src++
	}); n != 0 {
		t.Errorf("Append allocates %v times per record", n)
	}
}
