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

// TestScanQuickLook: scan a cluster from flags alone, in plaintext and
// through SASL with -X properties or a --command-config file; a wrong
// password fails with the usual hint and is never printed.
func TestScanQuickLook(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	topic := kafkatest.UniqueName(t, "quick")
	kafkatest.CreateTopic(t, src, topic, 3, nil)
	out, stderr, err := kmigrate(t, "scan", "--bootstrap-server", strings.Join(src.Bootstrap, ","), "--format", "json", "-c", "/nonexistent.yaml")
	if err != nil {
		t.Fatalf("scan --bootstrap-server: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"`+topic+`"`) {
		t.Errorf("the quick look does not list %s", topic)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Errorf("scan --format json: %v", err)
	}

	auth := kafkatest.SharedT(t, kafkatest.Auth, kafkatest.Options{Topology: kafkatest.TopologySingle, SASL: true, TLS: true, Authorizer: true})
	pw := auth.Users["alice"]
	sasl := strings.Join(auth.SASLBootstrap, ",")
	if out, stderr, err := kmigrate(t, "scan", "--bootstrap-server", sasl, "-X", "security.protocol=SASL_PLAINTEXT",
		"-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=alice", "-X", "sasl.password="+pw); err != nil || !strings.Contains(out, "brokers") {
		t.Errorf("scan with -X SCRAM: %v\n%s\n%s", err, out, stderr)
	}
	props := filepath.Join(t.TempDir(), "client.properties")
	body := fmt.Sprintf("# as for kafka-topics.sh\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"%s\";\n", pw)
	if err := os.WriteFile(props, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := kmigrate(t, "scan", "--bootstrap-server", sasl, "--command-config", props); err != nil || !strings.Contains(out, "brokers") {
		t.Errorf("scan --command-config: %v\n%s\n%s", err, out, stderr)
	}
	const wrong = "not-the-password-q9"
	_, stderr, err = kmigrate(t, "scan", "--bootstrap-server", sasl, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN",
		"-X", "sasl.username=alice", "-X", "sasl.password="+wrong)
	if err == nil || !strings.Contains(err.Error(), "check the username and password") || strings.Contains(err.Error()+stderr, wrong) {
		t.Errorf("scan with a wrong password: %v\n%s", err, stderr)
	}
	if _, _, err := kmigrate(t, "scan", "--bootstrap-server", sasl, "-X", "sasl.mechanizm=PLAIN"); err == nil || !strings.Contains(err.Error(), "unknown client property sasl.mechanizm") {
		t.Errorf("a misspelt property: %v", err)
	}
}
