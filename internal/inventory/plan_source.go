package inventory

import (
	"context"
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kmigrate/kmigrate/internal/scope"
)

// checkSource reports the selected source topics and groups the principal may
// not read, and returns the topics it may.
func (p *planner) checkSource(ctx context.Context) map[string]bool {
	readable := map[string]bool{}
	for _, t := range p.src.Topics {
		m := p.src.metas[t.Name]
		var missing []string
		if !allowed(m.ops, kmsg.ACLOperationRead) {
			missing = append(missing, "Read")
		}
		if !allowed(m.ops, kmsg.ACLOperationDescribeConfigs) {
			missing = append(missing, "DescribeConfigs")
		}
		if m.err != nil {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Topic: t.Name,
				Message: fmt.Sprintf("source topic %s cannot be described: %v", t.Name, m.err)})
			continue
		}
		if len(missing) > 0 {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Topic: t.Name,
				Message: fmt.Sprintf("the source principal may not %s topic %s: kmigrate reads its records and copies its configs", strings.Join(missing, " or "), t.Name),
				Fix:     fmt.Sprintf("grant the principal Read and DescribeConfigs on topic %s", t.Name)})
			continue
		}
		readable[t.Name] = true
	}
	// Names the selection spells out literally but the scan did not see: absent,
	// or hidden from this principal.
	var names []string
	for _, n := range literals(p.cfg.Topics.Include) {
		if _, seen := p.src.metas[n]; !seen && scope.Topic(&p.cfg.Topics, n) {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		metas, _, _, err := metadata(ctx, p.o.Source, names)
		if err != nil {
			p.gap("source topics named in the selection", "Metadata", err)
		}
		for _, n := range names {
			m, ok := metas[n]
			switch {
			case !ok:
			case errors.Is(m.err, kerr.TopicAuthorizationFailed):
				p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Topic: n,
					Message: fmt.Sprintf("the source principal may not even describe topic %s, which the selection names", n),
					Fix:     fmt.Sprintf("grant the principal Read and DescribeConfigs on topic %s", n)})
			case m.err == nil:
				// Created since the scan: it will be picked up by run.
			default:
				p.add(Finding{Severity: SeverityInfo, Code: CodeTopicMissing, Topic: n,
					Message: fmt.Sprintf("topic %s, named in the selection, does not exist on the source (%v)", n, m.err)})
			}
		}
	}
	for _, g := range p.src.Groups {
		if g.Error != "" && strings.Contains(g.Error, "AUTHORIZATION") {
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Group: g.Name,
				Message: fmt.Sprintf("the source principal may not read group %s: %s", g.Name, g.Error),
				Fix:     fmt.Sprintf("grant the principal Describe on group %s", g.Name)})
		}
	}
	seenGroups := map[string]bool{}
	for _, g := range p.src.Groups {
		seenGroups[g.Name] = true
	}
	var groups []string
	for _, n := range literals(p.cfg.Groups.Include) {
		if !seenGroups[n] && scope.Group(&p.cfg.Groups, n) {
			groups = append(groups, n)
		}
	}
	for _, dg := range describeGroupsSettled(ctx, p.o.Source, groups, 15*time.Second) {
		switch err := dg.err; {
		case errors.Is(err, kerr.GroupAuthorizationFailed):
			p.add(Finding{Severity: SeverityBlocker, Code: CodeCannotReadSource, Group: dg.group,
				Message: fmt.Sprintf("the source principal may not describe group %s, which the selection names", dg.group),
				Fix:     fmt.Sprintf("grant the principal Describe on group %s", dg.group)})
		case err != nil && !errors.Is(err, kerr.GroupIDNotFound):
			p.gap("source group "+dg.group, "DescribeGroups", err)
		default:
			p.add(Finding{Severity: SeverityInfo, Code: CodeGroupMissing, Group: dg.group,
				Message: fmt.Sprintf("group %s, named in the selection, has no committed offsets on the source", dg.group)})
		}
	}
	if len(p.src.Topics) == 0 {
		p.add(Finding{Severity: SeverityInfo, Code: CodeNothingSelected,
			Message: "no source topic is selected and visible: check topics.include, and that the principal may describe the topics"})
	}
	return readable
}

// literals returns the patterns that match exactly one name, as that name.
func literals(patterns []string) []string {
	var out []string
	for _, pat := range patterns {
		re, err := syntax.Parse(pat, syntax.Perl)
		if err != nil {
			continue
		}
		re = re.Simplify()
		if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
			out = append(out, string(re.Rune))
		}
	}
	return out
}
