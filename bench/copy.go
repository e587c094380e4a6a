package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"
)

// pollInterval is how often the target's end offsets are read while a tool
// copies: the resolution of every copy time.
const pollInterval = 100 * time.Millisecond

// copyResult is one tool's copy of the backlog to a fresh target.
type copyResult struct {
	elapsed   time.Duration // process start → every target partition caught up
	firstData time.Duration // process start → first record on the target
	records   int64
	bytes     int64 // record values
	extra     int64 // target records beyond the source's (duplicates)
	use       usage // the tool's CPU and peak RSS when caught up
	brokerCPU time.Duration
	// others is the CPU the rest of the host used during the copy: busy time of
	// all cores minus the tool, the brokers and the benchmark itself.
	others time.Duration
	group  groupResult
}

// rate returns bytes per second over the whole copy.
func (c copyResult) rate() float64 { return float64(c.bytes) / c.elapsed.Seconds() }

// dataRate returns bytes per second from the first record on the target: the
// copy without the tool's start-up.
func (c copyResult) dataRate() float64 {
	d := c.elapsed - c.firstData
	if d < 2*pollInterval { // too short to tell from the poll interval
		return math.NaN()
	}
	return float64(c.bytes) / d.Seconds()
}

// copyBacklog starts t against a fresh target and measures it until the target
// holds every record of the backlog; then it measures the group translation and
// stops the tool.
func (r *rig) copyBacklog(ctx context.Context, t tool, run int, want map[int32]int64) (copyResult, error) {
	var res copyResult
	if err := r.resetTarget(ctx); err != nil {
		return res, err
	}
	if err := r.resetSource(ctx); err != nil {
		return res, err
	}
	r.log.Info("copy", "tool", t.name(), "run", run)
	cpu0, host0, self0 := r.brokerCPU(), hostBusy(), selfCPU()
	p, err := t.start(ctx, phaseCopy, run, backlogTopic)
	if err != nil {
		return res, err
	}
	defer p.stop(30 * time.Second)

	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	var last error
	for {
		exited := p.exited()
		got, err := endOffsets(ctx, r.tgtAdm, backlogTopic)
		now := time.Now()
		if err != nil {
			last = err
		}
		if res.firstData == 0 && sum(got) > 0 {
			res.firstData = now.Sub(p.start)
		}
		if caughtUp(got, want) {
			res.elapsed = now.Sub(p.start)
			if exited && p.end.Sub(p.start) < res.elapsed {
				// It ended before this poll saw the copy complete.
				res.elapsed = p.end.Sub(p.start)
			}
			if res.use, err = p.usage(); err != nil {
				return res, err
			}
			res.brokerCPU = r.brokerCPU() - cpu0
			res.others = max(0, hostBusy()-host0-res.brokerCPU-res.use.cpu-(selfCPU()-self0))
			res.records, res.extra = sum(want), sum(got)-sum(want)
			res.bytes = res.records * int64(r.o.recordSize)
			break
		}
		if exited {
			if err := p.exitErr(); err != nil {
				return res, fmt.Errorf("copy with %s: %w", t.name(), err)
			}
			// A clean exit should mean a complete copy: look a little longer, in
			// case the last polls failed.
			if time.Since(p.end) > 10*time.Second {
				return res, fmt.Errorf("copy with %s: exited with %d of %d records on the target (last error: %v)", t.name(), sum(got), sum(want), last)
			}
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("copy with %s: %d of %d records on the target after %s (last error: %v)", t.name(), sum(got), sum(want), r.o.timeout, last)
		case <-time.After(pollInterval):
		}
	}
	r.log.Info("copied", "tool", t.name(), "run", run, "seconds", fmt.Sprintf("%.1f", res.elapsed.Seconds()),
		"mb_per_s", fmt.Sprintf("%.1f", res.rate()/1e6), "cpu_s", fmt.Sprintf("%.1f", res.use.cpu.Seconds()),
		"peak_rss_mib", res.use.peakRSS>>20)

	if res.group, err = r.measureGroup(ctx); err != nil {
		return res, err
	}
	if t.name() == toolKmigrate {
		// --until-caught-up exits by itself, 0 when every partition was copied.
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
		defer wcancel()
		if err := p.wait(wctx); err != nil {
			return res, fmt.Errorf("copy with %s: %w", t.name(), err)
		}
	}
	if err := p.stop(30 * time.Second); err != nil {
		return res, fmt.Errorf("copy with %s: %w", t.name(), err)
	}
	return res, nil
}

// caughtUp reports whether every partition of want has reached its offset.
func caughtUp(got, want map[int32]int64) bool {
	for p, w := range want {
		if got[p] < w {
			return false
		}
	}
	return len(want) > 0
}

// selfCPU returns the CPU time the benchmark's own process has used.
func selfCPU() time.Duration {
	cpu, _ := procCPU(os.Getpid())
	return cpu
}
