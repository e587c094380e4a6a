// Package kafka is the one place that builds franz-go clients for the source and
// target clusters from the configuration: seeds, client id, TLS, SASL (PLAIN, SCRAM,
// AWS MSK IAM, OAUTHBEARER), logging through log/slog with a cluster attribute, and
// a hook point for metrics. Every other package receives its clients from here, so
// connection behaviour is decided once.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/kmigrate/kmigrate/internal/config"
)

// Role says which side of the migration a cluster is on. It is the value of the
// "cluster" attribute in logs and metrics.
type Role string

// The two roles.
const (
	Source Role = "source"
	Target Role = "target"
)

// Builder builds clients. The zero value logs nothing and adds no hooks.
type Builder struct {
	// Logger receives franz-go's logs with cluster=<role>; nil discards them.
	Logger *slog.Logger
	// Hooks, when set, returns hooks (metrics, for example) for the one
	// long-lived client of role that InstrumentedClient builds.
	Hooks func(Role) []kgo.Hook
	// Fence, when set, fences every connection of the clients built for the
	// target (see Fence): the writer's clients. Readers use an unfenced
	// Builder.
	Fence *Fence
}

// Unfenced returns a copy of b that builds clients without the fence: for
// reads, which must go on (and fail on their own terms) after a lease lapsed.
func (b *Builder) Unfenced() *Builder {
	c := *b
	c.Fence = nil
	return &c
}

