package verify

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kmigrate/kmigrate/internal/units"
)

// Names of the checks, as they appear in reports.
const (
	CheckCoverage  = "coverage"
	CheckCounts    = "counts"
	CheckSample    = "sample"
	CheckFull      = "full"
	CheckCompacted = "compacted"
	CheckGroups    = "groups"
)

// maxFailures bounds the failures listed per check; the count stays exact.
const maxFailures = 50

// Report is the result of a verification: one Check per kind of evidence, PASS
// or FAIL, with details for failures only.
type Report struct {
	// Migration is the migration verified.
	Migration string `json:"migration"`
	// Mode is how deeply records were compared.
	Mode Mode `json:"mode"`
	// Started is when the verification began; Seconds how long it took.
	Started time.Time `json:"started"`
	// Seconds is the duration of the whole verification.
	Seconds float64 `json:"seconds"`
	// Seed makes the random samples of a sample run reproducible (--seed).
	Seed int64 `json:"seed,omitempty"`
	// Topics and Partitions count the selected source topics and partitions.
	Topics int `json:"topics"`
	// Partitions counts the selected source partitions.
	Partitions int `json:"partitions"`
	// Pass is true when every check passed.
	Pass bool `json:"pass"`
	// Checks are in a fixed order: coverage, counts, sample or full,
	// compacted, groups.
	Checks []*Check `json:"checks"`
	// Throughput is set in full mode.
	Throughput *Throughput `json:"throughput,omitempty"`
}

// Check is one kind of evidence.
type Check struct {
	// Name is one of the Check* constants.
	Name string `json:"name"`
	// Pass is true when no item failed.
	Pass bool `json:"pass"`
	// Checked counts the items examined, in Unit.
	Checked int `json:"checked"`
	// Failed counts the items that failed, in Unit.
	Failed int `json:"failed"`
	// Unit names the items: partitions, records, topics, group partitions.
	Unit string `json:"unit"`
	// Summary says what was compared, in one line.
	Summary string `json:"summary"`
	// Notes say what was not compared or only approximately, and why.
	Notes []string `json:"notes,omitempty"`
	// Failures are the items that failed, at most 50 (Failed is exact).
	Failures []Failure `json:"failures,omitempty"`
}

// Failure is one failed item: where, and what differs.
type Failure struct {
	// Topic is the source topic, when the failure concerns one.
	Topic string `json:"topic,omitempty"`
	// Partition is set for partition failures.
	Partition *int32 `json:"partition,omitempty"`
	// Group is the consumer group of a groups failure.
	Group string `json:"group,omitempty"`
	// SourceOffset locates the source record involved, when known.
	SourceOffset *int64 `json:"source_offset,omitempty"`
	// TargetOffset locates the target record involved, when known.
	TargetOffset *int64 `json:"target_offset,omitempty"`
	// Kind classifies the failure: not-copied, state, lost, source-gone,
	// count, missing, foreign, differs, map (coverage, counts, sample and
	// full); state (compacted); position, lag, pending (groups).
	Kind string `json:"kind"`
	// Part names what differs between two records: key, value, header <name>,
	// headers (their number), timestamp.
	Part string `json:"part,omitempty"`
	// Message says what is wrong, with the offsets involved.
	Message string `json:"message"`
	// Examples illustrate a topic-level failure (compacted keys).
	Examples []string `json:"examples,omitempty"`
}

// Throughput is how fast full mode read and hashed.
type Throughput struct {
	// Records is the number of records of the compared range, one side.
	Records int64 `json:"records"`
	// Bytes is the size of those records (key, value and headers), one side;
	// both sides were read and hashed.
	Bytes int64 `json:"bytes"`
	// Seconds is the duration of the full pass over both sides.
	Seconds float64 `json:"seconds"`
	// MBPerSecond is Bytes per second in 10^6 bytes.
	MBPerSecond float64 `json:"mb_per_second"`
}

// fail records a failure and returns its index in Failures, or -1 when the
// list is full.
func (c *Check) fail(f Failure) int {
	c.Pass = false
	c.Failed++
	if len(c.Failures) >= maxFailures {
		return -1
	}
	c.Failures = append(c.Failures, f)
	return len(c.Failures) - 1
}

