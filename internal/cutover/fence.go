package cutover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kmigrate/kmigrate/internal/acls"
	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
)

// everyone is the wildcard principal.
const everyone = "User:*"

// ownPrincipal is the principal kmigrate authenticates as on a cluster, when
// its configuration tells (a SASL user name); "" otherwise (mTLS, IAM, none).
func ownPrincipal(c config.Cluster) string {
	if c.SASL == nil || c.SASL.Username == "" {
		return ""
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		return "User:" + c.SASL.Username
	}
	return ""
}

// grantsWrite reports whether an ALLOW ACL lets its principal write topic.
func grantsWrite(a acls.ACL, topic string) bool {
	if a.Permission != acls.Allow || a.ResourceType != acls.Topic || (a.Operation != acls.OpWrite && a.Operation != acls.OpAll) {
		return false
	}
	switch a.PatternType {
	case acls.Literal:
		return a.ResourceName == topic || a.ResourceName == "*"
	case acls.Prefixed:
		return strings.HasPrefix(topic, a.ResourceName)
	}
	return false
}

// sourceFence computes the DENY WRITE ACLs that stop every principal that may
// write a selected source topic, except kmigrate's own: the principals of the
// ALLOW WRITE (or ALL) ACLs that cover it, and everyone (User:*) where the
// topic is open to everyone or no ACL names its writers (super users, or
// allow.everyone.if.no.acl.found). kmigrate never writes the source topics
// while copying forward, so a DENY for everyone costs it nothing.
func sourceFence(all []acls.ACL, topics []string, own string) (fence []acls.ACL, notes []string) {
	for _, topic := range topics {
		principals := map[string]bool{}
		for _, a := range all {
			if grantsWrite(a, topic) && a.Principal != own {
				principals[a.Principal] = true
			}
		}
		if len(principals) == 0 {
			principals[everyone] = true
			notes = append(notes, fmt.Sprintf("source topic %s: no ACL names its writers; DENY WRITE for %s (super users are not bound by ACLs: stop them by hand)", topic, everyone))
		}
		names := make([]string, 0, len(principals))
		for p := range principals {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			fence = append(fence, acls.ACL{Principal: p, Host: "*", ResourceType: acls.Topic, ResourceName: topic,
				PatternType: acls.Literal, Operation: acls.OpWrite, Permission: acls.Deny})
		}
	}
	return fence, notes
}

// fenceSource denies the source producers writes on the selected topics. The
// ACLs are recorded before they are created, so that an abort after a crash
// removes every one that may exist.
func (c *cutover) fenceSource(ctx context.Context, st *Step) error {
	all, err := acls.Describe(ctx, c.src)
	if err != nil {
		return fmt.Errorf("--fence-source: list the source ACLs: %w", err)
	}
	fence, notes := sourceFence(all, c.sourceNames(), ownPrincipal(c.cfg.Source))
	st.Details = append(st.Details, notes...)
	c.rec.SourceFence = fence
	if err := c.save(ctx); err != nil {
		return err
	}
	if err := join(acls.Create(ctx, c.src, fence)); err != nil {
		return fmt.Errorf("--fence-source: %w", err)
	}
	c.printf("      freeze: %d DENY WRITE ACLs added on the source", len(fence))
	st.Details = append(st.Details, fmt.Sprintf("%d DENY WRITE ACLs added on the source (removed again by --abort or a NO-GO)", len(fence)))
	return nil
}

// fenceTarget denies kmigrate's own principal writes on the target topics,
// where the target has an authorizer and kmigrate's principal is known. It
// returns notes for the report; a target without an authorizer relies on the
// seal alone.
func (c *cutover) fenceTarget(ctx context.Context) []string {
	own := ownPrincipal(c.cfg.Target)
	if own == "" {
		return []string{"no DENY WRITE for kmigrate on the target: its principal is not a SASL user name; the seal alone keeps kmigrate from writing"}
	}
	if _, err := acls.Describe(ctx, c.tgt); err != nil {
		if errors.Is(err, kerr.SecurityDisabled) {
			return []string{"no DENY WRITE for kmigrate on the target: the target has no authorizer; the seal alone keeps kmigrate from writing"}
		}
		return []string{fmt.Sprintf("no DENY WRITE for kmigrate on the target: listing ACLs failed (%v); the seal alone keeps kmigrate from writing", err)}
	}
	var fence []acls.ACL
	for _, topic := range c.sourceNames() {
		fence = append(fence, acls.ACL{Principal: own, Host: "*", ResourceType: acls.Topic, ResourceName: c.target(topic),
			PatternType: acls.Literal, Operation: acls.OpWrite, Permission: acls.Deny})
	}
	c.rec.TargetFence = fence
	if err := c.save(ctx); err != nil {
		return []string{err.Error()}
	}
	if err := join(acls.Create(ctx, c.tgt, fence)); err != nil {
		return []string{fmt.Sprintf("DENY WRITE for %s on the target topics failed: %v; the seal alone keeps kmigrate from writing", own, err)}
	}
	return []string{fmt.Sprintf("DENY WRITE for kmigrate's principal %s on %d target topics", own, len(fence))}
}

// Abort undoes a cutover: it removes the ACLs it added on both clusters and
// lifts the seal, so that `kmigrate run` copies forward again. It refuses after
// a GO once applications wrote to the target: their records would be lost to
// a forward copy; `run --reverse` is the way back then.
func Abort(ctx context.Context, cfg *config.Config, b *kafka.Builder, log *slog.Logger, opts Options) (*Record, error) {
	c, err := open(ctx, cfg, b, log, opts)
	if err != nil {
		return nil, err
	}
	defer c.close()
	_, rec, err := c.loadRecord(ctx)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("migration %s has no cutover to abort", cfg.Migration)
	}
	c.rec = rec
	if rec.Phase == PhaseGo {
		moved, err := c.targetMoved(ctx)
		if err != nil {
			return nil, err
		}
		if len(moved) > 0 {
			return nil, fmt.Errorf("cutover %s ended GO and applications wrote to the target since (%s): lifting the seal would make the forward copy refuse them as foreign; use `kmigrate run --reverse` to go back to the source",
				rec.ID, strings.Join(moved, "; "))
		}
	}
	if err := c.undo(ctx); err != nil {
		return rec, fmt.Errorf("abort cutover %s: %w", rec.ID, err)
	}
	rec.Phase = PhaseAborted
	rec.Reason = strings.TrimPrefix(rec.Reason+"; aborted by the operator", "; ")
	rec.Steps = append(rec.Steps, &Step{Name: "abort", Result: ResultPassed, Started: time.Now().UTC(),
		Summary: "source and target fences removed, seal lifted: start `kmigrate run` again to resume the copy"})
	if err := c.save(ctx); err != nil {
		return rec, err
	}
	return rec, nil
}

// targetMoved lists the target partitions that grew past the offsets recorded
// at the seal.
func (c *cutover) targetMoved(ctx context.Context) ([]string, error) {
	var names []string
	for t := range c.rec.TargetEnds {
		names = append(names, t)
	}
	if len(names) == 0 {
		return nil, nil
	}
	sort.Strings(names)
	te, err := c.tgtAdm.ListEndOffsets(ctx, names...)
	if err == nil {
		err = te.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list target end offsets: %w", err)
	}
	var out []string
	for _, t := range names {
		for p, sealed := range c.rec.TargetEnds[t] {
			if o, ok := te.Lookup(t, p); ok && o.Offset > sealed {
				out = append(out, fmt.Sprintf("%s[%d] ends at %d, sealed at %d", t, p, o.Offset, sealed))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
