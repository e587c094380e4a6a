package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/offsetmap"
	"github.com/kmigrate/kmigrate/internal/scope"
	"github.com/kmigrate/kmigrate/internal/state"
	"github.com/kmigrate/kmigrate/internal/units"
)

// Mode says how deeply records are compared.
type Mode string

// The modes of `kmigrate verify --mode`.
const (
	// ModeCounts compares counts, the checkpoint record and the tail; no
	// record of the copied range is hashed on both sides.
	ModeCounts Mode = "counts"
	// ModeSample adds SHA-256 spot checks of the first, the last and N random
	// records of each partition.
	ModeSample Mode = "sample"
	// ModeFull hashes every copied record on both sides.
	ModeFull Mode = "full"
)

// ParseMode turns a --mode value into a Mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeCounts, ModeSample, ModeFull:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: use counts, sample or full", s)
}

// Options tune a verification.
type Options struct {
	// Mode is counts, sample or full; default sample.
	Mode Mode
	// Samples is the number of random records per partition in sample mode,
	// besides the first and the last; default 10. A partition with no more
	// than Samples+2 copied records is compared whole.
	Samples int
	// Topics, when set, narrows the migration's topic selection to the source
	// topics it matches.
	Topics *regexp.Regexp
	// Seed seeds the random samples; zero picks one, which the report shows.
	Seed int64
	// Workers is how many goroutines hash records per cluster; default
	// GOMAXPROCS.
	Workers int
	// ChunkRecords is the number of records per digest in full mode; default
	// 4096. Smaller chunks make locating a divergence cheaper and the first
	// pass a little slower.
	ChunkRecords int
	// Progress, when set, is told how many target records full mode has hashed
	// out of how many (a progress bar, for example). Safe to call concurrently.
	Progress Reporter
	// Before, when set, translates the group positions that lie before the
	// start of a partition's map: for the reverse migration after a cutover,
	// positions before the switch go back through the forward map. ok false
	// leaves the position behind the start.
	Before func(topic string, partition int32, c int64) (t offsetmap.Translation, ok bool)
}

// Reporter receives the progress of long work: done out of total.
type Reporter interface {
	Set(done, total int64)
}

