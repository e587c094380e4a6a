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

// Result is the outcome of a check or of a whole verification.
type Result string

// Results. PENDING is for what heals by itself while the migration runs (a
// group committed past the copy, a target group the next translation pass
// moves): nothing is wrong yet, but the copy cannot be declared complete.
// FAIL is for what is wrong. A verification is FAIL when any check fails,
// PENDING when none fails and some is pending, PASS otherwise.
const (
	ResultPass    Result = "PASS"
	ResultPending Result = "PENDING"
	ResultFail    Result = "FAIL"
)

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
	// Result is PASS, PENDING or FAIL.
	Result Result `json:"result"`
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
	// Result is PASS, PENDING (every failed item is pending) or FAIL.
	Result Result `json:"result"`
	// Pending counts the failed items that heal by themselves.
	Pending int `json:"pending,omitempty"`
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
	// Pending is set when the failure heals by itself as the migration runs.
	Pending bool `json:"pending,omitempty"`
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
	if f.Pending {
		c.Pending++
	}
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

// settle sets the results of the checks and of the report from their
// failures.
func (r *Report) settle() {
	r.Pass, r.Result = true, ResultPass
	for _, c := range r.Checks {
		switch {
		case c.Pass:
			c.Result = ResultPass
		case c.Pending == c.Failed:
			c.Result = ResultPending
		default:
			c.Result = ResultFail
		}
		r.Pass = r.Pass && c.Pass
		switch {
		case c.Result == ResultFail:
			r.Result = ResultFail
		case c.Result == ResultPending && r.Result == ResultPass:
			r.Result = ResultPending
		}
	}
}

// resultOf is the result of c, computed when settle has not run.
func resultOf(c *Check) Result {
	if c.Result != "" {
		return c.Result
	}
	if c.Pass {
		return ResultPass
	}
	return ResultFail
}

// Failed returns the checks that did not pass (failed or pending).
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
		fmt.Fprintf(tw, "%s\t%s\t%s\n", resultOf(c), c.Name, c.Summary)
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
		fmt.Fprintf(w, "\n%s: %s\n", c.Name, c.failedText())
		for _, f := range c.Failures {
			msg := f.Message
			if f.Pending {
				msg = "pending: " + msg
			}
			if loc := f.where(); loc != "" {
				fmt.Fprintf(w, "  %s: %s\n", loc, msg)
			} else {
				fmt.Fprintf(w, "  %s\n", msg)
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

// failedText says how many items of c failed and how many of them are pending.
func (c *Check) failedText() string {
	switch {
	case c.Pending == 0:
		return fmt.Sprintf("%d of %d %s failed", c.Failed, c.Checked, c.Unit)
	case c.Pending == c.Failed:
		return fmt.Sprintf("%d of %d %s pending", c.Failed, c.Checked, c.Unit)
	}
	return fmt.Sprintf("%d of %d %s failed, %d of them pending", c.Failed, c.Checked, c.Unit, c.Pending)
}

func (r *Report) result() string {
	var failed, pending []string
	for _, c := range r.Checks {
		switch resultOf(c) {
		case ResultFail:
			failed = append(failed, c.Name)
		case ResultPending:
			pending = append(pending, c.Name)
		}
	}
	switch {
	case len(failed) > 0:
		s := fmt.Sprintf("FAIL (%d of %d checks failed: %s", len(failed), len(r.Checks), strings.Join(failed, ", "))
		if len(pending) > 0 {
			s += "; pending: " + strings.Join(pending, ", ")
		}
		return s + ")"
	case len(pending) > 0:
		return fmt.Sprintf("PENDING (%d of %d checks pending: %s; they settle as the copy and the group translation catch up)", len(pending), len(r.Checks), strings.Join(pending, ", "))
	}
	return fmt.Sprintf("PASS (%d checks)", len(r.Checks))
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
		fmt.Fprintf(w, "| %s | **%s** | %d %s | %d | %s |\n", c.Name, resultOf(c), c.Checked, c.Unit, c.Failed, mdEscape(c.Summary))
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
		fmt.Fprintf(w, "\n### %s: %s\n\n", c.Name, c.failedText())
		fmt.Fprintf(w, "| Where | Kind | Source offset | Target offset | Detail |\n|---|---|---|---|---|\n")
		for _, f := range c.Failures {
			detail := mdEscape(f.Message)
			for _, e := range f.Examples {
				detail += "<br>" + mdEscape(e)
			}
			kind := f.Kind
			if f.Pending {
				kind += " (pending)"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", mdEscape(f.where()), kind, offsetText(f.SourceOffset), offsetText(f.TargetOffset), detail)
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