// Options returns the franz-go options that reach cluster c as role: seeds, client
// id, timeouts, TLS, SASL, logger and hooks. Callers add their own (consume,
// produce) options after these.
func (b *Builder) Options(ctx context.Context, role Role, c config.Cluster) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.BootstrapServers...),
		kgo.ClientID(c.ClientID),
		kgo.RequestTimeoutOverhead(c.RequestTimeout.Duration),
		// kmigrate creates topics and produces to them at once; the default 5s
		// between metadata refreshes would stall the first write that long.
		kgo.MetadataMinAge(250 * time.Millisecond),
	}
	if b.Logger != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(slog.New(quieter{b.Logger.Handler()}).With("cluster", string(role)))))
	}
	var tc *tls.Config
	if c.TLS != nil {
		var err error
		if tc, err = tlsConfig(c.TLS); err != nil {
			return nil, fmt.Errorf("%s cluster tls: %w", role, err)
		}
	}
	switch {
	case b.Fence != nil && role == Target:
		opts = append(opts, kgo.Dialer(b.Fence.dialer(tc)))
	case tc != nil:
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL != nil {
		mech, err := mechanism(ctx, c.SASL)
		if err != nil {
			return nil, fmt.Errorf("%s cluster sasl %s: %w", role, c.SASL.Mechanism, err)
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// Client builds a client for cluster c as role, with extra options after the
// connection ones.
func (b *Builder) Client(ctx context.Context, role Role, c config.Cluster, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := b.Options(ctx, role, c)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("build %s client: %w", role, err)
	}
	return cl, nil
}

// InstrumentedClient is Client with the Builder's hooks: for the one long-lived
// client per role whose metrics are exported. Short-lived clients (a read at
// start, a state load) use Client, so that metric series do not come and go.
//
// The long-lived clients also retry a connection closed before its first
// answer. franz-go takes that for a TLS or SASL mismatch and fails the request,
// and a failed produce stops its partition; but it is also what a proxy or load
// balancer in front of the brokers does while its backend is down or the link
// behind it is cut, a fault that heals. A real mismatch still fails, once the
// retry timeout has passed, with the same hint.
func (b *Builder) InstrumentedClient(ctx context.Context, role Role, c config.Cluster, extra ...kgo.Opt) (*kgo.Client, error) {
	extra = append([]kgo.Opt{kgo.AlwaysRetryEOF()}, extra...)
	if b.Hooks != nil {
		if hooks := b.Hooks(role); len(hooks) > 0 {
			extra = append(extra, kgo.WithHooks(hooks...))
		}
	}
	return b.Client(ctx, role, c, extra...)
}

// Ping checks that the cluster answers an authenticated metadata request, and turns
// a failure into an error naming the cluster, its seeds and the SASL mechanism
// (never a secret), with a hint where the Kafka error suggests one.
//
// While the cluster does not answer, it says so in the client's log after a
// few seconds, with what a probe of the first seed found (a TLS listener
// reached in plaintext, or the reverse, or a port that does not speak Kafka).
func Ping(ctx context.Context, role Role, c config.Cluster, cl *kgo.Client) error {
	return ping(ctx, role, c, cl, func(ctx context.Context) error {
		_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		return err
	})
}

// DescribeError wraps a connection-level error with where it happened and a hint.
func DescribeError(role Role, c config.Cluster, err error) error {
	return describe(role, c, err, "")
}

// describe is DescribeError with a hint found by probing, used when the error
// itself suggests none.
func describe(role Role, c config.Cluster, err error, probed string) error {
	msg := fmt.Sprintf("connect to %s cluster %s (%s)", role, strings.Join(c.BootstrapServers, ","), protocol(c))
	hint := Hint(err)
	if hint == "" || (probed != "" && isTimeout(err)) {
		hint = probed
	}
	if hint != "" {
		return fmt.Errorf("%s: %w (%s)", msg, err, hint)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// Hint turns common Kafka errors into advice a user can act on; "" when none fits.
func Hint(err error) string {
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return "check the username and password or token, and that the user exists for this mechanism"
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return "the listener does not offer this SASL mechanism; check the port and sasl.mechanism"
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return "the principal lacks an ACL on the topic"
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return "the principal lacks an ACL on the consumer group"
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return "the principal lacks a cluster ACL for this operation"
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "certificate signed by unknown authority"), strings.Contains(s, "x509:"):
		return "the broker certificate is not trusted: check tls.ca_file and tls.server_name"
	case strings.Contains(s, "first record does not look like a TLS handshake"), strings.Contains(s, "tls: "):
		return "TLS handshake failed: is this a TLS listener, and is tls set on the right cluster?"
	case strings.Contains(s, "connection refused"):
		return "nothing listens there: check bootstrap_servers"
	case strings.Contains(s, "EOF") || strings.Contains(s, "connection reset"):
		return "the broker closed the connection: often a security protocol mismatch (TLS or SASL on one side only)"
	}
	return ""
}

// quieter lowers franz-go's info messages (connections, metadata refreshes) to
// debug so that kmigrate's own info logs stay readable; warnings and errors keep
// their level.
type quieter struct{ slog.Handler }

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	return q.Handler.Enabled(ctx, shift(l))
}

func (q quieter) Handle(ctx context.Context, r slog.Record) error {
	r.Level = shift(r.Level)
	return q.Handler.Handle(ctx, r)
}

func (q quieter) WithAttrs(as []slog.Attr) slog.Handler { return quieter{q.Handler.WithAttrs(as)} }
func (q quieter) WithGroup(g string) slog.Handler       { return quieter{q.Handler.WithGroup(g)} }

func shift(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

// Identity is who a cluster is, from its metadata.
type Identity struct {
	// ClusterID is the cluster's id (KRaft: the metadata log's cluster id).
	ClusterID string `json:"cluster_id"`
	// Brokers is the number of brokers; Controller the active controller's id
	// as the brokers report it.
	Brokers    int   `json:"brokers"`
	Controller int32 `json:"controller"`
	// Version is the Kafka version the first broker answers like, guessed
	// from its API versions ("v4.1"); empty when unknown.
	Version string `json:"version,omitempty"`
}

// Identify is Ping that also returns the cluster's identity.
func Identify(ctx context.Context, role Role, c config.Cluster, cl *kgo.Client) (Identity, error) {
	var m kadm.Metadata
	err := ping(ctx, role, c, cl, func(ctx context.Context) error {
		var err error
		m, err = kadm.NewClient(cl).BrokerMetadata(ctx)
		return err
	})
	if err != nil {
		return Identity{}, err
	}
	id := Identity{ClusterID: m.Cluster, Brokers: len(m.Brokers), Controller: m.Controller}
	if vs, err := kadm.NewClient(cl).ApiVersions(ctx); err == nil {
		id.Version = versionGuess(vs)
	}
	return id, nil
}

// versionGuess returns the Kafka version the first broker that answered
// answers like; empty when none did. A broker whose request failed has no
// versions to guess from.
func versionGuess(vs kadm.BrokersApiVersions) string {
	var guess string
	vs.Each(func(v kadm.BrokerApiVersions) {
		if v.Err != nil || guess != "" {
			return
		}
		guess = v.VersionGuess()
	})
	return guess
}

// Brokers is Ping that also returns the number of brokers in the cluster.
func Brokers(ctx context.Context, role Role, c config.Cluster, cl *kgo.Client) (int, error) {
	id, err := Identify(ctx, role, c, cl)
	return id.Brokers, err
}
