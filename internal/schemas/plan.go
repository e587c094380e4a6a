package schemas

import (
	"context"
	"fmt"
	"sort"
)

// Kinds of plan actions.
const (
	// ActionSetMode sets the target's global mode (IMPORT before
	// registrations, back afterwards).
	ActionSetMode = "set-mode"
	// ActionRegister registers a version with its id and version kept.
	ActionRegister = "register"
	// ActionSoftDelete soft-deletes a version on the target, as on the source.
	ActionSoftDelete = "soft-delete"
	// ActionSetCompatibility sets a compatibility level (global or subject).
	ActionSetCompatibility = "set-compatibility"
)

// Modes of a registry.
const (
	ModeImport    = "IMPORT"
	ModeReadWrite = "READWRITE"
)

// Action is one change a sync makes on the target.
type Action struct {
	// Kind is one of the Action* constants.
	Kind string `json:"kind"`
	// Subject is the subject concerned; empty for a global setting.
	Subject string `json:"subject,omitempty"`
	// Version and ID locate a registered or deleted version.
	Version int `json:"version,omitempty"`
	// ID is the schema id kept.
	ID int32 `json:"id,omitempty"`
	// Value is the mode or compatibility level set.
	Value string `json:"value,omitempty"`
	// Message says what and why, in one line.
	Message string `json:"message"`

	version *Version
}

// Conflict is something on the target that a sync must not overwrite: an id or
// a subject version bound to a different schema.
type Conflict struct {
	// Subject, Version and ID are the source version in conflict.
	Subject string `json:"subject"`
	// Version is the source version number.
	Version int `json:"version"`
	// ID is the source schema id.
	ID int32 `json:"id"`
	// Message says what the target holds instead.
	Message string `json:"message"`
}

