package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// maxDatagram is the largest UDP payload the pusher sends: it fits an Ethernet
// MTU with IP and UDP headers, as the Datadog clients choose.
const maxDatagram = 1432

// DogStatsD pushes gathered metrics to a DogStatsD agent over UDP.
//
// Names follow Datadog's OpenMetrics check with namespace kmigrate and
// raw_metric_prefix kmigrate_: kmigrate_replication_lag_records becomes
// kmigrate.replication_lag_records, other families (go_*, process_*) get the
// kmigrate. namespace in front. Gauges are sent as gauges; a counter foo_total as
// the count foo.count (the increase since the previous push); a histogram as
// .count, .sum and cumulative .bucket counts tagged upper_bound; a summary as
// .count, .sum and .quantile gauges tagged quantile. Labels become tags, after
// the configured tags.
type DogStatsD struct {
	conn net.Conn
	g    prometheus.Gatherer
	tags []string
	log  *slog.Logger

	mu sync.Mutex
	// prev holds each cumulative series' value at the previous push.
	prev map[string]float64
}

// NewDogStatsD returns a pusher that sends the families of g to the agent at
// addr (host:port), adding tags (key:value) to every metric.
func NewDogStatsD(addr string, g prometheus.Gatherer, tags []string, log *slog.Logger) (*DogStatsD, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial dogstatsd agent %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clean := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = sanitizeTag(t); t != "" {
			clean = append(clean, t)
		}
	}
	return &DogStatsD{conn: conn, g: g, tags: clean, log: log, prev: map[string]float64{}}, nil
}

// Run pushes every interval until ctx is done, then pushes once more so that
// the last increments are not lost, and closes the connection.
func (d *DogStatsD) Run(ctx context.Context, interval time.Duration) {
	defer d.conn.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := d.Push(); err != nil {
				d.log.Warn("final dogstatsd push failed", "err", err)
			}
			return
		case <-t.C:
			if err := d.Push(); err != nil {
				d.log.Warn("dogstatsd push failed; retrying at the next interval", "err", err)
			}
		}
	}
}

// Close closes the connection; for a pusher whose Run was never called.
func (d *DogStatsD) Close() error { return d.conn.Close() }

// Push gathers once and sends every sample. A gathering error still sends what
// was gathered.
func (d *DogStatsD) Push() error {
	fams, gerr := d.g.Gather()
	d.mu.Lock()
	lines := d.lines(fams)
	d.mu.Unlock()
	if err := d.send(lines); err != nil {
		return err
	}
	if gerr != nil {
		return fmt.Errorf("gather metrics: %w", gerr)
	}
	return nil
}

// send packs lines into datagrams of at most maxDatagram bytes.
func (d *DogStatsD) send(lines []string) error {
	var buf []byte
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := d.conn.Write(buf)
		buf = buf[:0]
		if err != nil {
			return fmt.Errorf("send to dogstatsd agent: %w", err)
		}
		return nil
	}
	for _, l := range lines {
		if len(buf) > 0 && len(buf)+1+len(l) > maxDatagram {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(buf) > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, l...)
	}
	return flush()
}

// lines converts the families to DogStatsD lines, updating prev.
func (d *DogStatsD) lines(fams []*dto.MetricFamily) []string {
	var out []string
	seen := make(map[string]bool, len(d.prev))
	add := func(name, typ string, v float64, tags []string) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		line := name + ":" + strconv.FormatFloat(v, 'f', -1, 64) + "|" + typ
		if len(tags) > 0 {
			line += "|#" + strings.Join(tags, ",")
		}
		out = append(out, line)
	}
	// delta returns the increase of a cumulative series since the last push; a
	// series seen for the first time, or reset, counts from zero.
	delta := func(key string, v float64) float64 {
		seen[key] = true
		p, ok := d.prev[key]
		d.prev[key] = v
		if !ok || v < p {
			return v
		}
		return v - p
	}
	for _, f := range fams {
		base := ddName(f.GetName())
		for _, m := range f.GetMetric() {
			tags := d.tagsOf(m)
			key := f.GetName() + "\x00" + strings.Join(tags, ",")
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				name := strings.TrimSuffix(base, "_total") + ".count"
				add(name, "c", delta(key, m.GetCounter().GetValue()), tags)
			case dto.MetricType_GAUGE:
				add(base, "g", m.GetGauge().GetValue(), tags)
			case dto.MetricType_UNTYPED:
				add(base, "g", m.GetUntyped().GetValue(), tags)
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				add(base+".count", "c", delta(key+"\x00count", float64(h.GetSampleCount())), tags)
				add(base+".sum", "c", delta(key+"\x00sum", h.GetSampleSum()), tags)
				inf := false
				for _, b := range h.GetBucket() {
					bound := formatBound(b.GetUpperBound())
					inf = inf || math.IsInf(b.GetUpperBound(), 1)
					add(base+".bucket", "c", delta(key+"\x00le"+bound, float64(b.GetCumulativeCount())), with(tags, "upper_bound:"+bound))
				}
				if !inf {
					add(base+".bucket", "c", delta(key+"\x00leinf", float64(h.GetSampleCount())), with(tags, "upper_bound:inf"))
				}
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				add(base+".count", "c", delta(key+"\x00count", float64(s.GetSampleCount())), tags)
				add(base+".sum", "c", delta(key+"\x00sum", s.GetSampleSum()), tags)
				for _, q := range s.GetQuantile() {
					add(base+".quantile", "g", q.GetValue(), with(tags, "quantile:"+strconv.FormatFloat(q.GetQuantile(), 'f', -1, 64)))
				}
			}
		}
	}
	// Forget series that disappeared (a topic no longer copied), so that prev
	// does not grow without bound.
	for k := range d.prev {
		if !seen[k] {
			delete(d.prev, k)
		}
	}
	return out
}

// tagsOf returns the configured tags and the metric's labels as key:value.
func (d *DogStatsD) tagsOf(m *dto.Metric) []string {
	tags := make([]string, 0, len(d.tags)+len(m.GetLabel()))
	tags = append(tags, d.tags...)
	labels := m.GetLabel()
	sort.Slice(labels, func(i, j int) bool { return labels[i].GetName() < labels[j].GetName() })
	for _, l := range labels {
		if t := sanitizeTag(l.GetName() + ":" + l.GetValue()); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// with returns tags and one more, leaving tags as it is.
func with(tags []string, tag string) []string {
	return append(tags[:len(tags):len(tags)], tag)
}

// ddName maps a Prometheus family name to its Datadog name.
func ddName(name string) string {
	return "kmigrate." + strings.TrimPrefix(name, "kmigrate_")
}

func formatBound(b float64) string {
	if math.IsInf(b, 1) {
		return "inf"
	}
	return strconv.FormatFloat(b, 'f', -1, 64)
}

// sanitizeTag removes the characters that delimit DogStatsD fields.
func sanitizeTag(t string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '|', ',', '#', '\n', '\r':
			return '_'
		}
		return r
	}, strings.TrimSpace(t))
}
