package kafkatest

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms accepted by the SASL listener.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// Mechanism returns the franz-go SASL mechanism mech (MechPlain, MechScramSHA256,
// MechScramSHA512) for user and password.
func Mechanism(mech, user, password string) (sasl.Mechanism, error) {
	switch mech {
	case MechPlain:
		return plain.Auth{User: user, Pass: password}.AsMechanism(), nil
	case MechScramSHA256:
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism(), nil
	case MechScramSHA512:
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("choose sasl mechanism: unknown mechanism %q", mech)
}

// Opts returns the franz-go options that reach the cluster on listener
// (ListenerPlaintext, ListenerSASL or ListenerSSL): seed brokers, plus, on the SASL
// listener, user's credentials with mechanism mech, and on the SSL listener a TLS
// configuration that trusts the cluster's CA. user and mech are ignored elsewhere.
func (c *Cluster) Opts(listener, user, mech string) ([]kgo.Opt, error) {
	return c.listenerOpts(listener, user, mech)
}

func (c *Cluster) listenerOpts(listener, user, mech string) ([]kgo.Opt, error) {
	switch listener {
	case ListenerPlaintext:
		return []kgo.Opt{kgo.SeedBrokers(c.Bootstrap...)}, nil
	case ListenerSASL:
		if !c.Options.SASL {
			return nil, fmt.Errorf("client options of cluster %s: no sasl listener", c.Name)
		}
		pw, ok := c.Users[user]
		if !ok {
			return nil, fmt.Errorf("client options of cluster %s: no user %q", c.Name, user)
		}
		m, err := Mechanism(mech, user, pw)
		if err != nil {
			return nil, fmt.Errorf("client options of cluster %s: %w", c.Name, err)
		}
		return []kgo.Opt{kgo.SeedBrokers(c.SASLBootstrap...), kgo.SASL(m)}, nil
	case ListenerSSL:
		tc, err := c.TLSConfig()
		if err != nil {
			return nil, err
		}
		return []kgo.Opt{kgo.SeedBrokers(c.TLSBootstrap...), kgo.DialTLSConfig(tc)}, nil
	}
	return nil, fmt.Errorf("client options of cluster %s: unknown listener %q", c.Name, listener)
}

// Client returns a client on the PLAINTEXT listener with opts added, closed when
// the test ends. With the authorizer on, its principal is User:ANONYMOUS, which may
// do nothing but list brokers until ACLs allow it: use ClientAs for a user.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return c.newClient(t, ListenerPlaintext, "", "", opts)
}

// ClientAs returns a client on the SASL listener logged in as user with
// SCRAM-SHA-512, with opts added, closed when the test ends.
func (c *Cluster) ClientAs(t testing.TB, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return c.newClient(t, ListenerSASL, user, MechScramSHA512, opts)
}

// Admin returns an admin client with every right: on the PLAINTEXT listener, or as
// the super user "admin" on the SASL listener when the authorizer is on. It is
// closed when the test ends.
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.adminClient(t))
}

// adminClient is the client behind Admin.
func (c *Cluster) adminClient(t testing.TB) *kgo.Client {
	t.Helper()
	if c.Options.Authorizer {
		return c.ClientAs(t, "admin")
	}
	return c.Client(t)
}

func (c *Cluster) newClient(t testing.TB, listener, user, mech string, extra []kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := c.listenerOpts(listener, user, mech)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatalf("create client of cluster %s: %v", c.Name, err)
	}
	t.Cleanup(cl.Close)
	return cl
}