// Plan is what a sync would do: the changes in order and the conflicts that
// stop it.
type Plan struct {
	// Versions counts the source versions considered (soft-deleted ones only
	// with include_deleted).
	Versions int `json:"versions"`
	// Present counts those already on the target with the same id and schema.
	Present int `json:"present"`
	// SkippedDeleted counts the soft-deleted source versions left out.
	SkippedDeleted int `json:"skipped_deleted"`
	// Actions are the changes, in the order Apply makes them.
	Actions []Action `json:"actions"`
	// Conflicts stop the sync; a plan with any is not applied.
	Conflicts []Conflict `json:"conflicts"`
	// Notes say what is left as it is, and why.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether the plan has no conflict.
func (p *Plan) OK() bool { return len(p.Conflicts) == 0 }

// Registrations counts the register actions.
func (p *Plan) Registrations() int {
	n := 0
	for _, a := range p.Actions {
		if a.Kind == ActionRegister {
			n++
		}
	}
	return n
}

// Diff compares a source and a target registry and returns the plan that makes
// the target hold every source version with its id and version, the source's
// soft deletions (with includeDeleted), and its compatibility levels.
func Diff(src, tgt *Snapshot, includeDeleted bool) *Plan {
	p := &Plan{Actions: []Action{}, Conflicts: []Conflict{}}
	var register []*Version
	var deletes []Action
	for _, v := range src.Versions {
		if v.Deleted && !includeDeleted {
			p.SkippedDeleted++
			continue
		}
		p.Versions++
		if tv := tgt.Get(v.Subject, v.Version); tv != nil {
			switch {
			case tv.ID != v.ID:
				p.conflict(v, "the target's subject %s version %d is schema id %d, not %d", v.Subject, v.Version, tv.ID, v.ID)
			case !tv.Same(&v.Schema):
				p.conflict(v, "the target's subject %s version %d has the same id %d but a different schema (fingerprint %s, source %s)", v.Subject, v.Version, v.ID, tv.Fingerprint(), v.Fingerprint())
			default:
				p.Present++
				if v.Deleted && !tv.Deleted {
					deletes = append(deletes, Action{Kind: ActionSoftDelete, Subject: v.Subject, Version: v.Version, ID: v.ID,
						Message: fmt.Sprintf("soft-delete %s, soft-deleted on the source", v)})
				}
			}
			continue
		}
		if others := tgt.ByID(v.ID); len(others) > 0 && !others[0].Same(&v.Schema) {
			o := others[0]
			p.conflict(v, "schema id %d on the target is subject %s version %d, a different schema (fingerprint %s, source %s)", v.ID, o.Subject, o.Version, o.Fingerprint(), v.Fingerprint())
			continue
		}
		register = append(register, v)
	}
	register = referencesFirst(register)
	if len(register) > 0 {
		p.Actions = append(p.Actions, Action{Kind: ActionSetMode, Value: ModeImport,
			Message: "set the target's global mode to IMPORT, so that ids and versions are kept"})
	}
	for _, v := range register {
		msg := fmt.Sprintf("register %s", v)
		if v.Deleted {
			msg += ", then soft-delete it as on the source"
		}
		p.Actions = append(p.Actions, Action{Kind: ActionRegister, Subject: v.Subject, Version: v.Version, ID: v.ID, Message: msg, version: v})
		if v.Deleted {
			deletes = append(deletes, Action{Kind: ActionSoftDelete, Subject: v.Subject, Version: v.Version, ID: v.ID,
				Message: fmt.Sprintf("soft-delete %s, soft-deleted on the source", v)})
		}
	}
	p.Actions = append(p.Actions, deletes...)
	if src.Compatibility != "" && src.Compatibility != tgt.Compatibility {
		p.Actions = append(p.Actions, Action{Kind: ActionSetCompatibility, Value: src.Compatibility,
			Message: fmt.Sprintf("set the global compatibility to %s (target: %s)", src.Compatibility, orNone(tgt.Compatibility))})
	}
	subjects := make([]string, 0, len(src.SubjectCompatibility))
	for s := range src.SubjectCompatibility {
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	for _, s := range subjects {
		if l := src.SubjectCompatibility[s]; l != tgt.SubjectCompatibility[s] {
			p.Actions = append(p.Actions, Action{Kind: ActionSetCompatibility, Subject: s, Value: l,
				Message: fmt.Sprintf("set the compatibility of subject %s to %s (target: %s)", s, l, orNone(tgt.SubjectCompatibility[s]))})
		}
	}
	switch after := modeAfter(tgt.Mode); {
	case len(register) > 0:
		p.Actions = append(p.Actions, Action{Kind: ActionSetMode, Value: after,
			Message: fmt.Sprintf("set the target's global mode back to %s", after)})
	case tgt.Mode == ModeImport:
		// An interrupted sync leaves IMPORT behind; producers cannot register
		// new schemas until the mode is READWRITE again.
		p.Actions = append(p.Actions, Action{Kind: ActionSetMode, Value: ModeReadWrite,
			Message: "set the target's global mode from IMPORT to READWRITE (an earlier sync stopped before it could)"})
	}
	return p
}

// modeAfter is the mode a sync leaves: the one it found, unless that was
// IMPORT (left by an interrupted sync, or set by hand for the import).
func modeAfter(found string) string {
	if found == "" || found == ModeImport {
		return ModeReadWrite
	}
	return found
}

func (p *Plan) conflict(v *Version, format string, args ...any) {
	p.Conflicts = append(p.Conflicts, Conflict{Subject: v.Subject, Version: v.Version, ID: v.ID,
		Message: fmt.Sprintf("%s: ", v) + fmt.Sprintf(format, args...)})
}

// referencesFirst orders versions by id, moving every version after the
// versions it references (when those are registered too), so that the target
// can resolve references at registration.
func referencesFirst(vs []*Version) []*Version {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].ID < vs[j].ID })
	in := map[SubjectVersion]*Version{}
	for _, v := range vs {
		in[SubjectVersion{v.Subject, v.Version}] = v
	}
	out := make([]*Version, 0, len(vs))
	state := map[*Version]int{} // 1 visiting, 2 done
	var visit func(v *Version)
	visit = func(v *Version) {
		if state[v] != 0 {
			return // done, or a cycle: the registry will say so
		}
		state[v] = 1
		for _, r := range v.References {
			if d := in[SubjectVersion{r.Subject, r.Version}]; d != nil {
				visit(d)
			}
		}
		state[v] = 2
		out = append(out, v)
	}
	for _, v := range vs {
		visit(v)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Apply carries out a plan on the target registry, in order, and returns the
// number of actions done. It refuses a plan with conflicts and stops at the
// first failed action; the mode set to IMPORT at the start is set back even
// then. Running Diff and Apply again resumes: what is there is checked and
// skipped.
func Apply(ctx context.Context, p *Plan, target *Client) (int, error) {
	if !p.OK() {
		return 0, fmt.Errorf("sync to %s schema registry %s: %d conflicts; resolve them first (kmigrate schemas plan lists them)", target.Name, target.URL(), len(p.Conflicts))
	}
	done := 0
	restore := ""
	for i, a := range p.Actions {
		var err error
		switch a.Kind {
		case ActionSetMode:
			err = target.SetMode(ctx, a.Value)
			if err == nil && a.Value == ModeImport {
				restore = lastModeAction(p.Actions[i+1:])
			} else if err == nil {
				restore = ""
			}
		case ActionRegister:
			err = target.Register(ctx, a.version)
		case ActionSoftDelete:
			err = target.SoftDelete(ctx, a.Subject, a.Version)
		case ActionSetCompatibility:
			err = target.SetCompatibility(ctx, a.Subject, a.Value)
		default:
			err = fmt.Errorf("unknown action %q", a.Kind)
		}
		if err != nil {
			if restore != "" {
				if rerr := target.SetMode(context.WithoutCancel(ctx), restore); rerr != nil {
					err = fmt.Errorf("%w (and setting the mode back failed: %v)", err, rerr)
				}
			}
			return done, err
		}
		done++
	}
	return done, nil
}

func lastModeAction(as []Action) string {
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Kind == ActionSetMode {
			return as[i].Value
		}
	}
	return ""
}
