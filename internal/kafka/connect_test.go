package kafka_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafka"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }

// TestLogins connects through the configuration, as `kmigrate` does, to a real
// cluster with SASL and TLS listeners: good credentials work; a bad one gives an
// error that names the cluster and the mechanism and never the secret.
func TestLogins(t *testing.T) {
	c := kafkatest.SharedT(t, kafkatest.Auth, kafkatest.Options{Topology: kafkatest.TopologySingle, SASL: true, TLS: true, Authorizer: true})
	pw := c.Users["alice"]
	otherCA, err := kafkatest.NewCA("not the cluster's CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCAFile := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(otherCAFile, otherCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const wrongPW = "not-the-password-7f3a"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cluster config.Cluster
		// want lists fragments of the error; empty means success.
		want   []string
		secret string
	}{
		{name: "plain good", cluster: config.Cluster{BootstrapServers: c.SASLBootstrap,
			SASL: &config.SASL{Mechanism: config.MechanismPlain, Username: "alice", Password: config.NewSecret(pw)}}},
		{name: "scram-sha-512 good", cluster: config.Cluster{BootstrapServers: c.SASLBootstrap,
			SASL: &config.SASL{Mechanism: config.MechanismScramSHA512, Username: "alice", Password: config.NewSecret(pw)}}},
		{name: "scram-sha-256 good", cluster: config.Cluster{BootstrapServers: c.SASLBootstrap,
			SASL: &config.SASL{Mechanism: config.MechanismScramSHA256, Username: "alice", Password: config.NewSecret(pw)}}},
		{name: "tls good", cluster: config.Cluster{BootstrapServers: c.TLSBootstrap, TLS: &config.TLS{CAFile: c.CAFile}}},
		{name: "plain bad password", secret: wrongPW,
			cluster: config.Cluster{BootstrapServers: c.SASLBootstrap, SASL: &config.SASL{Mechanism: config.MechanismPlain, Username: "alice", Password: config.NewSecret(wrongPW)}},
			want:    []string{"connect to target cluster", "SASL_PLAINTEXT PLAIN", "SASL_AUTHENTICATION_FAILED", "check the username and password"}},
		{name: "scram-sha-512 bad password", secret: wrongPW,
			cluster: config.Cluster{BootstrapServers: c.SASLBootstrap, SASL: &config.SASL{Mechanism: config.MechanismScramSHA512, Username: "alice", Password: config.NewSecret(wrongPW)}},
			want:    []string{"connect to target cluster", "SASL_PLAINTEXT SCRAM-SHA-512", "SASL_AUTHENTICATION_FAILED"}},
		{name: "scram-sha-512 unknown user", secret: pw,
			cluster: config.Cluster{BootstrapServers: c.SASLBootstrap, SASL: &config.SASL{Mechanism: config.MechanismScramSHA512, Username: "mallory", Password: config.NewSecret(pw)}},
			want:    []string{"connect to target cluster", "SCRAM-SHA-512", "SASL_AUTHENTICATION_FAILED"}},
		{name: "tls wrong ca", cluster: config.Cluster{BootstrapServers: c.TLSBootstrap, TLS: &config.TLS{CAFile: otherCAFile}},
			want: []string{"connect to target cluster", "(SSL)", "certificate", "check tls.ca_file"}},
		{name: "tls against a plaintext listener", cluster: config.Cluster{BootstrapServers: c.Bootstrap, TLS: &config.TLS{CAFile: c.CAFile}},
			want: []string{"connect to target cluster", "(SSL)", "a plaintext listener (remove tls"}},
		{name: "plaintext against a tls listener", cluster: config.Cluster{BootstrapServers: c.TLSBootstrap},
			want: []string{"connect to target cluster", "(PLAINTEXT)", "TLS"}},
		{name: "sasl mechanism the listener does not offer", secret: pw,
			cluster: config.Cluster{BootstrapServers: c.SASLBootstrap, SASL: &config.SASL{Mechanism: config.MechanismOAuthBearer, OAuth: &config.OAuth{TokenFile: tokenFile}}},
			want:    []string{"connect to target cluster", "SASL_PLAINTEXT OAUTHBEARER", "does not offer this SASL mechanism"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tt.cluster.ClientID = "kmigrate-test"
			tt.cluster.RequestTimeout.Duration = 5 * time.Second
			var b kafka.Builder
			cl, err := b.Client(ctx, kafka.Target, tt.cluster)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			n, err := kafka.Brokers(ctx, kafka.Target, tt.cluster, cl)
			if len(tt.want) == 0 {
				if err != nil || n != 1 {
					t.Fatalf("got %d brokers, %v", n, err)
				}
				return
			}
			if err == nil {
				t.Fatal("connected with bad settings")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}