func (o *Options) defaults() {
	if o.Mode == "" {
		o.Mode = ModeSample
	}
	if o.Samples <= 0 {
		o.Samples = 10
	}
	for o.Seed == 0 {
		o.Seed = rand.Int64()
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ChunkRecords <= 0 {
		o.ChunkRecords = 4096
	}
}

// Verifier verifies and measures one migration.
type Verifier struct {
	cfg     *config.Config
	builder *kafka.Builder
	log     *slog.Logger
	now     func() time.Time
}

// New returns a Verifier of the migration cfg describes, building clients with
// builder (nil: a plain Builder) and logging to log (nil: nowhere).
func New(cfg *config.Config, builder *kafka.Builder, log *slog.Logger) *Verifier {
	if builder == nil {
		builder = &kafka.Builder{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{cfg: cfg, builder: builder, log: log, now: time.Now}
}

// part is one migrated partition under verification.
type part struct {
	tp        offsetmap.TopicPartition
	tgtTopic  string
	compacted bool
	saved     *state.Saved
	m         *offsetmap.Partition
	// srcStart and srcEnd are the source log start and last stable offset;
	// tgtStart and tgtEnd the target log start and end offset.
	srcStart, srcEnd int64
	tgtStart, tgtEnd int64
	// The compared range: source [sLo, sHi) was copied to target [tLo, tHi).
	sLo, sHi, tLo, tHi int64
	// skip is set when coverage failed: nothing else can be compared.
	skip bool
}

// String names the partition as topic[partition].
func (p *part) String() string { return fmt.Sprintf("%s[%d]", p.tp.Topic, p.tp.Partition) }

func (p *part) failure(kind, format string, args ...any) Failure {
	return Failure{Topic: p.tp.Topic, Partition: ptr(p.tp.Partition), Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// copied is the number of records in the compared range.
func (p *part) copied() int64 { return p.tHi - p.tLo }

// inSegment reports whether source offset s lies in the map's coarsened
// segment, where single records cannot be paired.
func (p *part) inSegment(s int64) bool {
	start, end, ok := p.m.CoarsenedRange()
	return ok && s >= start && s < end
}

// bound narrows the copied range to what both clusters still hold, and
// returns a note when it had to.
func (p *part) bound() []string {
	var notes []string
	p.sLo, p.tLo = p.m.SrcBegin(), p.m.TgtStart()
	p.sHi, p.tHi = p.m.Next()
	if p.srcStart > p.sLo {
		from := min(p.srcStart, p.sHi)
		tr := p.m.Translate(from)
		if tr.Kind != offsetmap.Exact {
			// Inside the coarsened segment the target offset of a source
			// position is unknown: start after the segment.
			_, end, _ := p.m.CoarsenedRange()
			from = min(end, p.sHi)
			tr = p.m.Translate(from)
			notes = append(notes, fmt.Sprintf("%s: source retention reached into the coarsened part of the map; compared from source offset %d", p, from))
		}
		notes = append(notes, fmt.Sprintf("%s: source retention removed %d copied records; compared from source offset %d", p, tr.Offset-p.tLo, from))
		p.sLo, p.tLo = from, tr.Offset
	}
	if p.tgtStart > p.tLo {
		removed := min(p.tgtStart, p.tHi) - p.tLo
		switch s, ok := p.m.SourceOf(p.tgtStart); {
		case p.tgtStart >= p.tHi:
			p.sLo, p.tLo = p.sHi, p.tHi
		case ok:
			p.sLo, p.tLo = s, p.tgtStart
		default:
			_, end, _ := p.m.CoarsenedRange()
			end = min(end, p.sHi)
			p.sLo, p.tLo = end, p.m.Translate(end).Offset
		}
		notes = append(notes, fmt.Sprintf("%s: target retention removed %d copied records that the source may still hold; compared from target offset %d", p, removed, p.tLo))
	}
	return notes
}

// topicInfo is a selected source topic.
type topicInfo struct {
	name       string
	target     string
	partitions int32
	compacted  bool
	// deletes is set when retention also deletes records of a compacted
	// topic (cleanup.policy=compact,delete).
	deletes bool
}

// session is one verification or status sample in progress.
type session struct {
	v        *Verifier
	src, tgt *side
	st       *state.State
	topics   map[string]*topicInfo
	parts    []*part
	// activeSrc lists the selected source groups that have live members.
	activeSrc map[string]bool
}

// open connects to both clusters, loads the state and lists the selected topics,
// their partitions and offsets.
func (v *Verifier) open(ctx context.Context, filter *regexp.Regexp) (*session, error) {
	src, err := openSide(ctx, v.builder, kafka.Source, v.cfg.Source)
	if err != nil {
		return nil, err
	}
	tgt, err := openSide(ctx, v.builder, kafka.Target, v.cfg.Target)
	if err != nil {
		src.close()
		return nil, err
	}
	s := &session{v: v, src: src, tgt: tgt, topics: map[string]*topicInfo{}}
	if err := s.load(ctx, filter); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) close() {
	s.src.close()
	s.tgt.close()
}

func (s *session) load(ctx context.Context, filter *regexp.Regexp) error {
	v := s.v
	store := state.NewStore(s.tgt.cl, v.cfg.Migration, func(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
		return v.builder.Client(ctx, kafka.Target, v.cfg.Target, opts...)
	})
	st, err := store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load state of migration %s: %w", v.cfg.Migration, err)
	}
	s.st = st
	details, err := scope.SourceTopics(ctx, s.src.adm, &v.cfg.Topics)
	if err != nil {
		return err
	}
	var names []string
	for name, d := range details {
		if filter != nil && !filter.MatchString(name) {
			continue
		}
		s.topics[name] = &topicInfo{name: name, target: scope.TargetTopic(v.cfg.Replication, name), partitions: int32(len(d.Partitions))}
		names = append(names, name)
	}
	// Topics the state knows that the source no longer has.
	for tp := range st.Partitions {
		if _, ok := s.topics[tp.Topic]; ok || !scope.Topic(&v.cfg.Topics, tp.Topic) || (filter != nil && !filter.MatchString(tp.Topic)) {
			continue
		}
		s.topics[tp.Topic] = &topicInfo{name: tp.Topic, target: scope.TargetTopic(v.cfg.Replication, tp.Topic), partitions: -1}
	}
	sort.Strings(names)
	if len(names) > 0 {
		rcs, err := s.src.adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			return fmt.Errorf("describe source topic configs: %w", err)
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				return fmt.Errorf("describe configs of source topic %s: %w", rc.Name, rc.Err)
			}
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
					s.topics[rc.Name].compacted = true
					s.topics[rc.Name].deletes = strings.Contains(*c.Value, "delete")
				}
			}
		}
	}
	return nil
}

