package schemas

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
)

func TestWireID(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		id   int32
		ok   bool
	}{
		{"framed", AppendWire(nil, 258, []byte("payload")), 258, true},
		{"header only", []byte{0, 0, 0, 0, 7}, 7, true},
		{"short", []byte{0, 0, 0, 1}, 0, false},
		{"nil", nil, 0, false},
		{"other magic", []byte{1, 0, 0, 0, 7}, 0, false},
		{"big id", []byte{0, 0x7f, 0xff, 0xff, 0xff}, 1<<31 - 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := WireID(tt.b)
			if id != tt.id || ok != tt.ok {
				t.Errorf("WireID(%x) = %d, %v; want %d, %v", tt.b, id, ok, tt.id, tt.ok)
			}
		})
	}
}

func FuzzWireID(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := WireID(b)
		if ok != (len(b) >= 5 && b[0] == 0) {
			t.Fatalf("ok = %v for %x", ok, b)
		}
		if ok {
			if got := AppendWire(nil, id, b[5:]); string(got) != string(b) {
				t.Fatalf("round trip of %x gave %x", b, got)
			}
		}
	})
}

func TestCanonical(t *testing.T) {
	a := &Schema{Text: `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`}
	b := &Schema{Type: "AVRO", Text: "{\n  \"name\": \"R\",\n  \"type\": \"record\",\n  \"fields\": [ {\"type\": \"int\", \"name\": \"a\"} ]\n}"}
	if !a.Same(b) {
		t.Errorf("key order and whitespace must not matter:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	c := &Schema{Text: `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`}
	if a.Same(c) {
		t.Error("a different field type must differ")
	}
	if a.Same(&Schema{Type: TypeJSON, Text: a.Text}) {
		t.Error("a different schema type must differ")
	}
	r1 := &Schema{Text: a.Text, References: []Reference{{"x", "s1", 1}, {"y", "s2", 1}}}
	r2 := &Schema{Text: a.Text, References: []Reference{{"y", "s2", 1}, {"x", "s1", 1}}}
	r3 := &Schema{Text: a.Text, References: []Reference{{"y", "s2", 2}, {"x", "s1", 1}}}
	if !r1.Same(r2) || r1.Same(r3) || r1.Same(a) {
		t.Error("references: order must not matter, versions must")
	}
	p1 := &Schema{Type: TypeProtobuf, Text: "syntax = \"proto3\";\nmessage M {\n  int32 a = 1;\n}\n"}
	p2 := &Schema{Type: "protobuf", Text: "syntax = \"proto3\"; message M { int32 a = 1; }"}
	if !p1.Same(p2) {
		t.Errorf("protobuf whitespace must not matter:\n%s\n%s", p1.Canonical(), p2.Canonical())
	}
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == c.Fingerprint() || len(a.Fingerprint()) != 16 {
		t.Errorf("fingerprints: %s %s %s", a.Fingerprint(), b.Fingerprint(), c.Fingerprint())
	}
}

// topicRecords builds storage-topic records as a Confluent registry writes them.
func topicRecords(kv ...string) []*kgo.Record {
	var out []*kgo.Record
	for i := 0; i+1 < len(kv); i += 2 {
		r := &kgo.Record{Topic: "_schemas", Offset: int64(i / 2), Key: []byte(kv[i])}
		if kv[i+1] != "" {
			r.Value = []byte(kv[i+1])
		}
		out = append(out, r)
	}
	return out
}

func TestParseTopic(t *testing.T) {
	recs := topicRecords(
		`{"keytype":"NOOP","magic":0}`, `{}`,
		`{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"FULL"}`,
		`{"keytype":"SCHEMA","subject":"a-value","version":1,"magic":1}`, `{"subject":"a-value","version":1,"id":1,"schema":"\"string\"","deleted":false}`,
		`{"keytype":"SCHEMA","subject":"a-value","version":2,"magic":1}`, `{"subject":"a-value","version":2,"id":3,"schema":"\"int\"","deleted":false}`,
		`{"keytype":"SCHEMA","subject":"b-value","version":1,"magic":1}`, `{"subject":"b-value","version":1,"id":2,"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";","references":[{"name":"x.proto","subject":"x","version":1}],"deleted":false}`,
		`{"keytype":"CONFIG","subject":"b-value","magic":0}`, `{"compatibilityLevel":"NONE"}`,
		`{"keytype":"SCHEMA","subject":"a-value","version":1,"magic":1}`, `{"subject":"a-value","version":1,"id":1,"schema":"\"string\"","deleted":true}`,
		`{"keytype":"SCHEMA","subject":"c-value","version":1,"magic":1}`, `{"subject":"c-value","version":1,"id":4,"schema":"\"long\""}`,
		`{"keytype":"SCHEMA","subject":"c-value","version":1,"magic":1}`, ``,
		`{"keytype":"MODE","subject":null,"magic":0}`, `{"mode":"IMPORT"}`,
		`not json`, `whatever`,
	)
	s, err := ParseTopic(recs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Compatibility != "FULL" || s.SubjectCompatibility["b-value"] != "NONE" || s.Mode != "IMPORT" {
		t.Errorf("settings: %q %v %q", s.Compatibility, s.SubjectCompatibility, s.Mode)
	}
	if len(s.Versions) != 3 {
		t.Fatalf("%d versions, want 3 (the hard-deleted one gone): %+v", len(s.Versions), s.Versions)
	}
	if v := s.Get("a-value", 1); v == nil || !v.Deleted || v.ID != 1 {
		t.Errorf("a-value 1: %+v", v)
	}
	if v := s.Get("b-value", 1); v == nil || v.NormType() != TypeProtobuf || len(v.References) != 1 {
		t.Errorf("b-value 1: %+v", v)
	}
	sc, uses, err := s.Lookup(context.Background(), 3)
	if err != nil || sc == nil || sc.Text != `"int"` || len(uses) != 1 || uses[0] != (SubjectVersion{"a-value", 2}) {
		t.Errorf("lookup 3: %+v %v %v", sc, uses, err)
	}
	if sc, _, _ := s.Lookup(context.Background(), 4); sc != nil {
		t.Error("a hard-deleted schema must not resolve")
	}
	bad := topicRecords(`{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}`, `{"id":"x"}`)
	if _, err := ParseTopic(bad); err == nil || !strings.Contains(err.Error(), "subject a version 1") {
		t.Errorf("malformed value: %v", err)
	}
}

func ver(subject string, version int, id int32, text string, deleted bool, refs ...Reference) *Version {
	return &Version{Subject: subject, Version: version, ID: id, Schema: Schema{Text: text, References: refs}, Deleted: deleted}
}

func TestDiff(t *testing.T) {
	src := NewSnapshot([]*Version{
		ver("base", 1, 10, `"string"`, false),
		ver("orders", 1, 11, `{"type":"record","name":"O","fields":[{"name":"b","type":"B"}]}`, false, Reference{"B", "base", 1}),
		ver("orders", 2, 12, `"int"`, true),
		ver("old", 1, 5, `"bytes"`, false),
	}, "BACKWARD", map[string]string{"orders": "FULL"}, ModeReadWrite)
	// The reference is registered first although its id is higher than old's.
	src.Versions[0].ID = 20
	src.index()

	empty := NewSnapshot(nil, "BACKWARD", nil, ModeReadWrite)
	p := Diff(src, empty, false)
	var got []string
	for _, a := range p.Actions {
		got = append(got, a.Kind+" "+a.Subject+" "+a.Value)
	}
	want := []string{"set-mode  IMPORT", "register old ", "register base ", "register orders ", "set-compatibility orders FULL", "set-mode  READWRITE"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("actions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !p.OK() || p.SkippedDeleted != 1 || p.Registrations() != 3 {
		t.Errorf("plan: ok %v skipped %d registrations %d", p.OK(), p.SkippedDeleted, p.Registrations())
	}

	withDeleted := Diff(src, empty, true)
	last := withDeleted.Actions[len(withDeleted.Actions)-3]
	if withDeleted.Registrations() != 4 || last.Kind != ActionSoftDelete || last.Subject != "orders" || last.Version != 2 {
		t.Errorf("include_deleted: %+v", withDeleted.Actions)
	}

	// A target that holds everything: nothing to do.
	same := NewSnapshot([]*Version{
		ver("base", 1, 20, `"string"`, false),
		ver("orders", 1, 11, "{\"fields\":[{\"name\":\"b\",\"type\":\"B\"}], \"name\":\"O\",\"type\":\"record\"}", false, Reference{"B", "base", 1}),
		ver("old", 1, 5, `"bytes"`, false),
	}, "BACKWARD", map[string]string{"orders": "FULL"}, ModeReadWrite)
	if p := Diff(src, same, false); len(p.Actions) != 0 || p.Present != 3 || !p.OK() {
		t.Errorf("second run: %+v", p)
	}

	// Conflicts: the target's id 5 is another schema; orders/1 has another id.
	conflicting := NewSnapshot([]*Version{
		ver("other", 1, 5, `"double"`, false),
		ver("orders", 1, 99, `"int"`, false),
	}, "", nil, ModeImport)
	p = Diff(src, conflicting, false)
	if len(p.Conflicts) != 2 {
		t.Fatalf("conflicts: %+v", p.Conflicts)
	}
	for _, c := range p.Conflicts {
		t.Log(c.Message)
	}
	if c := p.Conflicts[0]; c.Subject != "old" || c.Version != 1 || c.ID != 5 || !strings.Contains(c.Message, "subject old version 1 (id 5)") || !strings.Contains(c.Message, "subject other version 1") {
		t.Errorf("id conflict: %+v", c)
	}
	if c := p.Conflicts[1]; c.Subject != "orders" || !strings.Contains(c.Message, "is schema id 99, not 11") {
		t.Errorf("version conflict: %+v", c)
	}
	if _, err := Apply(context.Background(), p, mustClient(t)); err == nil || !strings.Contains(err.Error(), "2 conflicts") {
		t.Errorf("Apply with conflicts: %v", err)
	}
}

func TestIDCheck(t *testing.T) {
	src := NewSnapshot([]*Version{ver("a", 1, 1, `"string"`, false), ver("a", 2, 2, `"int"`, false), ver("b", 1, 3, `"long"`, false)}, "", nil, "")
	tgt := NewSnapshot([]*Version{ver("a", 1, 1, ` "string" `, false), ver("x", 1, 2, `"bytes"`, false)}, "", nil, "")
	c := NewIDCheck()
	c.Add("t", 0, 0, nil, AppendWire(nil, 1, []byte("x")))
	c.Add("t", 0, 1, AppendWire(nil, 1, nil), AppendWire(nil, 2, []byte("y")))
	c.Add("t", 1, 7, nil, AppendWire(nil, 3, []byte("z")))
	c.Add("t", 1, 8, nil, []byte("plain text"))
	c.Add("t", 1, 9, nil, []byte{0, 0, 0, 0x30, 0x39, 1}) // id 12345: nobody's
	rep, err := c.Check(context.Background(), src, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 5 || rep.Framed != 4 || rep.IDs != 4 || rep.Checked != 3 || rep.UnknownCount != 1 || rep.Failed != 2 || rep.Pass() {
		t.Fatalf("report: %+v", rep)
	}
	d, m := rep.Failures[0], rep.Failures[1]
	if d.ID != 2 || d.Kind != "differs" || !strings.Contains(d.Message, "subject a version 2 on the source") || !strings.Contains(d.Message, "subject x version 1 on the target") || d.Offset != 1 {
		t.Errorf("differs: %+v", d)
	}
	if m.ID != 3 || m.Kind != "missing" || m.Partition != 1 || m.Offset != 7 || !strings.Contains(m.Message, "subject b version 1") {
		t.Errorf("missing: %+v", m)
	}
	t.Log(d.Message)
	t.Log(m.Message)
}

func mustClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient("target", config.Registry{URL: "http://127.0.0.1:1"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// BenchmarkIDCheckAdd measures the per-record cost verify's schemas check adds
// to reading the target.
func BenchmarkIDCheckAdd(b *testing.B) {
	c := NewIDCheck()
	vals := make([][]byte, 64)
	for i := range vals {
		vals[i] = AppendWire(nil, int32(i), make([]byte, 200))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Add("t", 0, int64(i), nil, vals[i%len(vals)])
	}
}
