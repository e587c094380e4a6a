package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestConfigInit probes a plaintext, a SASL and a TLS listener, writes the
// starter file, and the file passes config check --connect once the variables
// it names are set.
func TestConfigInit(t *testing.T) {
	src := kafkatest.SharedT(t, kafkatest.Src, kafkatest.Options{Topology: kafkatest.TopologySingle})
	auth := kafkatest.SharedT(t, kafkatest.Auth, kafkatest.Options{Topology: kafkatest.TopologySingle, SASL: true, TLS: true, Authorizer: true})
	file := filepath.Join(t.TempDir(), "m.yaml")
	_, stderr, err := kmigrate(t, "config", "init", "--source", src.Bootstrap[0], "--target", auth.SASLBootstrap[0], "--migration", "init-test", "-o", file)
	if err != nil {
		t.Fatalf("config init: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"# source: the listener at " + src.Bootstrap[0] + " speaks PLAINTEXT",
		"# target: the listener at " + auth.SASLBootstrap[0] + " speaks SASL_PLAINTEXT (mechanisms: ",
		"mechanism: SCRAM-SHA-512",
		"password: ${TARGET_PASSWORD}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("starter file lacks %q:\n%s", want, text)
		}
	}
	if _, _, err := kmigrate(t, "config", "init", "--source", src.Bootstrap[0], "--target", auth.SASLBootstrap[0], "-o", file); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("config init over an existing file: %v", err)
	}
	t.Setenv("TARGET_USERNAME", "alice")
	t.Setenv("TARGET_PASSWORD", auth.Users["alice"])
	if out, _, err := kmigrate(t, "config", "check", "-c", file, "--connect"); err != nil {
		t.Errorf("config check --connect of the starter file: %v\n%s", err, out)
	}

	out, _, err := kmigrate(t, "config", "init", "--source", auth.TLSBootstrap[0], "--target", src.Bootstrap[0], "-o", "-")
	if err != nil || !strings.Contains(out, "speaks SSL") || !strings.Contains(out, "ca_file: ${SOURCE_CA_FILE}") {
		t.Errorf("config init of a TLS listener with a private CA: %v\n%s", err, out)
	}
}
