package replicate_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kmigrate/kmigrate/internal/config"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
	"github.com/kmigrate/kmigrate/internal/replicate"
)

// tokenScript writes a token_command that prints an unsigned JWT for sub alice
// valid for lifetime, and logs every call to calls.
func tokenScript(t *testing.T, lifetime time.Duration) (script, calls string) {
	t.Helper()
	dir := t.TempDir()
	script, calls = filepath.Join(dir, "token"), filepath.Join(dir, "calls")
	body := fmt.Sprintf(`#!/bin/sh
b64() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%%s)
echo "$now" >> %q
header=$(printf '{"alg":"none"}' | b64)
claims=$(printf '{"sub":"alice","iat":%%d,"exp":%%d}' "$now" "$((now + %d))" | b64)
printf '%%s.%%s.' "$header" "$claims"
`, calls, int(lifetime.Seconds()))
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, calls
}

// TestOAuthTokensExpireDuringCopy logs in to the source with OAUTHBEARER
// tokens that live 20 s, against a real broker (Kafka's unsecured JWS
// validator) that ends every SASL session after 10 s, during a copy that
// lasts several lifetimes: kmigrate must fetch new tokens as they near their
// expiry and go on copying, exactly.
func TestOAuthTokensExpireDuringCopy(t *testing.T) {
	src := kafkatest.StartT(t, kafkatest.UniqueName(t, "oauth"), kafkatest.Options{Topology: kafkatest.TopologySingle, OAuth: true})
	_, tgt := clusters(t)
	topic := kafkatest.UniqueName(t, "tokens")
	createTopic(t, src, topic, 2, nil)
	value := bytes.Repeat([]byte("t"), 1000)
	var recs []*kgo.Record
	for i := range 6000 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: value})
	}
	produce(t, src.Client(t, kgo.ProducerBatchMaxBytes(16<<10)), recs...)

	script, calls := tokenScript(t, 20*time.Second)
	cfg := migrationConfig(t, src, tgt, topic)
	cfg.Source.BootstrapServers = src.SASLBootstrap
	cfg.Source.SASL = &config.SASL{Mechanism: config.MechanismOAuthBearer, OAuth: &config.OAuth{
		TokenCommand: []string{script}, RefreshBefore: config.Duration{Duration: 5 * time.Second}}}
	cfg.Replication.MaxBytesPerSecond = 130_000 // about 45 s of copying
	cfg.Replication.FetchMaxBytes, cfg.Replication.FetchMaxPartitionBytes = 32<<10, 32<<10
	r := startEngine(t, cfg, replicate.Options{UntilCaughtUp: true})
	select {
	case err := <-r.done:
		r.done <- nil
		if err != nil {
			t.Fatalf("the copy failed: %v", err)
		}
	case <-time.After(4 * time.Minute):
		t.Fatal("the copy did not finish within 4 minutes")
	}
	assertSameRecords(t, readAll(t, src, topic), readAll(t, tgt, topic))
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(string(b))); n < 3 {
		t.Errorf("the token command ran %d times during a copy of several token lifetimes, want at least 3", n)
	}
	t.Logf("token command runs: %d", len(strings.Fields(string(b))))
}
