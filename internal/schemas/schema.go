package schemas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Schema types as the registry names them; an empty type means Avro.
const (
	TypeAvro     = "AVRO"
	TypeJSON     = "JSON"
	TypeProtobuf = "PROTOBUF"
)

// Reference is a named pointer from one schema to a version of another subject
// (an Avro named type, a Protobuf import, a JSON $ref).
type Reference struct {
	// Name is how the referring schema names it.
	Name string `json:"name"`
	// Subject and Version locate the referenced schema.
	Subject string `json:"subject"`
	// Version is the referenced subject's version.
	Version int `json:"version"`
}

// Schema is a schema's content: what an id stands for.
type Schema struct {
	// Type is AVRO, JSON or PROTOBUF; empty means AVRO.
	Type string `json:"schemaType,omitempty"`
	// Text is the schema as the registry returns it.
	Text string `json:"schema"`
	// References are the schemas this one refers to.
	References []Reference `json:"references,omitempty"`
}

// NormType returns the schema type with Avro's empty default spelled out.
func (s *Schema) NormType() string {
	if s.Type == "" {
		return TypeAvro
	}
	return strings.ToUpper(s.Type)
}

// Canonical returns the form two schemas are compared in: the type, the text
// with insignificant differences removed, and the references sorted by name.
// JSON texts (Avro, JSON Schema) are re-encoded with sorted keys and no
// whitespace; a text that does not parse as JSON, and Protobuf, has every run
// of whitespace collapsed to one space.
func (s *Schema) Canonical() string {
	var b strings.Builder
	t := s.NormType()
	b.WriteString(t)
	b.WriteByte('\n')
	b.WriteString(canonicalText(t, s.Text))
	refs := append([]Reference(nil), s.References...)
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	for _, r := range refs {
		fmt.Fprintf(&b, "\nref %q %q %d", r.Name, r.Subject, r.Version)
	}
	return b.String()
}

// Fingerprint is a short SHA-256 of the canonical form, for reports.
func (s *Schema) Fingerprint() string {
	sum := sha256.Sum256([]byte(s.Canonical()))
	return hex.EncodeToString(sum[:8])
}

// Same reports whether two schemas have the same canonical form.
func (s *Schema) Same(o *Schema) bool { return s.Canonical() == o.Canonical() }

func canonicalText(typ, text string) string {
	if typ != TypeProtobuf {
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if enc.Encode(v) == nil { // map keys come out sorted
				return strings.TrimSuffix(buf.String(), "\n")
			}
		}
	}
	return strings.Join(strings.Fields(text), " ")
}
