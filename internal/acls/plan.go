package acls

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/scope"
)

// PlanSchema is the schema version of a Plan's JSON form.
const PlanSchema = "kmigrate.acls/v1"

// Row statuses.
const (
	// StatusAdd: the target lacks the ACL; Sync creates it.
	StatusAdd = "add"
	// StatusPresent: the target has the ACL already.
	StatusPresent = "present"
	// StatusHeld: an ALLOW WRITE or ALL on a migrated topic, kept for the
	// cutover (WriteGrants).
	StatusHeld = "held"
	// StatusDuplicate: another row produces the same target ACL.
	StatusDuplicate = "duplicate"
	// StatusSkipped: the source ACL concerns nothing the migration moves.
	StatusSkipped = "skipped"
	// StatusExtra: a target ACL no source ACL produces; left alone.
	StatusExtra = "extra"
	// StatusAdded and StatusFailed are the outcome of an add row after Sync.
	StatusAdded  = "added"
	StatusFailed = "failed"
)

// Principal statuses.
const (
	// CredentialOnTarget: the target has a SCRAM credential for the user.
	CredentialOnTarget = "credential-on-target"
	// NoCredentialOnTarget: the target has no SCRAM credential for the user;
	// unless it authenticates by other means (TLS certificates, OAUTHBEARER,
	// IAM), the application cannot log in.
	NoCredentialOnTarget = "no-credential-on-target"
	// CredentialsUnknown: the target's SCRAM credentials could not be read.
	CredentialsUnknown = "credentials-unknown"
	// NotAUser: the principal is a wildcard or not of type User, so it has no
	// credential of its own.
	NotAUser = "not-a-user"
)

// Plan is what Sync does to the target's ACLs, one row per ACL, and the
// principals involved.
type Plan struct {
	// Schema is PlanSchema.
	Schema string `json:"schema"`
	// Migration names the migration.
	Migration string `json:"migration"`
	// Rows has one row per source ACL (and per operation an ALL splits into),
	// then one per extra target ACL.
	Rows []Row `json:"acls"`
	// Principals has one row per target principal named by a copied ACL.
	Principals []Principal `json:"principals"`
	// Summary counts the rows by status.
	Summary map[string]int `json:"summary"`
}

// Row is one ACL of the plan.
type Row struct {
	// Status is one of the Status constants.
	Status string `json:"status"`
	// Reason says why, in a sentence.
	Reason string `json:"reason"`
	// Source is the source ACL; nil for extra rows.
	Source *ACL `json:"source,omitempty"`
	// Target is the ACL on the target; nil for skipped rows.
	Target *ACL `json:"target,omitempty"`
	// Mapping says how the principal was mapped: "table", "rewrite[i]", or
	// empty when it stays as it is.
	Mapping string `json:"mapping,omitempty"`
	// Error is set when Status is failed.
	Error string `json:"error,omitempty"`
}

// Principal is one target principal that copied ACLs name.
type Principal struct {
	// Target is the principal on the target; Sources are the source principals
	// mapped to it.
	Target  string   `json:"target"`
	Sources []string `json:"sources"`
	// ACLs counts the rows that grant or deny it something on the target
	// (add, present and held).
	ACLs int `json:"acls"`
	// SourceSCRAM and TargetSCRAM list the SCRAM mechanisms the user has a
	// credential for on each side (the source side for the first source
	// principal that is a user).
	SourceSCRAM []string `json:"source_scram"`
	TargetSCRAM []string `json:"target_scram"`
	// Status is one of the principal status constants.
	Status string `json:"status"`
	// Reason says what the operator must do, if anything.
	Reason string `json:"reason"`
}

// Options are the inputs of MakePlan.
type Options struct {
	// Config is the migration: topic and group selection, the rename rule and
	// the principal mapping.
	Config *config.Config
	// Source and Target are clients of the two clusters, as principals that may
	// describe ACLs (and, for Sync, alter them on the target).
	Source, Target *kgo.Client
}

// topicOps are the operations ALL stands for on a topic.
var topicOps = []string{"READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"}

// MakePlan reads both clusters' ACLs and computes the plan. It changes nothing.
func MakePlan(ctx context.Context, o Options) (*Plan, error) {
	if o.Config == nil || o.Source == nil || o.Target == nil {
		return nil, errors.New("make acl plan: Config, Source and Target are required")
	}
	cfg := o.Config
	topics, err := scope.SourceTopics(ctx, kadm.NewClient(o.Source), &cfg.Topics)
	if err != nil {
		return nil, fmt.Errorf("make acl plan: %w", err)
	}
	src, err := Describe(ctx, o.Source)
	if errors.Is(err, kerr.SecurityDisabled) {
		err = fmt.Errorf("%w (the source cluster has no authorizer: every principal may do everything there, so there is no ACL to copy)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read source acls: %w", err)
	}
	tgt, err := Describe(ctx, o.Target)
	if errors.Is(err, kerr.SecurityDisabled) {
		err = fmt.Errorf("%w (the target cluster has no authorizer: ACLs cannot be created there; set authorizer.class.name first)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read target acls: %w", err)
	}
	p := Map(cfg, topics.Names(), src, tgt)
	p.checkCredentials(ctx, o.Source, o.Target)
	return p, nil
}