// offsets are the listed offsets of both clusters.
type offsets struct {
	srcStart, srcEnd, tgtStart, tgtEnd kadm.ListedOffsets
}

func (s *session) listOffsets(ctx context.Context) (offsets, error) {
	var o offsets
	var src, tgt []string
	for _, t := range s.topics {
		if t.partitions >= 0 {
			src = append(src, t.name)
		}
		tgt = append(tgt, t.target)
	}
	if len(tgt) == 0 {
		return o, nil
	}
	// The target first, then the source. While replication runs, a record
	// produced to the source after the source ends were listed can be copied
	// before the target ends are: the target would then hold records past the
	// checkpoint that no source record below the source end explains, and the
	// tail check would call them foreign. Listed in this order, every target
	// record below the target end was copied from a source record below the
	// source end.
	var err error
	if o.tgtStart, err = s.tgt.adm.ListStartOffsets(ctx, tgt...); err != nil {
		return o, fmt.Errorf("list target start offsets: %w", err)
	}
	if o.tgtEnd, err = s.tgt.adm.ListEndOffsets(ctx, tgt...); err != nil {
		return o, fmt.Errorf("list target end offsets: %w", err)
	}
	if len(src) > 0 {
		if o.srcStart, err = s.src.adm.ListStartOffsets(ctx, src...); err != nil {
			return o, fmt.Errorf("list source start offsets: %w", err)
		}
		// The last stable offsets: what a read_committed reader can reach.
		if o.srcEnd, err = s.src.adm.ListCommittedOffsets(ctx, src...); err != nil {
			return o, fmt.Errorf("list source end offsets: %w", err)
		}
	}
	return o, nil
}

func lookup(l kadm.ListedOffsets, topic string, p int32) (int64, error) {
	o, ok := l.Lookup(topic, p)
	switch {
	case !ok:
		return 0, errors.New("not in the response")
	case o.Err != nil:
		return 0, o.Err
	}
	return o.Offset, nil
}

