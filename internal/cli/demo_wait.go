package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/units"
)

// How the demo waits for the migration: polls with deadlines that also watch
// the copy engine, and the live phase.

// endOffsets returns the end offset of every partition of the workload.
func (d *demo) endOffsets(ctx context.Context) (kadm.ListedOffsets, error) {
	ends, err := d.adm.ListEndOffsets(ctx, demoUserEvents, demoOrders, demoTenantConfig, demoAudit)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of aws: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets of aws: %w", err)
	}
	return ends, nil
}

// waitCopied waits until every partition copied up to ends.
func (d *demo) waitCopied(ctx context.Context, ends kadm.ListedOffsets, timeout time.Duration, engineErr func() error) error {
	return demoPoll(ctx, timeout, engineErr, func() (bool, string) {
		next := map[string]map[int32]int64{}
		for _, p := range d.rt.engine.Status() {
			if p.Error != "" {
				return false, fmt.Sprintf("%s[%d]: %s", p.Topic, p.Partition, p.Error)
			}
			if next[p.Topic] == nil {
				next[p.Topic] = map[int32]int64{}
			}
			next[p.Topic][p.Partition] = p.SrcNext
		}
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			if n, ok := next[o.Topic][o.Partition]; !ok || n < o.Offset {
				behind++
			}
		})
		return behind == 0, fmt.Sprintf("%d partitions not copied up to the end offsets", behind)
	})
}

// waitGroups waits for a translation pass that started after since and found
// every group partition in sync.
func (d *demo) waitGroups(ctx context.Context, since time.Time, timeout time.Duration, engineErr func() error) (*groups.Report, error) {
	var last *groups.Report
	err := demoPoll(ctx, timeout, engineErr, func() (bool, string) {
		last = d.rt.feed.Snapshot().Groups
		if last == nil || last.Time.Before(since) {
			return false, "no translation pass yet"
		}
		return last.AllInSync(), groupsLine(last)
	})
	if last != nil && errors.Is(err, errDemoTimeout) {
		return last, nil // reported as it is; the verdict says FAIL
	}
	return last, err
}

var errDemoTimeout = errors.New("timed out")

// demoPoll calls cond until it holds, the timeout passes, ctx ends or the
// engine stops.
func demoPoll(ctx context.Context, timeout time.Duration, engineErr func() error, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if err := engineErr(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: %s", errDemoTimeout, timeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// live lets the migration run with the applications for duration, printing a
// line every few seconds.
func (d *demo) live(ctx context.Context, duration time.Duration, engineErr func() error) error {
	end := time.Now().Add(duration)
	every := min(10*time.Second, max(duration/3, time.Second))
	last := d.totals()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(every, time.Until(end))):
		}
		if err := engineErr(); err != nil {
			return err
		}
		t := d.totals()
		gl := "no pass yet"
		if g := d.rt.feed.Snapshot().Groups; g != nil {
			gl = groupsLine(g)
		}
		d.say("              +%s records copied, lag %s, groups %s, %s left",
			units.Count(t.copied-last.copied), units.Count(t.lag), gl, time.Until(end).Round(time.Second))
		last = t
	}
	return nil
}