// Map computes the plan from the ACLs of both sides, given the selected source
// topics; it reads no cluster and leaves the principals' credentials unknown.
func Map(cfg *config.Config, topics []string, src, tgt []ACL) *Plan {
	p := &Plan{Schema: PlanSchema, Migration: cfg.Migration, Rows: []Row{}, Principals: []Principal{}, Summary: map[string]int{}}
	onTarget := map[string]bool{}
	for _, a := range tgt {
		onTarget[a.key()] = true
	}
	produced := map[string]bool{}
	emit := func(r Row) {
		if r.Target != nil && r.Status != StatusHeld {
			k := r.Target.key()
			switch {
			case produced[k]:
				r.Status, r.Reason = StatusDuplicate, "another row produces the same target ACL"
			case onTarget[k]:
				r.Status, r.Reason = StatusPresent, "the target has it already"
			}
			produced[k] = true
		} else if r.Target != nil {
			k := r.Target.key()
			if onTarget[k] {
				r.Reason += "; WARNING: the target already grants it, so applications can write to the target now"
			}
			produced[k] = true
		}
		p.Rows = append(p.Rows, r)
	}
	for _, a := range src {
		a := a
		target, why := targetResource(cfg, topics, a)
		if why != "" {
			emit(Row{Status: StatusSkipped, Reason: why, Source: &a})
			continue
		}
		principal, mapping := cfg.ACLs.MapPrincipal(a.Principal)
		t := a
		t.ResourceName, t.Principal = target, principal
		held := a.ResourceType == Topic && a.Permission == Allow && (a.Operation == OpWrite || a.Operation == OpAll)
		switch {
		case held && a.Operation == OpWrite:
			emit(Row{Status: StatusHeld, Reason: "WRITE on a migrated topic is granted at cutover (WriteGrants)", Source: &a, Target: &t, Mapping: mapping})
		case held:
			emit(Row{Status: StatusHeld, Reason: "ALL on a migrated topic includes WRITE: granted at cutover (WriteGrants); the other operations now", Source: &a, Target: &t, Mapping: mapping})
			for _, op := range topicOps {
				if op == OpWrite {
					continue
				}
				s := t
				s.Operation = op
				emit(Row{Status: StatusAdd, Reason: "part of ALL on a migrated topic", Source: &a, Target: &s, Mapping: mapping})
			}
		default:
			emit(Row{Status: StatusAdd, Reason: "copied from the source", Source: &a, Target: &t, Mapping: mapping})
		}
	}
	for _, a := range tgt {
		if !produced[a.key()] {
			a := a
			p.Rows = append(p.Rows, Row{Status: StatusExtra, Reason: "on the target only; left alone", Target: &a})
		}
	}
	for _, r := range p.Rows {
		p.Summary[r.Status]++
	}
	p.principals()
	return p
}

// targetResource returns the target resource name of a source ACL, or why the
// ACL is not copied.
func targetResource(cfg *config.Config, topics []string, a ACL) (string, string) {
	switch a.ResourceType {
	case Topic:
		switch {
		case a.ResourceName == "*" && a.PatternType == Literal:
			return "*", ""
		case a.PatternType == Literal:
			if !scope.Topic(&cfg.Topics, a.ResourceName) {
				return "", fmt.Sprintf("topic %s is not migrated", a.ResourceName)
			}
			return scope.TargetTopic(cfg.Replication, a.ResourceName), ""
		case a.PatternType == Prefixed:
			for _, t := range topics {
				if strings.HasPrefix(t, a.ResourceName) {
					// prefix+P matches exactly the renamed topics whose source
					// names start with P (a suffix comes after the name).
					return cfg.Replication.TopicPrefix + a.ResourceName, ""
				}
			}
			return "", fmt.Sprintf("no migrated topic starts with %q", a.ResourceName)
		}
	case Group:
		if a.PatternType == Literal && a.ResourceName != "*" && !scope.Group(&cfg.Groups, a.ResourceName) {
			return "", fmt.Sprintf("group %s is not migrated", a.ResourceName)
		}
		return a.ResourceName, ""
	case TransactionalID, Cluster:
		if a.PatternType == Literal || a.PatternType == Prefixed {
			return a.ResourceName, ""
		}
	}
	return "", fmt.Sprintf("%s %s ACLs are not migrated", strings.ToLower(a.PatternType), strings.ToLower(a.ResourceType))
}

