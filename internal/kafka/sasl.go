package kafka

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kmigrate/kmigrate/internal/config"
)

// mechanism builds the SASL mechanism of s. Secrets are read here and handed to
// franz-go only; nothing here logs.
func mechanism(ctx context.Context, s *config.SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case config.MechanismPlain, config.MechanismScramSHA256, config.MechanismScramSHA512:
		// Read once now, so that a missing file fails the start, and again
		// for every new connection, so that a password rotated in its file
		// (a Kubernetes Secret updated in place) is used from the next
		// connection on, without a restart.
		if _, err := s.ResolvePassword(); err != nil {
			return nil, err
		}
		password := func() (string, error) {
			pw, err := s.ResolvePassword()
			if err != nil {
				return "", err
			}
			return pw.Reveal(), nil
		}
		switch s.Mechanism {
		case config.MechanismPlain:
			return plain.Plain(func(context.Context) (plain.Auth, error) {
				pw, err := password()
				return plain.Auth{User: s.Username, Pass: pw}, err
			}), nil
		case config.MechanismScramSHA256:
			return scram.Sha256(func(context.Context) (scram.Auth, error) {
				pw, err := password()
				return scram.Auth{User: s.Username, Pass: pw}, err
			}), nil
		default:
			return scram.Sha512(func(context.Context) (scram.Auth, error) {
				pw, err := password()
				return scram.Auth{User: s.Username, Pass: pw}, err
			}), nil
		}
	case config.MechanismAWSMSKIAM:
		return awsMechanism(ctx, s.AWS)
	case config.MechanismOAuthBearer:
		ts := newTokenSource(s.OAuth)
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			tok, err := ts.Token(ctx)
			if err != nil {
				return oauth.Auth{}, err
			}
			return oauth.Auth{Token: tok, Extensions: s.OAuth.Extensions}, nil
		}), nil
	}
	return nil, fmt.Errorf("unsupported mechanism %q", s.Mechanism)
}

// awsMechanism signs MSK IAM logins with credentials from static keys or the
// standard AWS chain (environment, shared files and profile, web identity, instance
// or container role). The chain's cache refreshes credentials before they expire;
// MSK makes the client re-authenticate when a session's lifetime ends.
func awsMechanism(ctx context.Context, a *config.AWSIAM) (sasl.Mechanism, error) {
	// franz-go derives the signing region from the broker host name, falling back
	// to AWS_REGION: set it for brokers behind custom DNS names.
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		os.Setenv("AWS_REGION", a.Region)
	}
	var provider aws.CredentialsProvider
	if a.AccessKeyID != "" {
		provider = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey.Reveal(), a.SessionToken.Reveal()))
	} else {
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(a.Region)}
		if a.Profile != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(a.Profile))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("load AWS credential chain: %w", err)
		}
		provider = cfg.Credentials
	}
	return saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
		c, err := provider.Retrieve(ctx)
		if err != nil {
			return saslaws.Auth{}, fmt.Errorf("retrieve AWS credentials: %w", err)
		}
		return saslaws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken, UserAgent: "kmigrate"}, nil
	}), nil
}

// tokenSource hands out an OAUTHBEARER token, fetching a new one from the file or
// command when the cached one is within RefreshBefore of its expiry (or, when the
// expiry is unknown, every RefreshInterval). Safe for concurrent use: franz-go
// authenticates connections in parallel.
type tokenSource struct {
	cfg *config.OAuth
	now func() time.Time
	// fetch returns the raw token output; replaced in tests.
	fetch func(ctx context.Context) ([]byte, error)

	mu      sync.Mutex
	token   string
	refresh time.Time
}

func newTokenSource(c *config.OAuth) *tokenSource {
	ts := &tokenSource{cfg: c, now: time.Now}
	ts.fetch = func(ctx context.Context) ([]byte, error) {
		if c.TokenFile != "" {
			b, err := os.ReadFile(c.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("read token_file: %w", err)
			}
			return b, nil
		}
		cmd := exec.CommandContext(ctx, c.TokenCommand[0], c.TokenCommand[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("token_command %s: %w: %s", c.TokenCommand[0], err, firstLine(stderr.String()))
		}
		return out, nil
	}
	return ts
}

// Token returns a valid token.
func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := ts.now()
	if ts.token != "" && now.Before(ts.refresh) {
		return ts.token, nil
	}
	out, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	tok, expiry, err := parseToken(out)
	if err != nil {
		return "", err
	}
	ts.token = tok
	if expiry.IsZero() {
		ts.refresh = now.Add(ts.cfg.RefreshInterval.Duration)
	} else {
		ts.refresh = expiry.Add(-ts.cfg.RefreshBefore.Duration)
	}
	return tok, nil
}

// parseToken accepts a bare token (a JWT's exp claim gives its expiry) or JSON
// with access_token and expires_in seconds, as OAuth token endpoints answer.
func parseToken(out []byte) (string, time.Time, error) {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return "", time.Time{}, errors.New("the token source produced an empty token")
	}
	if strings.HasPrefix(s, "{") {
		var resp struct {
			AccessToken string  `json:"access_token"`
			ExpiresIn   float64 `json:"expires_in"`
		}
		if err := json.Unmarshal([]byte(s), &resp); err != nil {
			return "", time.Time{}, errors.New("the token source printed JSON that is not {\"access_token\": ..., \"expires_in\": ...}")
		}
		if resp.AccessToken == "" {
			return "", time.Time{}, errors.New("the token source printed JSON without access_token")
		}
		var exp time.Time
		if resp.ExpiresIn > 0 {
			exp = time.Now().Add(time.Duration(resp.ExpiresIn * float64(time.Second)))
		} else {
			exp = jwtExpiry(resp.AccessToken)
		}
		return resp.AccessToken, exp, nil
	}
	return s, jwtExpiry(s), nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the broker
// verifies); zero when s is not a JWT or has no exp.
func jwtExpiry(s string) time.Time {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(claims.Exp), 0)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