func (c *Check) note(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

func newCheck(name, unit string) *Check { return &Check{Name: name, Unit: unit, Pass: true} }

func ptr[T any](v T) *T { return &v }

// where formats the place of a failure: topic[partition], group, offsets.
func (f Failure) where() string {
	var b strings.Builder
	if f.Group != "" {
		fmt.Fprintf(&b, "group %s ", f.Group)
	}
	b.WriteString(f.Topic)
	if f.Partition != nil {
		fmt.Fprintf(&b, "[%d]", *f.Partition)
	}
	return strings.TrimSpace(b.String())
}

func status(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// Failed returns the checks that failed.
func (r *Report) Failed() []*Check {
	var out []*Check
	for _, c := range r.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// WriteText writes the report for a terminal: one line per check, then the
// failures, then the result.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "kmigrate verify: migration %s, mode %s, %s, %s, %.1fs\n",
		r.Migration, r.Mode, count(r.Topics, "topic"), count(r.Partitions, "partition"), r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", status(c.Pass), c.Name, c.Summary)
	}
	tw.Flush()
	for _, c := range r.Checks {
		for _, n := range c.Notes {
			fmt.Fprintf(w, "note: %s: %s\n", c.Name, n)
		}
	}
	if r.Throughput != nil {
		t := r.Throughput
		fmt.Fprintf(w, "throughput: %s records, %s in %.1fs: %s/s per side\n",
			units.Count(t.Records), units.Bytes(t.Bytes), t.Seconds, units.Bytes(int64(t.MBPerSecond*1e6)))
	}
	for _, c := range r.Failed() {
		fmt.Fprintf(w, "\n%s: %d of %d %s failed\n", c.Name, c.Failed, c.Checked, c.Unit)
		for _, f := range c.Failures {
			if loc := f.where(); loc != "" {
				fmt.Fprintf(w, "  %s: %s\n", loc, f.Message)
			} else {
				fmt.Fprintf(w, "  %s\n", f.Message)
			}
			for _, e := range f.Examples {
				fmt.Fprintf(w, "    %s\n", e)
			}
		}
		if c.Failed > len(c.Failures) {
			fmt.Fprintf(w, "  ... and %d more\n", c.Failed-len(c.Failures))
		}
	}
	_, err := fmt.Fprintf(w, "\nRESULT: %s\n", r.result())
	return err
}

func (r *Report) result() string {
	failed := r.Failed()
	if len(failed) == 0 {
		return fmt.Sprintf("PASS (%d checks)", len(r.Checks))
	}
	names := make([]string, len(failed))
	for i, c := range failed {
		names[i] = c.Name
	}
	return fmt.Sprintf("FAIL (%d of %d checks failed: %s)", len(failed), len(r.Checks), strings.Join(names, ", "))
}

// WriteMarkdown writes the report for a change ticket: a summary table, then a
// section per failed check.
func (r *Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "## kmigrate verify: %s\n\n", r.result())
	fmt.Fprintf(w, "- Migration: `%s`\n", r.Migration)
	fmt.Fprintf(w, "- Mode: %s", r.Mode)
	if r.Mode == ModeSample {
		fmt.Fprintf(w, " (seed %d)", r.Seed)
	}
	fmt.Fprintf(w, "\n- Scope: %s, %s\n", count(r.Topics, "topic"), count(r.Partitions, "partition"))
	fmt.Fprintf(w, "- Started: %s, took %.1fs\n", r.Started.UTC().Format(time.RFC3339), r.Seconds)
	if r.Throughput != nil {
		t := r.Throughput
		fmt.Fprintf(w, "- Throughput: %s records, %s, %s/s per side\n", units.Count(t.Records), units.Bytes(t.Bytes), units.Bytes(int64(t.MBPerSecond*1e6)))
	}
	fmt.Fprintf(w, "\n| Check | Result | Checked | Failed | Summary |\n|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(w, "| %s | **%s** | %d %s | %d | %s |\n", c.Name, status(c.Pass), c.Checked, c.Unit, c.Failed, mdEscape(c.Summary))
	}
	var notes []string
	for _, c := range r.Checks {
		for _, n := range c.Notes {
			notes = append(notes, fmt.Sprintf("- %s: %s\n", c.Name, mdEscape(n)))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n### Notes\n\n%s", strings.Join(notes, ""))
	}
	for _, c := range r.Failed() {
		fmt.Fprintf(w, "\n### %s: %d of %d %s failed\n\n", c.Name, c.Failed, c.Checked, c.Unit)
		fmt.Fprintf(w, "| Where | Kind | Source offset | Target offset | Detail |\n|---|---|---|---|---|\n")
		for _, f := range c.Failures {
			detail := mdEscape(f.Message)
			for _, e := range f.Examples {
				detail += "<br>" + mdEscape(e)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", mdEscape(f.where()), f.Kind, offsetText(f.SourceOffset), offsetText(f.TargetOffset), detail)
		}
		if c.Failed > len(c.Failures) {
			fmt.Fprintf(w, "\n%d more not listed.\n", c.Failed-len(c.Failures))
		}
	}
	return nil
}

func offsetText(o *int64) string {
	if o == nil {
		return ""
	}
	return fmt.Sprint(*o)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", "<br>").Replace(s)
}

// count formats n items of unit, in the plural unless there is one:
// "1 topic", "1,024 records".
func count[N int | int32 | int64](n N, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return units.Count(int64(n)) + " " + unit + "s"
}
