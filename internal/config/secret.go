package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// redacted is what a Secret prints instead of its value.
const redacted = "<redacted>"

// Secret is a configuration value that must never be shown: a password, a token, a
// key. Every way of printing it (fmt verbs, slog, JSON, YAML) gives "<redacted>";
// only Reveal returns the value, and only code that hands it to a SASL mechanism
// calls it.
type Secret struct {
	value string
}

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret holds a non-empty value.
func (s Secret) IsSet() bool { return s.value != "" }

// String implements fmt.Stringer without the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer so %#v hides the value too.
func (s Secret) GoString() string { return "config.Secret{" + s.String() + "}" }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler (JSON and YAML output).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Secret) UnmarshalText(b []byte) error {
	s.value = string(b)
	return nil
}

// ResolvePassword returns the SASL password, from Password or read from PasswordFile
// (one trailing newline trimmed).
func (s *SASL) ResolvePassword() (Secret, error) {
	return resolvePassword(s.Password, s.PasswordFile)
}

// ResolvePassword returns the basic-auth password, from Password or read from
// PasswordFile (one trailing newline trimmed).
func (b *BasicAuth) ResolvePassword() (Secret, error) {
	return resolvePassword(b.Password, b.PasswordFile)
}

func resolvePassword(password Secret, file string) (Secret, error) {
	if file == "" {
		return password, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return Secret{}, fmt.Errorf("read password file: %w", err)
	}
	return NewSecret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")), nil
}
