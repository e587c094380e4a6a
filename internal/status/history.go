package status

import (
	"sync"
	"time"
)

// key names a partition in samples.
type key struct {
	topic     string
	partition int32
}

// PartitionRate is the rate of one partition over a window.
type PartitionRate struct {
	// Records is records written to the target per second; Source records
	// written to the source per second.
	Records, Source float64
}

// Rates are the rates over the window of a History; Known is false until it
// holds two samples some time apart.
type Rates struct {
	Known bool
	// Window is the seconds between the two samples the rates come from.
	Window float64
	// Records, Bytes and Source are the totals: records and bytes written to
	// the target per second, records written to the source per second.
	Records, Bytes, Source float64
	// Partitions has the rate of every partition present in both samples.
	Partitions map[key]PartitionRate
}

// Point is one entry of the totals' recent history, for charts.
type Point struct {
	Time       time.Time `json:"time"`
	LagRecords int64     `json:"lag_records"`
	LagSeconds float64   `json:"lag_seconds"`
	// RecordsPerSecond and SourceRecordsPerSecond are the rates over the
	// History's window at that time; null while unknown.
	RecordsPerSecond       *float64 `json:"records_per_second"`
	SourceRecordsPerSecond *float64 `json:"source_records_per_second"`
}

type sample struct {
	t     time.Time
	bytes int64
	// written is every partition's target position; ends the source end of
	// those whose end is known (the source rate counts growth, not the
	// discovery of an end).
	written map[key]int64
	ends    map[key]int64
}

// History keeps recent samples of a migration's observations: the rates over
// its window come from the oldest and the newest, and a bounded series of the
// totals feeds the dashboard's charts. It is safe for concurrent use.
type History struct {
	window time.Duration
	keep   int

	mu      sync.Mutex
	samples []sample
	points  []Point
}

// NewHistory returns a history whose rates span window (0: every sample kept,
// rates from the first and the last) and that keeps the last points totals for
// charts (0: none).
func NewHistory(window time.Duration, points int) *History {
	return &History{window: window, keep: points}
}

// Add records the observations taken at t and returns the rates with them.
func (h *History) Add(t time.Time, obs []Observation) Rates {
	s := sample{t: t, written: make(map[key]int64, len(obs)), ends: make(map[key]int64, len(obs))}
	for _, o := range obs {
		k := key{o.Topic, o.Partition}
		s.bytes += o.Bytes
		if o.Error == "" {
			s.written[k] = o.TargetEnd
			if o.SourceEndKnown {
				s.ends[k] = o.SourceEnd
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if h.window > 0 {
		// Keep one sample at or before the window start, so that the window is full.
		cut := 0
		for i := range h.samples {
			if t.Sub(h.samples[i].t) >= h.window {
				cut = i
			}
		}
		h.samples = h.samples[cut:]
	}
	return h.ratesLocked()
}

// Rates returns the rates between the oldest and the newest sample.
func (h *History) Rates() Rates {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ratesLocked()
}

func (h *History) ratesLocked() Rates {
	if len(h.samples) < 2 {
		return Rates{}
	}
	a, b := h.samples[0], h.samples[len(h.samples)-1]
	dt := b.t.Sub(a.t).Seconds()
	if dt <= 0 {
		return Rates{}
	}
	r := Rates{Known: true, Window: dt, Partitions: map[key]PartitionRate{}}
	r.Bytes = max(0, float64(b.bytes-a.bytes)) / dt
	var written, src int64
	for k, w := range b.written {
		old, ok := a.written[k]
		if !ok {
			continue
		}
		pr := PartitionRate{Records: max(0, float64(w-old)) / dt}
		written += max(0, w-old)
		if e, ok := b.ends[k]; ok {
			if oe, ok := a.ends[k]; ok {
				pr.Source = max(0, float64(e-oe)) / dt
				src += max(0, e-oe)
			}
		}
		r.Partitions[k] = pr
	}
	r.Records = float64(written) / dt
	r.Source = float64(src) / dt
	return r
}

// Record appends the totals of rep to the chart series.
func (h *History) Record(rep *Report) {
	if h.keep <= 0 {
		return
	}
	t := rep.Totals
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.points) == h.keep {
		copy(h.points, h.points[1:])
		h.points = h.points[:h.keep-1]
	}
	h.points = append(h.points, Point{Time: rep.Taken, LagRecords: t.LagRecords, LagSeconds: t.LagSeconds,
		RecordsPerSecond: t.RecordsPerSecond, SourceRecordsPerSecond: t.SourceRecordsPerSecond})
}

// Points returns the chart series, oldest first.
func (h *History) Points() []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Point{}, h.points...)
}
