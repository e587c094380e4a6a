// Package quotas copies client quotas from the source cluster to the target:
// quotas of users, client ids and user+client-id pairs, defaults included
// (<default>). User names are renamed with the migration's principal mapping
// (config.ACLs, applied to "User:name"); client ids are kept. IP quotas are
// cluster-local (the target's clients connect from other addresses) and are not
// copied.
//
// Exact: the values are the brokers' and are copied as they are. A target quota
// no source quota produces is left alone.
package quotas

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
)

// PlanSchema is the schema version of a Plan's JSON form.
const PlanSchema = "kmigrate.quotas/v1"

// Row statuses.
const (
	StatusAdd     = "add"     // the target lacks the quota; Sync sets it
	StatusUpdate  = "update"  // the target has another value; Sync sets the source's
	StatusPresent = "present" // the target has the same value
	StatusSkipped = "skipped" // not copied (the reason says why)
	StatusExtra   = "extra"   // on the target only; left alone
	StatusSet     = "set"     // set by Sync
	StatusFailed  = "failed"  // Sync could not set it
)

// Quota is one quota value of one entity.
type Quota struct {
	// Entity is the entity as Kafka prints it, for example
	// "user=alice,client-id=<default>".
	Entity string `json:"entity"`
	// Key is the quota, for example producer_byte_rate.
	Key string `json:"key"`
	// Value is the quota's value.
	Value float64 `json:"value"`

	components kadm.ClientQuotaEntity
}

// Row is one quota of the plan.
type Row struct {
	// Status is one of the Status constants.
	Status string `json:"status"`
	// Reason says why, in a sentence.
	Reason string `json:"reason"`
	// Source is the source quota; nil for extra rows.
	Source *Quota `json:"source,omitempty"`
	// Target is the quota on the target as Sync sets it (or as it is, for
	// present and extra rows); nil for skipped rows.
	Target *Quota `json:"target,omitempty"`
	// TargetValue is the target's current value for update rows.
	TargetValue *float64 `json:"target_value,omitempty"`
	// Error is set when Status is failed.
	Error string `json:"error,omitempty"`
}

// Plan is what Sync does to the target's client quotas.
type Plan struct {
	// Schema is PlanSchema.
	Schema string `json:"schema"`
	// Migration names the migration.
	Migration string `json:"migration"`
	// Rows has one row per source quota value, then one per extra target one.
	Rows []Row `json:"quotas"`
	// Summary counts the rows by status.
	Summary map[string]int `json:"summary"`
}

