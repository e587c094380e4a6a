package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kmigrate/kmigrate/internal/groups"
	"github.com/kmigrate/kmigrate/internal/verify"
)

// How the demo tells its story: totals read from the engine and one-line
// summaries of a translation pass and a verification.

type demoTotals struct {
	topics, partitions, runs, failed int
	copied, bytes, lag, lost         int64
}

func (d *demo) totals() demoTotals {
	var t demoTotals
	var topics []string
	for _, p := range d.rt.engine.Status() {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
		}
		t.partitions++
		t.runs += p.Runs
		t.copied += p.Copied
		t.bytes += p.Bytes
		t.lag += max(0, p.Lag)
		for _, l := range p.Lost {
			t.lost += l.To - l.From
		}
		if p.Error != "" {
			t.failed++
		}
	}
	t.topics = len(topics)
	return t
}

func groupsLine(r *groups.Report) string {
	if r == nil {
		return "no translation pass"
	}
	c := r.Counts()
	s := fmt.Sprintf("%d groups, %d/%d partitions in-sync", r.Groups, c[groups.InSync], len(r.Rows))
	for _, st := range []groups.Status{groups.Pending, groups.ActiveOnTarget, groups.BehindRetention, groups.Skipped} {
		if c[st] > 0 {
			s += fmt.Sprintf(", %d %s", c[st], st)
		}
	}
	if len(r.Errors) > 0 {
		s += fmt.Sprintf(", %d errors", len(r.Errors))
	}
	return s
}

func verifyLine(r *verify.Report) string {
	verdict := string(r.Result)
	var checks []string
	for _, c := range r.Checks {
		mark := "ok"
		switch {
		case c.Result == verify.ResultPending:
			mark = fmt.Sprintf("PENDING %d/%d", c.Failed, c.Checked)
		case !c.Pass:
			mark = fmt.Sprintf("FAILED %d/%d", c.Failed, c.Checked)
		}
		checks = append(checks, c.Name+" "+mark)
	}
	return fmt.Sprintf("%s %s in %.1fs: %s", verdict, r.Mode, r.Seconds, strings.Join(checks, ", "))
}
