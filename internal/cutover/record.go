package cutover

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/kmigrate/kmigrate/internal/acls"
)

// Schema is the version of a Record's JSON form.
const Schema = 1

// Phases of a cutover record.
const (
	// PhaseRunning: the cutover is in progress (or its process died; a re-run
	// resumes it).
	PhaseRunning = "running"
	// PhaseGo: the cutover finished with GO: the copy is sealed and the target
	// is where applications write.
	PhaseGo = "go"
	// PhaseNoGo: a gate failed; everything the cutover changed was undone.
	PhaseNoGo = "no-go"
	// PhaseAborted: `cutover --abort` undid the cutover.
	PhaseAborted = "aborted"
)

// Decisions.
const (
	GO   = "GO"
	NOGO = "NO-GO"
)

// Step results.
const (
	ResultRunning = "running"
	ResultPassed  = "passed"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Step names, in the order they run.
const (
	StepPreflight = "preflight"
	StepFreeze    = "freeze"
	StepDrain     = "drain"
	StepConsumers = "consumers"
	StepGroups    = "groups"
	StepVerify    = "verify"
	StepSeal      = "seal"
	StepReport    = "report"
)

// Steps lists the step names in order.
var Steps = []string{StepPreflight, StepFreeze, StepDrain, StepConsumers, StepGroups, StepVerify, StepSeal, StepReport}

// Record is a cutover: what each step found, the offsets it froze and what it
// changed on the clusters. It is persisted in the migration's state topic after
// every change, so that a re-run resumes where a killed one stopped, an abort
// undoes exactly what was done, and the report can be written again.
type Record struct {
	Schema    int    `json:"schema"`
	Migration string `json:"migration"`
	// ID names this cutover (its start time and a random part).
	ID string `json:"id"`
	// DryRun is set on the report of a --dry-run (never persisted).
	DryRun bool `json:"dry_run,omitempty"`
	// Phase is running, go, no-go or aborted.
	Phase string `json:"phase"`
	// Decision is GO or NO-GO once the cutover ended.
	Decision string `json:"decision"`
	// Reason says why the decision is NO-GO.
	Reason  string    `json:"reason,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// FenceSource records that --fence-source was asked for.
	FenceSource bool `json:"fence_source,omitempty"`
	// Steps are the steps run so far, in order.
	Steps []*Step `json:"steps"`
	// Frozen maps source topic to partition to the source end offset at the
	// freeze: where the source stopped.
	Frozen map[string]map[int32]int64 `json:"frozen_offsets,omitempty"`
	// TargetEnds maps target topic to partition to the target end offset when
	// the copy was sealed: where applications continue on the target.
	TargetEnds map[string]map[int32]int64 `json:"target_end_offsets,omitempty"`
	// SourceFence are the DENY WRITE ACLs this cutover created on the source
	// (recorded before they are created, so that an abort after a crash
	// removes them too).
	SourceFence []acls.ACL `json:"source_fence,omitempty"`
	// TargetFence are the DENY WRITE ACLs for kmigrate's own principal on the
	// target topics.
	TargetFence []acls.ACL `json:"target_fence,omitempty"`
	// Sealed is set once no kmigrate process copies the migration forward.
	Sealed bool `json:"sealed,omitempty"`
	// Topics are the figures per topic, filled by the drain.
	Topics []TopicFigures `json:"topics,omitempty"`
	// Groups are the figures of the final translation.
	Groups *GroupFigures `json:"groups,omitempty"`
	// Verify summarises the final verification.
	Verify *VerifyFigures `json:"verify,omitempty"`
}

// Step is one step of a cutover and its gate.
type Step struct {
	Name    string    `json:"name"`
	Result  string    `json:"result"`
	Started time.Time `json:"started"`
	// Seconds is how long the step took (so far, while it runs).
	Seconds float64 `json:"seconds"`
	// Summary says in one line what the gate found.
	Summary string `json:"summary,omitempty"`
	// Details list what failed or is noteworthy: partitions still moving,
	// active members, failed checks.
	Details []string `json:"details,omitempty"`
}

// TopicFigures counts what was copied of one topic.
type TopicFigures struct {
	Source     string `json:"source"`
	Target     string `json:"target"`
	Partitions int    `json:"partitions"`
	// Records counts the records copied (the offset maps' sizes).
	Records int64 `json:"records"`
}

// GroupFigures counts the final group translation.
type GroupFigures struct {
	Groups     int            `json:"groups"`
	Partitions int            `json:"partitions"`
	Committed  int            `json:"committed"`
	Statuses   map[string]int `json:"statuses"`
}

// VerifyFigures summarises the final verification.
type VerifyFigures struct {
	Result string        `json:"result"`
	Seed   int64         `json:"seed,omitempty"`
	Checks []VerifyCheck `json:"checks"`
}

// VerifyCheck is one check of the final verification.
type VerifyCheck struct {
	Name    string `json:"name"`
	Result  string `json:"result"`
	Summary string `json:"summary"`
}

func (r *Record) step(name string) *Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (r *Record) passed(name string) bool {
	s := r.step(name)
	return s != nil && s.Result == ResultPassed
}

// encode returns the record's JSON.
func (r *Record) encode() ([]byte, error) { return json.Marshal(r) }

// decode reads a record persisted by an earlier cutover.
func decode(raw []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode the cutover record: %w", err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("the cutover record has schema %d; this kmigrate reads %d", r.Schema, Schema)
	}
	return &r, nil
}

// WriteText writes the one-screen summary.
func (r *Record) WriteText(w io.Writer) error {
	title := "cutover"
	if r.DryRun {
		title = "cutover (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "%s of migration %s (%s): %s\n", title, r.Migration, r.ID, r.Decision)
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", r.Reason)
	}
	for i, s := range r.Steps {
		fmt.Fprintf(w, "  %d. %-10s %-8s %7.1fs  %s\n", i+1, s.Name, s.Result, s.Seconds, s.Summary)
		for _, d := range s.Details {
			fmt.Fprintf(w, "       - %s\n", d)
		}
	}
	if len(r.Topics) > 0 {
		var recs int64
		for _, t := range r.Topics {
			recs += t.Records
		}
		fmt.Fprintf(w, "  copied: %d records in %d topics\n", recs, len(r.Topics))
	}
	if g := r.Groups; g != nil {
		fmt.Fprintf(w, "  groups: %d groups, %d partitions, %d committed (%s)\n", g.Groups, g.Partitions, g.Committed, statusText(g.Statuses))
	}
	if v := r.Verify; v != nil {
		fmt.Fprintf(w, "  verify: %s\n", v.Result)
	}
	if r.Sealed {
		fmt.Fprintln(w, "  the copy is sealed: point producers and consumers at the target now")
	}
	return nil
}

func statusText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown writes the report as Markdown.
func (r *Record) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "# Cutover of migration %s: %s\n\n", r.Migration, r.Decision)
	if r.DryRun {
		fmt.Fprintln(w, "Dry run: every check ran, nothing was changed.")
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "- id: %s\n- started: %s\n- updated: %s\n- phase: %s\n", r.ID, r.Started.Format(time.RFC3339), r.Updated.Format(time.RFC3339), r.Phase)
	if r.Reason != "" {
		fmt.Fprintf(w, "- reason: %s\n", md(r.Reason))
	}
	fmt.Fprintln(w, "\n## Steps\n\n| # | step | result | seconds | summary |\n|---|---|---|---|---|")
	for i, s := range r.Steps {
		fmt.Fprintf(w, "| %d | %s | %s | %.1f | %s |\n", i+1, s.Name, s.Result, s.Seconds, md(s.Summary))
	}
	for _, s := range r.Steps {
		if len(s.Details) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s\n\n", s.Name)
		for _, d := range s.Details {
			fmt.Fprintf(w, "- %s\n", md(d))
		}
	}
	if len(r.Topics) > 0 {
		fmt.Fprintln(w, "\n## Topics\n\n| source | target | partitions | records |\n|---|---|---|---|")
		for _, t := range r.Topics {
			fmt.Fprintf(w, "| %s | %s | %d | %d |\n", t.Source, t.Target, t.Partitions, t.Records)
		}
	}
	if len(r.Frozen) > 0 {
		fmt.Fprintln(w, "\n## Frozen source end offsets\n\n| topic | partition | end offset |\n|---|---|---|")
		writeOffsets(w, r.Frozen)
	}
	if len(r.TargetEnds) > 0 {
		fmt.Fprintln(w, "\n## Target end offsets at the seal\n\n| topic | partition | end offset |\n|---|---|---|")
		writeOffsets(w, r.TargetEnds)
	}
	if g := r.Groups; g != nil {
		fmt.Fprintf(w, "\n## Groups\n\n%d groups, %d group partitions, %d committed: %s\n", g.Groups, g.Partitions, g.Committed, statusText(g.Statuses))
	}
	if v := r.Verify; v != nil {
		fmt.Fprintf(w, "\n## Verify: %s\n\n| check | result | summary |\n|---|---|---|\n", v.Result)
		for _, c := range v.Checks {
			fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, c.Result, md(c.Summary))
		}
	}
	if len(r.SourceFence)+len(r.TargetFence) > 0 {
		fmt.Fprintln(w, "\n## ACLs added")
		fmt.Fprintln(w)
		for _, a := range r.SourceFence {
			fmt.Fprintf(w, "- source: %s\n", md(a.String()))
		}
		for _, a := range r.TargetFence {
			fmt.Fprintf(w, "- target: %s\n", md(a.String()))
		}
	}
	return nil
}

func writeOffsets(w io.Writer, m map[string]map[int32]int64) {
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		ps := make([]int32, 0, len(m[t]))
		for p := range m[t] {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for _, p := range ps {
			fmt.Fprintf(w, "| %s | %d | %d |\n", t, p, m[t][p])
		}
	}
}

func md(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
