package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration file, at a position, about a key.
type Error struct {
	File string
	Line int
	Col  int
	// Key is the dotted path of the setting, for example "source.sasl.mechanism".
	Key string
	Msg string
}

// Error formats as file:line:col: key: message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

// Error lists every problem, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads, decodes strictly, defaults and validates the file at path. On failure
// the error is an Errors with every problem found.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b, os.LookupEnv)
}

// Parse is Load on bytes; file names the source in errors and lookupEnv resolves
// ${VAR} references (os.LookupEnv in production).
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	p := &parser{file: file, env: lookupEnv, pos: map[string]position{}, fromEnv: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{p.syntaxError(err)}
	}
	cfg := &Config{File: file}
	if len(doc.Content) == 0 {
		p.errorf(position{1, 1}, "", "the file is empty")
		return nil, p.errs
	}
	root := doc.Content[0]
	p.expandEnv(root, "")
	p.pos[""] = position{root.Line, root.Column}
	p.check(root, reflect.TypeOf(cfg).Elem(), "")
	// check blanked every value it rejected, so decoding goes on and validation
	// reports the remaining problems too, all at once.
	if err := root.Decode(cfg); err != nil {
		// check accepted the document, so this is a gap in check; say so plainly.
		p.errorf(position{root.Line, root.Column}, "", "decode: %v", err)
		return nil, p.errs
	}
	cfg.applyDefaults()
	cfg.validate(p)
	if len(p.errs) > 0 {
		return nil, p.sorted()
	}
	for _, role := range []struct {
		key string
		cl  *Cluster
	}{{"source", &cfg.Source}, {"target", &cfg.Target}} {
		s := role.cl.SASL
		if s == nil {
			continue
		}
		secrets := map[string]Secret{"sasl.password": s.Password}
		if s.AWS != nil {
			secrets["sasl.aws.secret_access_key"] = s.AWS.SecretAccessKey
			secrets["sasl.aws.session_token"] = s.AWS.SessionToken
		}
		for _, k := range []string{"sasl.password", "sasl.aws.secret_access_key", "sasl.aws.session_token"} {
			if v, ok := secrets[k]; ok && v.IsSet() && !p.fromEnv[role.key+"."+k] {
				cfg.InlineSecrets = append(cfg.InlineSecrets, role.key+"."+k)
			}
		}
	}
	return cfg, nil
}

type position struct{ line, col int }

// parser collects every error of one file together with the position of each key.
type parser struct {
	file string
	env  func(string) (string, bool)
	pos  map[string]position
	bad  map[string]bool // keys already reported
	errs Errors
	// fromEnv holds the keys whose values referenced the environment.
	fromEnv map[string]bool
}

func (p *parser) errorf(at position, key, format string, args ...any) {
	if p.bad == nil {
		p.bad = map[string]bool{}
	}
	p.bad[key] = true
	p.errs = append(p.errs, &Error{File: p.file, Line: at.line, Col: at.col, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// errorAt reports a validation problem about key, placed at the key if the file
// has it, else at its nearest parent that it has.
func (p *parser) errorAt(key, format string, args ...any) {
	for k := key; k != ""; k = parentKey(k) {
		if p.bad[k] {
			return // the value was rejected already; one error per problem
		}
	}
	p.errorf(p.position(key), key, format, args...)
}

func (p *parser) position(key string) position {
	for k := key; ; k = parentKey(k) {
		if at, ok := p.pos[k]; ok {
			return at
		}
		if k == "" {
			return position{1, 1}
		}
	}
}

func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

func (p *parser) sorted() Errors {
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return p.errs
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems the YAML library's parser (as opposed
// to its scanner) reports. It numbers their lines from 0 and the scanner's
// from 1, and leaves the line out when it is 0, so a parser problem is shown
// one line too early without this correction.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

func (p *parser) syntaxError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if yamlParserProblems[msg] {
		line++
	}
	if line == 0 {
		return &Error{File: p.file, Msg: "invalid YAML: " + msg}
	}
	return &Error{File: p.file, Line: line, Col: 1, Msg: "invalid YAML: " + msg}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar value. A reference
// to an unset variable without a default is an error naming the variable (never
// its value: values may be secrets).
func (p *parser) expandEnv(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		p.fromEnv[key] = true
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := p.env(m[1]); ok {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			p.errorf(position{n.Line, n.Column}, key, "environment variable %s is not set", m[1])
			return ""
		})
		// A value that came from the environment is a string whatever it looks like.
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.expandEnv(n.Content[i+1], join(key, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expandEnv(c, fmt.Sprintf("%s[%d]", key, i))
		}
	}
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

var (
	durationType = reflect.TypeOf(Duration{})
	secretType   = reflect.TypeOf(Secret{})
)

// check walks the document against the Go type it decodes into, recording where
// each key is and reporting unknown or repeated keys and values of the wrong kind,
// so that decoding afterwards cannot fail and every problem is reported at once.
func (p *parser) check(n *yaml.Node, t reflect.Type, key string) {
	at := position{n.Line, n.Column}
	if key != "" {
		if _, seen := p.pos[key]; !seen {
			p.pos[key] = at
		}
	}
	if n.Kind == yaml.AliasNode {
		p.check(n.Alias, t, key)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if !p.scalar(n, key, "a duration such as 5s or 1m") {
			return
		}
		if d, err := time.ParseDuration(n.Value); err != nil {
			p.reject(n, key, "%q is not a duration (examples: 500ms, 5s, 1m30s)", n.Value)
		} else if d < 0 {
			p.reject(n, key, "a duration must not be negative")
		}
		return
	case t == secretType:
		p.scalar(n, key, "a string")
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.reject(n, key, "expected a mapping of settings, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := join(key, k.Value)
			if seen[k.Value] {
				p.errorf(position{k.Line, k.Column}, name, "repeated key (first at line %d)", p.pos[name].line)
				continue
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				p.errorf(position{k.Line, k.Column}, name, "unknown key%s", suggest(k.Value, fields))
				continue
			}
			p.pos[name] = position{k.Line, k.Column}
			p.check(v, f.Type, name)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.reject(n, key, "expected a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := join(key, k.Value)
			p.pos[name] = position{k.Line, k.Column}
			p.check(v, t.Elem(), name)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.reject(n, key, "expected a list, got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			p.check(c, t.Elem(), fmt.Sprintf("%s[%d]", key, i))
		}
	case reflect.String:
		p.scalar(n, key, "a string")
	case reflect.Bool:
		if p.scalar(n, key, "true or false") && n.Tag != "!!bool" {
			p.reject(n, key, "expected true or false, got %q", n.Value)
		}
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Int64:
		if !p.scalar(n, key, "a whole number") {
			return
		}
		if _, err := strconv.ParseInt(n.Value, 0, t.Bits()); err != nil || n.Tag == "!!float" {
			p.reject(n, key, "expected a whole number that fits in %d bits, got %q", t.Bits(), n.Value)
		}
	}
}

// reject reports a value of the wrong kind and blanks it, so that decoding the rest
// of the document still works.
func (p *parser) reject(n *yaml.Node, key, format string, args ...any) {
	p.errorf(position{n.Line, n.Column}, key, format, args...)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func (p *parser) scalar(n *yaml.Node, key, want string) bool {
	if n.Kind != yaml.ScalarNode {
		p.reject(n, key, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		out[tag] = f
	}
	return out
}

// suggest names the closest known key, for typos.
func suggest(k string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// UnmarshalYAML implements yaml.Unmarshaler; check has validated the value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	s.value = n.Value
	return nil
}
