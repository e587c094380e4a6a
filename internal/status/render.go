package status

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kmigrate/kmigrate/internal/units"
)

// WriteText writes the report for a terminal: the run and the totals on top,
// one row per partition, then data lost to retention and errors.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "kmigrate status: migration %s at %s\n", r.Migration, r.Taken.Format(time.RFC3339))
	fmt.Fprintf(w, "run: %s\n", r.Run)
	if r.Baseline != nil {
		fmt.Fprintf(w, "baseline: taken %s\n", r.Baseline.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "baseline: none recorded; progress is measured against the current source end offsets\n")
	}
	fmt.Fprintf(w, "total: %s\n\n", r.totalLine())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TOPIC\tPART\tBASELINE END\tSOURCE END\tCOPIED UP TO\tTARGET END\tLAG\tLAG AGE\tDONE\tRATE/S\tETA\tPHASE\t")
	for _, p := range r.Partitions {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%.1f%%\t%s\t%s\t%s\t\n",
			p.Topic, p.Partition, baselineText(p), p.SourceEnd, p.CopiedUpTo, p.TargetEnd, units.Count(p.LagRecords),
			Seconds(p.LagSeconds), 100*p.BaselineProgress, floatText(p.Rate), etaText(p.ETASeconds, p.Rate != nil), p.Phase)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Partitions {
		for _, lr := range p.LostRanges {
			fmt.Fprintf(w, "lost: %s[%d] source offsets %d to %d (up to %d records) were deleted by retention before they were copied\n",
				p.Topic, p.Partition, lr.From, lr.To-1, lr.To-lr.From)
		}
		if p.Error != "" {
			fmt.Fprintf(w, "error: %s[%d]: %s\n", p.Topic, p.Partition, p.Error)
		}
	}
	return nil
}

// totalLine is the one-line summary of the totals.
func (r *Report) totalLine() string {
	t := r.Totals
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s, %.1f%% of the baseline copied, lag %s (%s), rate %s, ETA %s",
		plural(t.Partitions, "partition"), t.Phase, 100*t.BaselineProgress, plural(t.LagRecords, "record"), Seconds(t.LagSeconds),
		rateText(t.RecordsPerSecond, t.SourceRecordsPerSecond), etaText(t.ETASeconds, t.RecordsPerSecond != nil))
	if t.LostRecords > 0 {
		fmt.Fprintf(&b, ", LOST TO RETENTION: up to %s records", units.Count(t.LostRecords))
	}
	return b.String()
}

// WriteMarkdown writes the report as a Markdown table with the totals above.
func (r *Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "## kmigrate status: %s\n\n", r.Migration)
	fmt.Fprintf(w, "- Taken: %s\n", r.Taken.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "- Run: %s\n", mdEscape(r.Run.String()))
	if r.Baseline != nil {
		fmt.Fprintf(w, "- Baseline: %s\n", r.Baseline.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "- Baseline: none recorded (progress against current source end offsets)\n")
	}
	t := r.Totals
	fmt.Fprintf(w, "- Total: %s, %s, **%.1f%%** of the baseline copied, lag %s (%s), rate %s, ETA %s\n",
		plural(t.Partitions, "partition"), t.Phase, 100*t.BaselineProgress, plural(t.LagRecords, "record"), Seconds(t.LagSeconds),
		rateText(t.RecordsPerSecond, t.SourceRecordsPerSecond), etaText(t.ETASeconds, t.RecordsPerSecond != nil))
	if t.LostRecords > 0 {
		fmt.Fprintf(w, "- **Lost to source retention: up to %s records**\n", units.Count(t.LostRecords))
	}
	fmt.Fprintf(w, "\n| Topic | Part | Baseline end | Source end | Copied up to | Target end | Lag | Lag age | Done | Rate/s | ETA | Phase |\n")
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, p := range r.Partitions {
		fmt.Fprintf(w, "| %s | %d | %s | %d | %d | %d | %s | %s | %.1f%% | %s | %s | %s |\n",
			mdEscape(p.Topic), p.Partition, baselineText(p), p.SourceEnd, p.CopiedUpTo, p.TargetEnd, units.Count(p.LagRecords),
			Seconds(p.LagSeconds), 100*p.BaselineProgress, floatText(p.Rate), etaText(p.ETASeconds, p.Rate != nil), p.Phase)
	}
	var lost []string
	for _, p := range r.Partitions {
		for _, lr := range p.LostRanges {
			lost = append(lost, fmt.Sprintf("- %s[%d]: source offsets %d to %d (up to %d records)\n", mdEscape(p.Topic), p.Partition, lr.From, lr.To-1, lr.To-lr.From))
		}
	}
	if len(lost) > 0 {
		fmt.Fprintf(w, "\n### Lost to source retention before copy\n\n%s", strings.Join(lost, ""))
	}
	return nil
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", "<br>").Replace(s)
}

func plural[N int | int64](n N, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return units.Count(int64(n)) + " " + unit + "s"
}

func baselineText(p Partition) string {
	if !p.BaselineKnown {
		return "-"
	}
	return fmt.Sprint(p.BaselineEnd)
}

func floatText(f *float64) string {
	if f == nil {
		return "-"
	}
	return units.Count(int64(math.Round(*f)))
}

func rateText(rate, src *float64) string {
	if rate == nil {
		return "- (one sample; use --interval or --watch)"
	}
	return fmt.Sprintf("%s records/s (source %s/s)", floatText(rate), floatText(src))
}

// etaText shows an ETA: "-" without rates (unless there is no lag), "not
// catching up" when the copy does not gain on the source.
func etaText(eta *float64, rates bool) string {
	switch {
	case eta != nil:
		return Seconds(*eta)
	case !rates:
		return "-"
	}
	return "not catching up"
}

// Seconds formats a duration in seconds, rounded for reading.
func Seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