// plan builds the partitions to compare and the coverage check.
func (s *session) plan(ctx context.Context) (*Check, []string, error) {
	c := newCheck(CheckCoverage, "partitions")
	o, err := s.listOffsets(ctx)
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	var copied, lost int64
	for _, name := range names {
		t := s.topics[name]
		n := t.partitions
		if n < 0 {
			// Gone from the source: list what the state has.
			for tp := range s.st.Partitions {
				if tp.Topic == name {
					n = max(n, tp.Partition+1)
				}
			}
		}
		for p := range n {
			tp := offsetmap.TopicPartition{Topic: name, Partition: p}
			pt := &part{tp: tp, tgtTopic: t.target, compacted: t.compacted, saved: s.st.Partitions[tp]}
			s.parts = append(s.parts, pt)
			c.Checked++
			switch {
			case t.partitions < 0:
				pt.skip = true
				c.fail(pt.failure("source-gone", "the source topic no longer exists (deleted, or no longer selected); its copy cannot be compared"))
				continue
			case pt.saved == nil:
				pt.skip = true
				c.fail(pt.failure("not-copied", "never copied: the state topic %s holds no offset map for it; is `kmigrate run` running?", state.TopicName(s.v.cfg.Migration)))
				continue
			case pt.saved.Err != nil:
				pt.skip = true
				c.fail(pt.failure("state", "its state cannot be read: %v", pt.saved.Err))
				continue
			}
			pt.m = pt.saved.Map
			for _, lr := range pt.saved.Lost {
				f := pt.failure("lost", "source offsets %d to %d were deleted by retention before they were copied (%d records at most)", lr.From, lr.To-1, lr.To-lr.From)
				f.SourceOffset = ptr(lr.From)
				c.fail(f)
				lost += lr.To - lr.From
			}
			var errs []string
			for _, l := range []struct {
				what  string
				list  kadm.ListedOffsets
				topic string
				into  *int64
			}{
				{"source start", o.srcStart, name, &pt.srcStart},
				{"source end", o.srcEnd, name, &pt.srcEnd},
				{"target start", o.tgtStart, t.target, &pt.tgtStart},
				{"target end", o.tgtEnd, t.target, &pt.tgtEnd},
			} {
				v, err := lookup(l.list, l.topic, p)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s offset of %s[%d]: %v", l.what, l.topic, p, err))
				}
				*l.into = v
			}
			if len(errs) > 0 {
				pt.skip = true
				c.fail(pt.failure("state", "cannot list offsets: %s", strings.Join(errs, "; ")))
				continue
			}
			notes = append(notes, pt.bound()...)
			copied += pt.copied()
		}
	}
	if len(s.parts) == 0 {
		// A selection that matches nothing must not pass as a verified copy.
		c.fail(Failure{Kind: "not-copied", Message: "no selected source topic matches: nothing to verify (check topics in the configuration and --topics)"})
	}
	c.Summary = fmt.Sprintf("%s in %s, %s in the compared range", count(c.Checked, "partition"), count(len(names), "topic"), count(copied, "record"))
	if lost > 0 {
		c.Summary += fmt.Sprintf(", up to %s source records lost to retention", units.Count(lost))
	} else if c.Pass {
		c.Summary += ", nothing lost to retention"
	}
	return c, notes, nil
}

// comparable returns the partitions whose records can be compared, compacted
// ones or the others.
func (s *session) comparable(compacted bool) []*part {
	var out []*part
	for _, p := range s.parts {
		if !p.skip && p.compacted == compacted {
			out = append(out, p)
		}
	}
	return out
}

// Verify runs every check the mode asks for and returns the report. An error
// means the verification could not run; a failed check is in the report.
func (v *Verifier) Verify(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	start := v.now()
	s, err := v.open(ctx, opts.Topics)
	if err != nil {
		return nil, err
	}
	defer s.close()
	rep := &Report{Migration: v.cfg.Migration, Mode: opts.Mode, Started: start}
	if opts.Mode == ModeSample {
		rep.Seed = opts.Seed
	}
	coverage, notes, err := s.plan(ctx)
	if err != nil {
		return nil, err
	}
	coverage.Notes = append(coverage.Notes, notes...)
	rep.Topics, rep.Partitions = len(s.topics), len(s.parts)
	rep.Checks = append(rep.Checks, coverage)
	v.log.Info("verifying", "migration", v.cfg.Migration, "mode", opts.Mode, "topics", rep.Topics, "partitions", rep.Partitions)

	var full *fullResult
	if opts.Mode == ModeFull {
		if full, err = s.full(ctx, opts); err != nil {
			return nil, err
		}
	}
	counts, err := s.counts(ctx, opts, full)
	if err != nil {
		return nil, err
	}
	rep.Checks = append(rep.Checks, counts)
	switch opts.Mode {
	case ModeSample:
		c, err := s.sample(ctx, opts)
		if err != nil {
			return nil, err
		}
		rep.Checks = append(rep.Checks, c)
	case ModeFull:
		rep.Checks = append(rep.Checks, full.check)
		rep.Throughput = full.throughput
	}
	compacted, err := s.compacted(ctx, opts)
	if err != nil {
		return nil, err
	}
	rep.Checks = append(rep.Checks, compacted)
	groups, err := s.groups(ctx, opts.Before)
	if err != nil {
		return nil, err
	}
	rep.Checks = append(rep.Checks, groups)
	if v.cfg.Schemas != nil {
		c, err := s.schemas(ctx, opts)
		if err != nil {
			return nil, err
		}
		rep.Checks = append(rep.Checks, c)
	}

	rep.settle()
	rep.Seconds = v.now().Sub(start).Seconds()
	return rep, nil
}
