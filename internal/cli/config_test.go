package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigCheckWarnings: a password written in the file, and OAUTHBEARER or
// AWS_MSK_IAM without TLS, are warned about; a password from the environment
// is not; the secret never shows.
func TestConfigCheckWarnings(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KM_TEST_PW", "from-env-pw")
	cfg := writeConfig(t, fmt.Sprintf(`migration: m
source:
  bootstrap_servers: [a:9092]
  sasl: {mechanism: OAUTHBEARER, oauth: {token_file: %s}}
target:
  bootstrap_servers: [b:9092]
  sasl: {mechanism: SCRAM-SHA-512, username: u, password: hunter2-inline}
`, token))
	out, _, err := kmigrate(t, "config", "check", "-c", cfg)
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, want := range []string{
		"warning: source: OAUTHBEARER without TLS sends the bearer token in clear text",
		"warning: target.sasl.password is written in the file",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("config check printed the password:\n%s", out)
	}

	cfg = writeConfig(t, `migration: m
source:
  bootstrap_servers: [a:9098]
  sasl: {mechanism: AWS_MSK_IAM, aws: {region: eu-west-1}}
target:
  bootstrap_servers: [b:9092]
  tls: {}
  sasl: {mechanism: PLAIN, username: u, password: "${KM_TEST_PW}"}
`)
	out, _, err = kmigrate(t, "config", "check", "-c", cfg)
	if err != nil || !strings.Contains(out, "warning: source: AWS_MSK_IAM without TLS") || strings.Contains(out, "is written in the file") {
		t.Errorf("config check: %v\n%s", err, out)
	}
}

// TestConfigCheckSameCluster: --connect compares the cluster ids and refuses a
// migration whose source and target are one cluster, reached by two addresses
// or one.
func TestConfigCheckSameCluster(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	tgt := kafkatest.SharedT(t, kafkatest.Tgt, kafkatest.Options{Topology: kafkatest.TopologySingle})
	addr := src.Bootstrap[0]
	alias := strings.Replace(addr, "127.0.0.1", "localhost", 1)
	same := writeConfig(t, fmt.Sprintf("migration: m\nsource: {bootstrap_servers: [%s]}\ntarget: {bootstrap_servers: [%s]}\n", addr, alias))
	out, _, err := kmigrate(t, "config", "check", "-c", same, "--connect", "--format", "json")
	if code := exitCode(err); code != 1 {
		t.Errorf("config check --connect of one cluster twice: exit %d, want 1\n%s", code, out)
	}
	var res configCheckResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Valid || len(res.Blockers) != 1 || !strings.Contains(res.Blockers[0], "source and target are the same cluster (cluster id "+res.Connect[0].ClusterID+")") {
		t.Errorf("result %+v", res)
	}
	// Without --connect nothing can tell.
	if _, _, err := kmigrate(t, "config", "check", "-c", same); err != nil {
		t.Errorf("config check without --connect: %v", err)
	}
	two := writeConfig(t, fmt.Sprintf("migration: m\nsource: {bootstrap_servers: [%s]}\ntarget: {bootstrap_servers: [%s]}\n", addr, tgt.Bootstrap[0]))
	out, _, err = kmigrate(t, "config", "check", "-c", two, "--connect")
	if err != nil || !strings.Contains(out, "cluster id") || strings.Contains(out, "same cluster") {
		t.Errorf("config check --connect of two clusters: %v\n%s", err, out)
	}
}
