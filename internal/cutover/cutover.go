// Package cutover switches a migration from the source to the target: it
// checks that the copy is healthy, waits until the source producers stopped
// (optionally fencing them with DENY WRITE ACLs), until the copy drained to the
// frozen end offsets and the source consumers left, translates the groups one
// last time, verifies, and seals the copy so that no kmigrate process writes
// to the target any more. Every step has a gate; a failed gate is NO-GO and
// undoes what the cutover changed. The progress is persisted in the state
// topic after every change, so a re-run after kill -9 resumes.
package cutover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/replicate"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
)

// Options tune a cutover.
type Options struct {
	// DryRun runs every check and changes nothing.
	DryRun bool
	// FenceSource adds DENY WRITE ACLs on the selected source topics during
	// the freeze, for every principal that may write them but kmigrate's.
	FenceSource bool
	// QuietPeriod is how long every source end offset must stay unchanged
	// for the producers to count as stopped. Default 10s.
	QuietPeriod time.Duration
	// FreezeTimeout bounds the wait for the producers to stop. Default 5m.
	FreezeTimeout time.Duration
	// DrainTimeout bounds the wait for the copy to reach the frozen offsets,
	// ConsumersTimeout the wait for the source groups to empty and SealTimeout
	// the wait for the run to stop after the seal. Defaults 5m, 5m, 1m.
	DrainTimeout, ConsumersTimeout, SealTimeout time.Duration
	// MaxLag is the total lag in records under which preflight passes.
	// Default 100000.
	MaxLag int64
	// RunURL is the base URL of the live run's HTTP server, asked for
	// partitions it stopped. Empty: derived from the config's http.listen.
	RunURL string
	// Out receives progress lines; nil discards them.
	Out io.Writer
	// Poll is the interval of every wait. Default 1s.
	Poll time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.QuietPeriod, 10*time.Second)
	def(&o.FreezeTimeout, 5*time.Minute)
	def(&o.DrainTimeout, 5*time.Minute)
	def(&o.ConsumersTimeout, 5*time.Minute)
	def(&o.SealTimeout, time.Minute)
	def(&o.Poll, time.Second)
	if o.MaxLag <= 0 {
		o.MaxLag = 100000
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// ErrNoGo is wrapped by the error of a cutover whose decision is NO-GO.
var ErrNoGo = errors.New("cutover: NO-GO")

// gateError is a failed gate: the step's summary and details say why.
type gateError struct {
	summary string
	details []string
}

func (g *gateError) Error() string { return g.summary }

func noGo(details []string, format string, args ...any) error {
	return &gateError{summary: fmt.Sprintf(format, args...), details: details}
}

// cutover is one run of the cutover command.
type cutover struct {
	cfg     *config.Config
	builder *kafka.Builder
	log     *slog.Logger
	opts    Options
	src     *kgo.Client
	tgt     *kgo.Client
	srcAdm  *kadm.Client
	tgtAdm  *kadm.Client
	store   *state.Store
	rec     *Record
	// topics are the selected source topics and their partition counts.
	topics map[string]int32
}

func open(ctx context.Context, cfg *config.Config, b *kafka.Builder, log *slog.Logger, opts Options) (*cutover, error) {
	opts.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &cutover{cfg: cfg, builder: b, log: log, opts: opts}
	var err error
	if c.src, err = b.Client(ctx, kafka.Source, cfg.Source); err != nil {
		return nil, err
	}
	if err := kafka.Ping(ctx, kafka.Source, cfg.Source, c.src); err != nil {
		c.src.Close()
		return nil, err
	}
	if c.tgt, err = b.Client(ctx, kafka.Target, cfg.Target); err != nil {
		c.src.Close()
		return nil, err
	}
	if err := kafka.Ping(ctx, kafka.Target, cfg.Target, c.tgt); err != nil {
		c.close()
		return nil, err
	}
	c.srcAdm, c.tgtAdm = kadm.NewClient(c.src), kadm.NewClient(c.tgt)
	c.store = state.NewStore(c.tgt, cfg.Migration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return b.Client(ctx, kafka.Target, cfg.Target, opts...)
	})
	return c, nil
}

func (c *cutover) close() {
	c.src.Close()
	c.tgt.Close()
}

// loadRecord returns the persisted cutover record, nil if none.
func (c *cutover) loadRecord(ctx context.Context) (*state.State, *Record, error) {
	ok, err := c.store.Exists(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("migration %s has no state on the target (topic %s): run `kmigrate run` first", c.cfg.Migration, c.store.Topic())
	}
	st, err := c.store.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	if st.Cutover == nil {
		return st, nil, nil
	}
	r, err := decode(st.Cutover)
	if err != nil {
		return nil, nil, err
	}
	return st, r, nil
}

