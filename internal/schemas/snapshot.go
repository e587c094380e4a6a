package schemas

import (
	"context"
	"fmt"
	"sort"
)

// Version is one version of a subject: the schema it names and its id.
type Version struct {
	// Subject and Version locate it.
	Subject string `json:"subject"`
	// Version is the subject's version number, from 1.
	Version int `json:"version"`
	// ID is the registry-wide schema id that records carry.
	ID int32 `json:"id"`
	// Schema is the content.
	Schema
	// Deleted is set for a soft-deleted version: still resolvable by id, no
	// longer listed.
	Deleted bool `json:"deleted,omitempty"`
}

// String names the version as subject/version (id N).
func (v *Version) String() string {
	return fmt.Sprintf("subject %s version %d (id %d)", v.Subject, v.Version, v.ID)
}

// SubjectVersion locates a version.
type SubjectVersion struct {
	// Subject is the subject's name.
	Subject string `json:"subject"`
	// Version is its version number.
	Version int `json:"version"`
}

// Snapshot is what a registry holds: every version it lists (soft-deleted ones
// too, marked), the global compatibility level, per-subject levels and the
// global mode.
type Snapshot struct {
	// Versions are sorted by subject, then version.
	Versions []*Version
	// Compatibility is the global compatibility level; empty when unknown.
	Compatibility string
	// SubjectCompatibility holds the subjects that set their own level.
	SubjectCompatibility map[string]string
	// Mode is the global mode (READWRITE, READONLY, IMPORT); empty when
	// unknown.
	Mode string

	bySV map[SubjectVersion]*Version
	byID map[int32][]*Version
}

// index sorts the versions and builds the lookups; every constructor calls it.
func (s *Snapshot) index() {
	sort.Slice(s.Versions, func(i, j int) bool {
		a, b := s.Versions[i], s.Versions[j]
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		return a.Version < b.Version
	})
	s.bySV = map[SubjectVersion]*Version{}
	s.byID = map[int32][]*Version{}
	for _, v := range s.Versions {
		s.bySV[SubjectVersion{v.Subject, v.Version}] = v
		s.byID[v.ID] = append(s.byID[v.ID], v)
	}
	if s.SubjectCompatibility == nil {
		s.SubjectCompatibility = map[string]string{}
	}
}

// Get returns the version subject/version, or nil.
func (s *Snapshot) Get(subject string, version int) *Version {
	return s.bySV[SubjectVersion{subject, version}]
}

// ByID returns the versions that name schema id, live ones first.
func (s *Snapshot) ByID(id int32) []*Version {
	out := append([]*Version(nil), s.byID[id]...)
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Deleted && out[j].Deleted })
	return out
}

// Lookup implements Resolver.
func (s *Snapshot) Lookup(_ context.Context, id int32) (*Schema, []SubjectVersion, error) {
	vs := s.ByID(id)
	if len(vs) == 0 {
		return nil, nil, nil
	}
	uses := make([]SubjectVersion, len(vs))
	for i, v := range vs {
		uses[i] = SubjectVersion{v.Subject, v.Version}
	}
	sc := vs[0].Schema
	return &sc, uses, nil
}

// Resolver resolves schema ids: a registry's REST API or a Snapshot.
type Resolver interface {
	// Lookup returns the schema of id and the subject versions that use it; a
	// nil schema and no error when the registry does not know the id.
	Lookup(ctx context.Context, id int32) (*Schema, []SubjectVersion, error)
}

// NewSnapshot builds a Snapshot from versions and settings, for code that reads
// a registry some other way (and for tests).
func NewSnapshot(versions []*Version, compatibility string, subjectCompatibility map[string]string, mode string) *Snapshot {
	s := &Snapshot{Versions: versions, Compatibility: compatibility, SubjectCompatibility: subjectCompatibility, Mode: mode}
	s.index()
	return s
}
