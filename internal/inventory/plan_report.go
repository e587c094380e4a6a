package inventory

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/kmigrate/kmigrate/internal/quotas"
	"github.com/kmigrate/kmigrate/internal/units"
)

// WriteText writes the plan as a report for a terminal: the verdict and summary
// first, then blockers, warnings, notes and the topics.
func (p *Plan) WriteText(w io.Writer) error {
	d := newTextDoc(w)
	p.write(d)
	return d.err()
}

// WriteMarkdown writes the plan as Markdown, fit for a change ticket.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	d := newMarkdownDoc(w)
	p.write(d)
	return d.err()
}

// Verdict is the plan's one-line result.
func (p *Plan) Verdict() string {
	sum := p.Summary
	counts := fmt.Sprintf("%s, %s, %s", plural(sum.Blockers, "blocker", "blockers"), plural(sum.Warnings, "warning", "warnings"), plural(sum.Infos, "note", "notes"))
	if sum.Ready {
		return "READY: " + counts
	}
	return "NOT READY: " + counts
}

func (p *Plan) write(d doc) {
	sum := p.Summary
	d.title(fmt.Sprintf("kmigrate plan for migration %s: source %s (%s) to target %s (%s), taken %s",
		p.Migration, p.Source.ClusterID, plural(p.Source.Brokers, "broker", "brokers"),
		p.Target.ClusterID, plural(p.Target.Brokers, "broker", "brokers"), p.TakenAt.UTC().Format("2006-01-02T15:04:05Z")))
	d.line(p.Verdict())

	d.heading("Summary")
	blocked := sum.Topics - sum.Create - sum.Existing
	topics := fmt.Sprintf("%d selected: %d to create, %d existing", sum.Topics, sum.Create, sum.Existing)
	if blocked > 0 {
		topics += fmt.Sprintf(", %d blocked", blocked)
	}
	data := fmt.Sprintf("%s, %s records", size(sum.SizeBytes), records(sum.Records, sum.RecordsUpperBound))
	rate := fmt.Sprintf("%s/s (%s)", units.Bytes(p.Rate.BytesPerSecond), p.Rate.Origin)
	if sum.CopySeconds >= 0 {
		data += fmt.Sprintf("; initial copy about %s at %s", (time.Duration(sum.CopySeconds) * time.Second).String(), rate)
	}
	d.pairs([][2]string{
		{"topics", topics},
		{"partitions", num(int64(sum.Partitions))},
		{"data", data},
		{"consumer groups", fmt.Sprintf("%d selected", sum.Groups)},
		{"result", p.Verdict()},
	})

	for _, sev := range []struct{ severity, title string }{
		{SeverityBlocker, "Blockers"}, {SeverityWarning, "Warnings"}, {SeverityInfo, "Notes"},
	} {
		var fs []Finding
		for _, f := range p.Findings {
			if f.Severity == sev.severity {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		d.heading(sev.title)
		t := newTable("CODE", "SUBJECT", "PROBLEM", "FIX")
		for _, f := range fs {
			t.add(f.Code, findingSubject(f), f.Message, dash(f.Fix))
		}
		d.wide(t)
	}
	if len(p.Unavailable) > 0 {
		d.heading("Not visible")
		d.line("The principals could not see the following; findings that depend on it may be missing.")
		t := newTable("WHAT", "REQUEST", "REASON")
		for _, g := range p.Unavailable {
			t.add(g.What, g.Request, g.Reason)
		}
		d.table(t)
	}

	d.heading("Target topics")
	if len(p.Topics) == 0 {
		d.line("No topic is selected.")
	} else {
		t := newTable("SOURCE", "TARGET", "ACTION", "PARTITIONS", "RF", "RECORDS", "SIZE", "CONFIGS SET")
		for _, tp := range p.Topics {
			rf := fmt.Sprint(tp.ReplicationFactor)
			if tp.SourceRF != tp.ReplicationFactor && tp.ReplicationFactor > 0 {
				rf = fmt.Sprintf("%d (source %d)", tp.ReplicationFactor, tp.SourceRF)
			}
			t.add(tp.Source, tp.Target, tp.Action, fmt.Sprint(tp.Partitions), rf, records(tp.Records, tp.RecordsUpperBound), size(tp.SizeBytes), configList(tp.Configs))
		}
		d.table(t)
	}
	var skipped []string
	for _, tp := range p.Topics {
		for _, k := range sortedKeys(tp.Skipped) {
			skipped = append(skipped, fmt.Sprintf("%s: %s not copied: %s", tp.Source, k, tp.Skipped[k]))
		}
	}
	if len(skipped) > 0 {
		d.subheading("Source configs not copied")
		for _, s := range skipped {
			d.line(s)
		}
	}

	d.heading("Consumer groups")
	if len(p.Groups) == 0 {
		d.line("No consumer group is selected.")
	} else {
		t := newTable("GROUP", "STATE", "MEMBERS", "LAG", "TOPICS", "OUTSIDE SELECTION")
		for _, g := range p.Groups {
			t.add(g.Name, g.State, fmt.Sprint(g.Members), num(g.Lag), dash(strings.Join(g.Topics, ", ")), dash(strings.Join(g.UnselectedTopics, ", ")))
		}
		d.table(t)
	}

	if len(p.ClientQuotas) > 0 {
		d.heading("Client quotas")
		d.line("Set on the source; `kmigrate quotas sync` copies them to the target (user names mapped).")
		t := newTable("ENTITY", "QUOTA", "VALUE")
		for _, q := range p.ClientQuotas {
			t.add(q.Entity, q.Key, quotas.FormatValue(q.Value))
		}
		d.table(t)
	}
}

func findingSubject(f Finding) string {
	var parts []string
	switch {
	case f.Topic != "" && f.Target != "" && f.Topic != f.Target:
		parts = append(parts, f.Topic+" -> "+f.Target)
	case f.Topic != "":
		parts = append(parts, f.Topic)
	case f.Target != "":
		parts = append(parts, "target "+f.Target)
	}
	if f.Group != "" {
		parts = append(parts, "group "+f.Group)
	}
	if len(f.Partitions) > 0 {
		parts = append(parts, "partitions "+ids(f.Partitions))
	}
	return dash(strings.Join(parts, " "))
}

func configList(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}