// save persists the record (not in a dry run).
func (c *cutover) save(ctx context.Context) error {
	c.rec.Updated = time.Now().UTC()
	if c.rec.DryRun {
		return nil
	}
	raw, err := c.rec.encode()
	if err != nil {
		return err
	}
	r, err := state.CutoverRecord(c.cfg.Migration, raw)
	if err != nil {
		return err
	}
	// The record must land even when the cutover's own context ended (an
	// interrupted cutover persists where it stopped).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.store.Write(wctx, []*kgo.Record{r}); err != nil {
		return fmt.Errorf("persist the cutover's progress in %s: %w", c.store.Topic(), err)
	}
	return nil
}

func (c *cutover) printf(format string, args ...any) {
	fmt.Fprintf(c.opts.Out, format+"\n", args...)
}

// Run runs a cutover, or resumes the one a killed process left running. The
// record is the report; its Decision is GO or NO-GO. The error is nil on GO,
// wraps ErrNoGo on NO-GO, and is something else when the cutover could not
// run at all.
func Run(ctx context.Context, cfg *config.Config, b *kafka.Builder, log *slog.Logger, opts Options) (*Record, error) {
	c, err := open(ctx, cfg, b, log, opts)
	if err != nil {
		return nil, err
	}
	defer c.close()
	_, prev, err := c.loadRecord(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case prev != nil && prev.Phase == PhaseGo:
		c.printf("migration %s was cut over by %s at %s: GO", cfg.Migration, prev.ID, prev.Updated.Format(time.RFC3339))
		return prev, nil
	case prev != nil && prev.Phase == PhaseRunning && !c.opts.DryRun:
		if prev.FenceSource != c.opts.FenceSource {
			return nil, fmt.Errorf("cutover %s is in progress with --fence-source=%t; resume it with the same flag, or end it with `kmigrate cutover --abort`", prev.ID, prev.FenceSource)
		}
		c.rec = prev
		c.printf("resuming cutover %s of migration %s (started %s)", prev.ID, cfg.Migration, prev.Started.Format(time.RFC3339))
	default:
		id := make([]byte, 4)
		_, _ = rand.Read(id)
		now := time.Now().UTC()
		c.rec = &Record{Schema: Schema, Migration: cfg.Migration, ID: now.Format("20060102T150405Z") + "-" + hex.EncodeToString(id),
			DryRun: c.opts.DryRun, Phase: PhaseRunning, Started: now, FenceSource: c.opts.FenceSource}
		if err := c.save(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.selectTopics(ctx); err != nil {
		return c.end(ctx, err)
	}
	steps := []struct {
		name string
		run  func(context.Context, *Step) error
		// recheck runs instead of the step when a resumed cutover already
		// passed it, for gates that must still hold.
		recheck func(context.Context, *Step) error
	}{
		{StepPreflight, c.preflight, nil},
		{StepFreeze, c.freeze, c.stillFrozen},
		{StepDrain, c.drain, nil},
		{StepConsumers, c.consumers, nil},
		{StepGroups, c.groups, nil},
		{StepVerify, c.verify, nil},
		{StepSeal, c.seal, nil},
	}
	for i, s := range steps {
		if c.rec.passed(s.name) {
			if c.rec.Sealed || s.recheck == nil {
				c.printf("[%d/%d] %s: passed before", i+1, len(Steps), s.name)
				continue
			}
			if err := s.recheck(ctx, c.rec.step(s.name)); err != nil {
				return c.end(ctx, fmt.Errorf("%s: %w", s.name, err))
			}
			continue
		}
		if c.opts.DryRun && s.name == StepSeal {
			c.rec.Steps = append(c.rec.Steps, &Step{Name: s.name, Result: ResultSkipped, Started: time.Now().UTC(), Summary: "dry run: the copy was not sealed"})
			continue
		}
		if err := c.runStep(ctx, i, s.name, s.run); err != nil {
			return c.end(ctx, err)
		}
	}
	return c.end(ctx, nil)
}

// runStep runs one step, persisting its start and its outcome.
func (c *cutover) runStep(ctx context.Context, i int, name string, f func(context.Context, *Step) error) error {
	st := c.rec.step(name)
	if st == nil {
		st = &Step{Name: name}
		c.rec.Steps = append(c.rec.Steps, st)
	}
	st.Result, st.Started, st.Summary, st.Details = ResultRunning, time.Now().UTC(), "", nil
	if err := c.save(ctx); err != nil {
		return err
	}
	c.printf("[%d/%d] %s ...", i+1, len(Steps), name)
	err := f(ctx, st)
	st.Seconds = time.Since(st.Started).Seconds()
	if err != nil {
		st.Result = ResultFailed
		var g *gateError
		if errors.As(err, &g) {
			st.Summary, st.Details = g.summary, append(st.Details, g.details...)
		} else {
			st.Summary = err.Error()
		}
		c.printf("[%d/%d] %s: FAILED after %.1fs: %s", i+1, len(Steps), name, st.Seconds, st.Summary)
		for _, d := range st.Details {
			c.printf("       - %s", d)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	st.Result = ResultPassed
	c.printf("[%d/%d] %s: passed in %.1fs: %s", i+1, len(Steps), name, st.Seconds, st.Summary)
	return c.save(ctx)
}

// end decides: err nil is GO, otherwise NO-GO, and a NO-GO undoes what the
// cutover changed so that both clusters are as they were.
func (c *cutover) end(ctx context.Context, err error) (*Record, error) {
	rep := &Step{Name: StepReport, Started: time.Now().UTC(), Result: ResultPassed}
	if err == nil {
		c.rec.Decision = GO
		if !c.rec.DryRun {
			c.rec.Phase = PhaseGo
		}
		rep.Summary = "GO"
	} else if ctx.Err() != nil && !c.rec.DryRun {
		// Interrupted (Ctrl-C, a deadline) rather than refused: as after a
		// kill -9, nothing is undone and the cutover stays running, so that a
		// re-run resumes it where it stopped; --abort ends it.
		rep.Result = ResultFailed
		rep.Summary = "interrupted: run `kmigrate cutover` again to resume, or `kmigrate cutover --abort`"
		if s := c.rec.step(StepReport); s != nil {
			*s = *rep
		} else {
			c.rec.Steps = append(c.rec.Steps, rep)
		}
		if serr := c.save(ctx); serr != nil {
			return c.rec, serr
		}
		return c.rec, fmt.Errorf("cutover %s interrupted (%v): %w; run it again to resume", c.rec.ID, ctx.Err(), err)
	} else {
		c.rec.Decision, c.rec.Reason = NOGO, err.Error()
		if !c.rec.DryRun {
			sealed := c.rec.step(StepSeal) != nil
			if uerr := c.undo(context.WithoutCancel(ctx)); uerr != nil {
				c.rec.Reason += "; undoing the cutover's changes failed: " + uerr.Error()
				rep.Details = append(rep.Details, "undo failed: "+uerr.Error()+": run `kmigrate cutover --abort`")
			} else if sealed {
				rep.Details = append(rep.Details, "the seal was lifted; the run stopped on it: start `kmigrate run` again to resume the copy")
			}
			c.rec.Phase = PhaseNoGo
		}
		rep.Summary = "NO-GO: " + err.Error()
	}
	if s := c.rec.step(StepReport); s != nil {
		*s = *rep
	} else {
		c.rec.Steps = append(c.rec.Steps, rep)
	}
	if serr := c.save(ctx); serr != nil && err == nil {
		return c.rec, serr
	}
	if err != nil {
		return c.rec, fmt.Errorf("%w: %v", ErrNoGo, err)
	}
	return c.rec, nil
}

// undo removes what this cutover changed: the source fence, the target fence
// and the seal. The copy goes on (a run that stopped on the seal must be
// started again; the report says so).
func (c *cutover) undo(ctx context.Context) error {
	var errs []error
	if len(c.rec.SourceFence) > 0 {
		if err := join(acls.Delete(ctx, c.src, c.rec.SourceFence)); err != nil {
			errs = append(errs, fmt.Errorf("remove the source fence: %w", err))
		} else {
			c.rec.SourceFence = nil
		}
	}
	if len(c.rec.TargetFence) > 0 {
		if err := join(acls.Delete(ctx, c.tgt, c.rec.TargetFence)); err != nil {
			errs = append(errs, fmt.Errorf("remove the target fence: %w", err))
		} else {
			c.rec.TargetFence = nil
		}
	}
	if s := c.rec.step(StepSeal); s != nil {
		if err := replicate.Unseal(ctx, c.tgtAdm, c.cfg.Migration); err != nil {
			errs = append(errs, err)
		} else {
			c.rec.Sealed = false
		}
	}
	return errors.Join(errs...)
}

func join(errs []error) error { return errors.Join(errs...) }

// selectTopics lists the selected source topics.
func (c *cutover) selectTopics(ctx context.Context) error {
	d, err := scope.SourceTopics(ctx, c.srcAdm, &c.cfg.Topics)
	if err != nil {
		return err
	}
	if len(d) == 0 {
		return fmt.Errorf("the migration selects no source topic: nothing to cut over")
	}
	c.topics = map[string]int32{}
	for name, t := range d {
		c.topics[name] = int32(len(t.Partitions))
	}
	return nil
}

func (c *cutover) sourceNames() []string {
	out := make([]string, 0, len(c.topics))
	for t := range c.topics {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (c *cutover) target(source string) string { return scope.TargetTopic(c.cfg.Replication, source) }

func sortTPs(tps []offsetmap.TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
