package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/kmigrate/kmigrate/internal/status"
	"github.com/kmigrate/kmigrate/internal/web"
)

// runLogInterval is how often a continuous run logs its progress.
const runLogInterval = 10 * time.Second

// logProgress logs, every interval until ctx is done, one "copy progress" line
// with the totals of the status model, and at once every change of a
// partition's phase and the first time the whole migration follows the source
// ("caught up"). It is what a run in a terminal or a log pipeline shows of
// itself between start and SIGTERM.
func logProgress(ctx context.Context, log *slog.Logger, feed web.Source, interval time.Duration) {
	hist := status.NewHistory(interval, 0)
	type tp struct {
		topic     string
		partition int32
	}
	phases := map[tp]status.Phase{}
	caughtUp := false
	lastLine := time.Time{}
	check := func() {
		snap := feed.Snapshot()
		if !snap.Started {
			return
		}
		now := time.Now()
		obs := make([]status.Observation, len(snap.Partitions))
		for i, p := range snap.Partitions {
			obs[i] = status.FromEngine(p)
		}
		rates := hist.Add(now, obs)
		rep := status.Build(status.Input{Migration: snap.Migration, Taken: now, Baseline: snap.Baseline,
			Run: status.Run{Known: true, Alive: true, Self: true}, Observations: obs, Rates: rates})
		for _, p := range rep.Partitions {
			k := tp{p.Topic, p.Partition}
			old, seen := phases[k]
			phases[k] = p.Phase
			if seen && old != p.Phase {
				level := slog.LevelInfo
				if p.Phase == status.Failed {
					level = slog.LevelError
				}
				log.Log(ctx, level, "partition phase changed", "topic", p.Topic, "partition", p.Partition, "from", old, "to", p.Phase, "lag_records", p.LagRecords)
			}
		}
		t := rep.Totals
		if t.Phase == status.Following && !caughtUp {
			caughtUp = true
			log.Info("caught up: every partition follows the source", "partitions", t.Partitions, "lag_records", t.LagRecords, "lag_seconds", round(t.LagSeconds))
		} else if t.Phase != status.Following {
			caughtUp = false
		}
		if now.Sub(lastLine) < interval {
			return
		}
		lastLine = now
		attrs := []any{"phase", t.Phase, "partitions", t.Partitions, "copied_records", t.CopiedRecords,
			"lag_records", t.LagRecords, "lag_seconds", round(t.LagSeconds), "baseline_percent", round(100 * t.BaselineProgress)}
		for _, ph := range status.Phases {
			if n := t.Phases[ph]; n > 0 && ph != t.Phase {
				attrs = append(attrs, string(ph), n)
			}
		}
		if t.RecordsPerSecond != nil {
			attrs = append(attrs, "records_per_second", int64(*t.RecordsPerSecond), "source_records_per_second", int64(*t.SourceRecordsPerSecond))
		}
		if t.ETASeconds != nil {
			attrs = append(attrs, "eta", (time.Duration(*t.ETASeconds) * time.Second).String())
		}
		if t.LostRecords > 0 {
			attrs = append(attrs, "lost_records", t.LostRecords)
		}
		log.Info("copy progress", attrs...)
	}
	tick := time.NewTicker(min(time.Second, interval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			check()
		}
	}
}

// round keeps two decimals for a log line.
func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