// Describe lists every client quota of the cluster cl reaches, sorted by
// entity and key.
func Describe(ctx context.Context, cl *kgo.Client) ([]Quota, error) {
	qs, err := kadm.NewClient(cl).DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		return nil, fmt.Errorf("describe client quotas: %w", err)
	}
	out := []Quota{}
	for _, q := range qs {
		ent := sortedEntity(q.Entity)
		for _, v := range q.Values {
			out = append(out, Quota{Entity: entityString(ent), Key: v.Key, Value: v.Value, components: ent})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entity != out[j].Entity {
			return out[i].Entity < out[j].Entity
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// MakePlan reads both sides' client quotas and computes the plan.
func MakePlan(ctx context.Context, cfg *config.Config, src, tgt *kgo.Client) (*Plan, error) {
	s, err := Describe(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("read source quotas: %w", err)
	}
	t, err := Describe(ctx, tgt)
	if err != nil {
		return nil, fmt.Errorf("read target quotas: %w", err)
	}
	return Map(cfg, s, t), nil
}

// Map computes the plan from both sides' quotas.
func Map(cfg *config.Config, src, tgt []Quota) *Plan {
	p := &Plan{Schema: PlanSchema, Migration: cfg.Migration, Rows: []Row{}, Summary: map[string]int{}}
	onTarget := map[string]Quota{}
	for _, q := range tgt {
		onTarget[q.Entity+"\x00"+q.Key] = q
	}
	produced := map[string]bool{}
	for _, q := range src {
		q := q
		ent, why := mapEntity(cfg, q.components)
		if why != "" {
			p.Rows = append(p.Rows, Row{Status: StatusSkipped, Reason: why, Source: &q})
			continue
		}
		t := Quota{Entity: entityString(ent), Key: q.Key, Value: q.Value, components: ent}
		k := t.Entity + "\x00" + t.Key
		produced[k] = true
		r := Row{Status: StatusAdd, Reason: "copied from the source", Source: &q, Target: &t}
		if cur, ok := onTarget[k]; ok {
			if cur.Value == t.Value {
				r.Status, r.Reason = StatusPresent, "the target has the same value"
			} else {
				v := cur.Value
				r.Status, r.Reason, r.TargetValue = StatusUpdate, "the target has another value; the source's is set", &v
			}
		}
		p.Rows = append(p.Rows, r)
	}
	for _, q := range tgt {
		if !produced[q.Entity+"\x00"+q.Key] {
			q := q
			p.Rows = append(p.Rows, Row{Status: StatusExtra, Reason: "on the target only; left alone", Target: &q})
		}
	}
	p.count()
	return p
}

func (p *Plan) count() {
	p.Summary = map[string]int{}
	for _, r := range p.Rows {
		p.Summary[r.Status]++
	}
}

// mapEntity renames the user of an entity through the principal mapping.
func mapEntity(cfg *config.Config, ent kadm.ClientQuotaEntity) (kadm.ClientQuotaEntity, string) {
	out := make(kadm.ClientQuotaEntity, 0, len(ent))
	for _, c := range ent {
		switch c.Type {
		case "user":
			if c.Name == nil {
				out = append(out, c)
				continue
			}
			principal, _ := cfg.ACLs.MapPrincipal("User:" + *c.Name)
			name, ok := strings.CutPrefix(principal, "User:")
			if !ok || name == "" {
				return nil, fmt.Sprintf("user %s maps to principal %s, which is not a user", *c.Name, principal)
			}
			out = append(out, kadm.ClientQuotaEntityComponent{Type: "user", Name: &name})
		case "client-id":
			out = append(out, c)
		default:
			return nil, fmt.Sprintf("%s quotas belong to the source's network and are not copied", c.Type)
		}
	}
	return out, ""
}

// Sync sets the plan's add and update rows on the target and records each
// outcome in its row. It returns the number of failures.
func Sync(ctx context.Context, tgt *kgo.Client, p *Plan) int {
	byEntity := map[string][]int{}
	var order []string
	for i, r := range p.Rows {
		if r.Status != StatusAdd && r.Status != StatusUpdate {
			continue
		}
		if _, ok := byEntity[r.Target.Entity]; !ok {
			order = append(order, r.Target.Entity)
		}
		byEntity[r.Target.Entity] = append(byEntity[r.Target.Entity], i)
	}
	if len(order) == 0 {
		return 0
	}
	var entries []kadm.AlterClientQuotaEntry
	for _, e := range order {
		idx := byEntity[e]
		entry := kadm.AlterClientQuotaEntry{Entity: p.Rows[idx[0]].Target.components}
		for _, i := range idx {
			entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: p.Rows[i].Target.Key, Value: p.Rows[i].Target.Value})
		}
		entries = append(entries, entry)
	}
	results, err := kadm.NewClient(tgt).AlterClientQuotas(ctx, entries)
	errs := map[string]error{}
	for _, res := range results {
		if res.Err != nil {
			e := res.Err
			if res.ErrMessage != "" {
				e = fmt.Errorf("%w: %s", res.Err, res.ErrMessage)
			}
			errs[entityString(sortedEntity(res.Entity))] = e
		}
	}
	failed := 0
	for _, e := range order {
		for _, i := range byEntity[e] {
			r := &p.Rows[i]
			rerr := err
			if rerr == nil {
				rerr = errs[e]
			}
			if rerr != nil {
				r.Status, r.Error = StatusFailed, fmt.Sprintf("set quota %s of %s: %v", r.Target.Key, e, rerr)
				failed++
			} else {
				r.Status = StatusSet
			}
		}
	}
	p.count()
	return failed
}

func sortedEntity(e kadm.ClientQuotaEntity) kadm.ClientQuotaEntity {
	out := append(kadm.ClientQuotaEntity(nil), e...)
	sort.Slice(out, func(i, j int) bool { return out[i].Type > out[j].Type }) // user before client-id
	return out
}

func entityString(e kadm.ClientQuotaEntity) string {
	parts := make([]string, len(e))
	for i, c := range e {
		name := "<default>"
		if c.Name != nil {
			name = *c.Name
		}
		parts[i] = c.Type + "=" + name
	}
	return strings.Join(parts, ",")
}

// FormatValue prints a quota value without a needless fraction.
func FormatValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