// principals gathers the target principals of the rows that grant or deny.
func (p *Plan) principals() {
	byTarget := map[string]*Principal{}
	for _, r := range p.Rows {
		if r.Target == nil || r.Source == nil || r.Status == StatusSkipped {
			continue
		}
		pr := byTarget[r.Target.Principal]
		if pr == nil {
			pr = &Principal{Target: r.Target.Principal, Sources: []string{}, SourceSCRAM: []string{}, TargetSCRAM: []string{}, Status: CredentialsUnknown}
			byTarget[r.Target.Principal] = pr
		}
		if !contains(pr.Sources, r.Source.Principal) {
			pr.Sources = append(pr.Sources, r.Source.Principal)
		}
		if r.Status != StatusDuplicate {
			pr.ACLs++
		}
	}
	for _, pr := range byTarget {
		sort.Strings(pr.Sources)
		if _, ok := userName(pr.Target); !ok {
			pr.Status, pr.Reason = NotAUser, "a wildcard or a principal that is not a user has no credential of its own"
		}
		p.Principals = append(p.Principals, *pr)
	}
	sort.Slice(p.Principals, func(i, j int) bool { return p.Principals[i].Target < p.Principals[j].Target })
}

// checkCredentials fills in which principals have SCRAM credentials.
func (p *Plan) checkCredentials(ctx context.Context, src, tgt *kgo.Client) {
	srcCreds, srcErr := kadm.NewClient(src).DescribeUserSCRAMs(ctx)
	tgtCreds, tgtErr := kadm.NewClient(tgt).DescribeUserSCRAMs(ctx)
	for i := range p.Principals {
		pr := &p.Principals[i]
		user, ok := userName(pr.Target)
		if !ok {
			continue
		}
		if srcErr == nil {
			for _, s := range pr.Sources {
				if su, ok := userName(s); ok {
					pr.SourceSCRAM = mechanisms(srcCreds[su])
					break
				}
			}
		}
		switch {
		case tgtErr != nil:
			pr.Status, pr.Reason = CredentialsUnknown, fmt.Sprintf("the target's SCRAM credentials could not be read: %v", tgtErr)
		case len(mechanisms(tgtCreds[user])) > 0:
			pr.TargetSCRAM = mechanisms(tgtCreds[user])
			pr.Status, pr.Reason = CredentialOnTarget, ""
		default:
			pr.Status = NoCredentialOnTarget
			pr.Reason = fmt.Sprintf("user %s has no SCRAM credential on the target; SCRAM credentials cannot be copied: create one (kafka-configs --alter --add-config 'SCRAM-SHA-512=[password=...]' --entity-type users --entity-name %s), unless the target authenticates it otherwise", user, user)
			if len(pr.SourceSCRAM) > 0 {
				pr.Reason += fmt.Sprintf(" (on the source it has %s)", strings.Join(pr.SourceSCRAM, ", "))
			}
		}
	}
}

func mechanisms(d kadm.DescribedUserSCRAM) []string {
	out := []string{}
	if d.Err != nil {
		return out
	}
	for _, c := range d.CredInfos {
		out = append(out, c.Mechanism.String())
	}
	sort.Strings(out)
	return out
}

// userName returns the user name of a "User:name" principal.
func userName(principal string) (string, bool) {
	name, ok := strings.CutPrefix(principal, "User:")
	if !ok || name == "" || name == "*" {
		return "", false
	}
	return name, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// WriteGrants returns the held ACLs of a plan: the ALLOW WRITE and ALLOW ALL
// bindings on migrated topics that the cutover creates when it seals the
// migration (Create) and its rollback deletes (Delete).
func WriteGrants(p *Plan) []ACL {
	var out []ACL
	seen := map[string]bool{}
	for _, r := range p.Rows {
		if r.Status == StatusHeld && !seen[r.Target.key()] {
			seen[r.Target.key()] = true
			out = append(out, *r.Target)
		}
	}
	Sort(out)
	return out
}

// Sync creates the plan's add rows on the target and records each outcome in
// its row (added or failed). It returns the number of failures.
func Sync(ctx context.Context, tgt *kgo.Client, p *Plan) int {
	var idx []int
	var list []ACL
	for i, r := range p.Rows {
		if r.Status == StatusAdd {
			idx = append(idx, i)
			list = append(list, *r.Target)
		}
	}
	failed := 0
	for j, err := range Create(ctx, tgt, list) {
		r := &p.Rows[idx[j]]
		if err != nil {
			r.Status, r.Error = StatusFailed, err.Error()
			failed++
		} else {
			r.Status = StatusAdded
		}
	}
	p.Summary = map[string]int{}
	for _, r := range p.Rows {
		p.Summary[r.Status]++
	}
	return failed
}
