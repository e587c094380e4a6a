package kafka

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/config"
)

func jwt(exp time.Time) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"kmigrate","exp":%d}`, exp.Unix()))) + ".sig"
}

func TestParseToken(t *testing.T) {
	exp := time.Unix(1900000000, 0)
	tests := []struct {
		name, in, tok string
		exp           time.Time
		wantErr       bool
	}{
		{"bare opaque", "abc123\n", "abc123", time.Time{}, false},
		{"bare jwt", jwt(exp), jwt(exp), exp, false},
		{"json jwt without expires_in", `{"access_token":"` + jwt(exp) + `"}`, jwt(exp), exp, false},
		{"empty", "  \n", "", time.Time{}, true},
		{"json without token", `{"expires_in":3}`, "", time.Time{}, true},
		{"broken json", `{"access_token":`, "", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, e, err := parseToken([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tok != tt.tok || !e.Equal(tt.exp) {
				t.Errorf("got (%q, %v), want (%q, %v)", tok, e, tt.tok, tt.exp)
			}
		})
	}
	tok, e, err := parseToken([]byte(`{"access_token":"opaque","expires_in":60}`))
	if err != nil || tok != "opaque" || time.Until(e) < 50*time.Second || time.Until(e) > 61*time.Second {
		t.Errorf("expires_in: got (%q, %v, %v)", tok, e, err)
	}
}

// TestTokenRefreshedBeforeExpiry drives a token source with a fake clock: the token
// is reused until RefreshBefore its expiry, then fetched again.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	start := time.Unix(1800000000, 0)
	now := start
	fetches := 0
	ts := newTokenSource(&config.OAuth{RefreshBefore: config.Duration{Duration: time.Minute}, RefreshInterval: config.Duration{Duration: 5 * time.Minute}})
	ts.now = func() time.Time { return now }
	ts.fetch = func(context.Context) ([]byte, error) {
		fetches++
		return []byte(jwt(now.Add(10 * time.Minute))), nil
	}
	ctx := context.Background()
	steps := []struct {
		at      time.Duration
		fetches int
	}{{0, 1}, {5 * time.Minute, 1}, {8*time.Minute + 59*time.Second, 1}, {9 * time.Minute, 2}, {10 * time.Minute, 2}, {18 * time.Minute, 3}}
	for _, s := range steps {
		now = start.Add(s.at)
		if _, err := ts.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if fetches != s.fetches {
			t.Errorf("at +%v: %d fetches, want %d", s.at, fetches, s.fetches)
		}
	}
}

func TestTokenFileAndCommand(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	if err := os.WriteFile(f, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := newTokenSource(&config.OAuth{TokenFile: f}).Token(ctx)
	if err != nil || got != "file-token" {
		t.Errorf("token file: %q, %v", got, err)
	}
	got, err = newTokenSource(&config.OAuth{TokenCommand: []string{"echo", `{"access_token":"cmd-token","expires_in":600}`}}).Token(ctx)
	if err != nil || got != "cmd-token" {
		t.Errorf("token command: %q, %v", got, err)
	}
	_, err = newTokenSource(&config.OAuth{TokenCommand: []string{"sh", "-c", "echo boom >&2; exit 3"}}).Token(ctx)
	if err == nil || err.Error() != "token_command sh: exit status 3: boom" {
		t.Errorf("failing command: %v", err)
	}
}
