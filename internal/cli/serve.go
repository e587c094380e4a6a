package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kmigrate/kmigrate/internal/metrics"
	"github.com/kmigrate/kmigrate/internal/progress"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/translate"
	"github.com/kmigrate/kmigrate/internal/web"
)

// serveOptions change how a migration's server starts.
type serveOptions struct {
	// fallback listens on a free port of the same host when http.listen is
	// taken (the demo, whose address the user did not choose).
	fallback bool
	// baseline loads the baseline into the feed even when nothing is served
	// (a progress bar uses it).
	baseline bool
}

// serve starts what a running migration exposes: the dashboard, JSON API,
// /metrics and probes on http.listen (unless "off"), and the DogStatsD pusher
// when metrics.dogstatsd.address is set. It returns the dashboard URL ("" when
// the server is off) and a function that stops both and waits for them.
func (rt *migration) serve(ctx context.Context, o serveOptions) (string, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	url := ""
	if listen := rt.cfg.HTTP.Listen; listen != "" && listen != "off" {
		ln, err := net.Listen("tcp", listen)
		if err != nil && o.fallback {
			host, _, _ := net.SplitHostPort(listen)
			ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		}
		if err != nil {
			cancel()
			return "", nil, fmt.Errorf("listen on http.listen %s: %w", listen, err)
		}
		url = "http://" + ln.Addr().String() + "/"
		srv := web.New(web.Options{Source: rt.feed, Gatherer: rt.reg, ReadyMaxLag: rt.cfg.HTTP.ReadyMaxLag, Log: rt.log,
			Translator: translate.New(rt.cfg, rt.engine, rt.lostRanges)})
		wg.Go(func() {
			if err := srv.Serve(ctx, ln); err != nil {
				rt.log.Error("http server stopped", "err", err)
			}
		})
	}
	if d := rt.cfg.Metrics.DogStatsD; d.Address != "" {
		push, err := metrics.NewDogStatsD(d.Address, rt.reg, d.Tags, rt.log)
		if err != nil {
			stop()
			return "", nil, err
		}
		wg.Go(func() { push.Run(ctx, d.Interval.Duration) })
	}
	if url != "" || rt.cfg.Metrics.DogStatsD.Address != "" || o.baseline {
		wg.Go(func() { rt.loadBaseline(ctx) })
	}
	return url, stop, nil
}

// loadBaseline gives the feed the migration's baseline once the engine has
// recorded it (at its first run, before it starts the partitions).
func (rt *migration) loadBaseline(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-rt.engine.Ready():
	}
	for attempt := 0; ; attempt++ {
		err := func() error {
			lctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			env, err := openClients(lctx, rt.cfg, rt.log)
			if err != nil {
				return err
			}
			defer env.close()
			st, err := env.loadState(lctx)
			if err != nil {
				return err
			}
			if st.Baseline == nil {
				return errors.New("the state holds no baseline yet")
			}
			rt.feed.SetBaseline(st.Baseline)
			return nil
		}()
		if err == nil || ctx.Err() != nil {
			return
		}
		rt.log.Debug("baseline for the dashboard not read; retrying", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*5*time.Second, time.Minute)):
		}
	}
}

// events returns the event sink of a run: the feed, then next if set.
func (rt *migration) events(next func(replicate.Event)) func(replicate.Event) {
	return func(ev replicate.Event) {
		rt.feed.Event(ev)
		if next != nil {
			next(ev)
		}
	}
}

// trackCopy drives bar from the feed until ctx is done: done is the offsets
// copied since each partition's copy began, total the offsets from there to
// the latest source end seen, or to the baseline's end when that is further
// (the engine learns a partition's end with its first fetch).
func trackCopy(ctx context.Context, bar *progress.Bar, feed web.Source) {
	every := time.Second
	if bar.Terminal() {
		every = 200 * time.Millisecond
	}
	update := func() {
		snap := feed.Snapshot()
		var done, total int64
		for _, p := range snap.Partitions {
			end := p.SrcEnd
			if b := snap.Baseline; b != nil {
				end = max(end, b.EndOffsets[p.Topic][p.Partition])
			}
			total += max(0, end-p.SrcBegin)
			done += max(0, p.SrcNext-p.SrcBegin)
		}
		bar.Set(done, total)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		update()
		select {
		case <-ctx.Done():
			update() // the engine's final state, for the last line
			return
		case <-t.C:
		}
	}
}

// runServed is run with the migration's server (see serve) and, when bar is
// set, the copy's progress on it.
func (rt *migration) runServed(ctx context.Context, opts replicate.Options, bar *progress.Bar) error {
	url, stop, err := rt.serve(ctx, serveOptions{baseline: bar != nil})
	if err != nil {
		return err
	}
	defer stop()
	if url != "" {
		rt.log.Info("serving the dashboard, /api/status and /metrics", "url", url)
	}
	if bar != nil {
		pctx, pcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); trackCopy(pctx, bar, rt.feed) }()
		defer func() { pcancel(); <-done; bar.Finish() }()
	}
	return rt.run(ctx, opts)
}

// loggerWith is logger with its output passed through bar, so that log lines
// and a bar on the terminal do not overwrite each other; bar also logs its
// plain progress lines through it. A nil bar changes nothing.
func (g *globals) loggerWith(bar *progress.Bar) (*slog.Logger, error) {
	if bar == nil {
		return g.logger()
	}
	wrapped := *g
	wrapped.streams.Err = bar.Writer(g.streams.Err)
	log, err := wrapped.logger()
	if err != nil {
		return nil, err
	}
	bar.SetLogger(log)
	return log, nil
}

// lostRanges returns the source ranges of a partition the running engine lost
// to retention, for /api/translate.
func (rt *migration) lostRanges(topic string, partition int32) []state.LostRange {
	for _, p := range rt.engine.Status() {
		if p.Topic == topic && p.Partition == partition {
			return p.Lost
		}
	}
	return nil
}
