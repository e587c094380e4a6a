package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// TestBadFiles walks testdata/*.bad.yaml; each file must produce exactly the
// errors listed here, all at once, in file order.
func TestBadFiles(t *testing.T) {
	want := map[string]string{
		"acls.bad.yaml": `
8:5: acls.principals.alice: "alice" is not a principal: write Type:name, such as User:alice
9:5: acls.principals.User:bob: maps to "bob", which is not a principal: write Type:name, such as User:alice
11:7: acls.rewrite[0].match: bad regular expression "User:(.*": missing closing )
14:7: acls.rewrite[1].replace: refers to group $2, but match has 1
16:7: acls.rewrite[2].replace: refers to group "nom", which match does not name
17:7: acls.rewrite[3].match: required: a regular expression over the whole principal
19:7: acls.rewrite[4].replace: "$1" does not make a principal: write Type:name, such as User:$1`,
		"aws.bad.yaml": `
4:3: source.sasl: username, password and oauth do not apply to AWS_MSK_IAM
7:5: source.sasl.aws.region: required for AWS_MSK_IAM
8:7: source.sasl.aws.access_key_id: access_key_id and secret_access_key go together
15:5: target.sasl.password_file: set password or password_file, not both`,
		"empty.bad.yaml": `
1:1: the file is empty`,
		"env-unset.bad.yaml": `
9:15: target.sasl.password: environment variable KMIGRATE_TEST_UNSET_PASSWORD is not set`,
		"many-errors.bad.yaml": `
1:1: migration: "has spaces" may only contain letters, digits, '.', '_' and '-' (at most 100)
3:23: source.bootstrap_servers[0]: "no-port" is not host:port
6:20: target.request_timeout: "soon" is not a duration (examples: 500ms, 5s, 1m30s)
8:13: topics.include[0]: bad regular expression "orders(": missing closing )
10:3: replication.compression: "brotli" is not one of none, gzip, snappy, lz4, zstd
11:24: replication.checkpoint_interval: a duration must not be negative
13:12: group_sync.enabled: expected true or false, got "yes"
15:3: http.listen: "localhost" is not host:port (use "off" to disable the server)`,
		"missing.bad.yaml": `
1:1: migration: required: a name for this migration, such as aws-to-gcp
1:1: source.bootstrap_servers: required: at least one host:port
3:1: target.bootstrap_servers: required: at least one host:port
4:3: target.sasl.username: required for SCRAM-SHA-256
4:3: target.sasl.password: required for SCRAM-SHA-256 (or password_file)`,
		"repeated.bad.yaml": `
6:1: migration: repeated key (first at line 1)`,
		"sasl.bad.yaml": `
5:5: source.sasl.mechanism: "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, AWS_MSK_IAM, OAUTHBEARER
8:3: target.tls: cert_file and key_file go together: set both for mutual TLS, or neither
9:5: target.tls.ca_file: cannot read /nonexistent/ca.pem: no such file or directory
10:5: target.tls.cert_file: cannot read /nonexistent/cert.pem: no such file or directory
11:3: target.sasl.oauth: OAUTHBEARER needs oauth.token_file or oauth.token_command`,
		"schemas.bad.yaml": `
8:5: schemas.source.url: "ftp://registry:8081" is not an http:// or https:// URL
9:5: schemas.source.basic_auth.username: required for basic_auth
13:5: schemas.target.topic: set url or topic, not both
14:3: schemas.include_deletd: unknown key (did you mean "include_deleted"?)`,
		// The flow sequence opens on line 3; the library says line 2.
		"syntax.bad.yaml": `
3:1: invalid YAML: did not find expected ',' or ']'`,
		"syntax-key.bad.yaml": `
4:1: invalid YAML: did not find expected key`,
		"ranges.bad.yaml": `
3:23: source.bootstrap_servers[0]: "a:99999": the port must be a number between 1 and 65535
3:34: source.bootstrap_servers[1]: ":9092" has no host
7:3: http.ready_max_lag: must not be negative, got -5
9:3: replication.checkpoint_max_partitions: must not be negative, got -1`,
		"types.bad.yaml": `
3:22: source.bootstrap_servers: expected a list, got a single value
4:8: source.tls: expected a mapping of settings, got a single value
8:25: replication.max_bytes_per_second: expected a whole number that fits in 64 bits, got "1.5"
9:20: replication.fetch_max_bytes: expected a whole number that fits in 32 bits, got "99999999999"
10:23: replication.replication_factor: expected a mapping, got a list`,
		"unknown-key.bad.yaml": `
4:3: source.bootstrap_server: unknown key (did you mean "bootstrap_servers"?)
7:3: target.sasl.password: required for PLAIN (or password_file)
10:5: target.sasl.pasword: unknown key (did you mean "password"?)`,
	}
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("%d bad files in testdata, %d expectations: pair every file with its errors", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			exp, ok := want[filepath.Base(f)]
			if !ok {
				t.Fatalf("no expected errors for %s", f)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(f, data, env(nil))
			if err == nil {
				t.Fatal("loaded without error")
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(exp), "\n") {
				lines = append(lines, f+":"+l)
			}
			if got := err.Error(); got != strings.Join(lines, "\n") {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", got, strings.Join(lines, "\n"))
			}
		})
	}
}

func TestGoodFile(t *testing.T) {
	data, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("good.yaml", data, env(map[string]string{"TARGET_BOOTSTRAP": "b:9092", "TARGET_PASSWORD": "s3cret-pw"}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"migration", c.Migration, "aws-to-gcp"},
		{"source servers", strings.Join(c.Source.BootstrapServers, ","), "b-1.msk.example:9098,b-2.msk.example:9098"},
		{"target servers from env", c.Target.BootstrapServers[0], "b:9092"},
		{"mechanism upper-cased", c.Target.SASL.Mechanism, MechanismScramSHA512},
		{"password from env", c.Target.SASL.Password.Reveal(), "s3cret-pw"},
		{"aws region", c.Source.SASL.AWS.Region, "eu-west-1"},
		{"source tls on", c.Source.TLS != nil, true},
		{"target request timeout", c.Target.RequestTimeout.Duration, 45 * time.Second},
		{"source request timeout default", c.Source.RequestTimeout.Duration, DefaultRequestTimeout},
		{"target client id default", c.Target.ClientID, DefaultClientID},
		{"compression", c.Replication.Compression, "zstd"},
		{"checkpoint default", c.Replication.CheckpointInterval.Duration, DefaultCheckpointInterval},
		{"rf override", c.Replication.ReplicationFactor["orders"], 2},
		{"group sync on by default", c.GroupSync.GroupSyncEnabled(), true},
		{"group interval", c.GroupSync.Interval.Duration, 2 * time.Second},
		{"listen", c.HTTP.Listen, "0.0.0.0:9090"},
		{"schemas source url", c.Schemas.Source.URL, "https://registry.aws.example:8081"},
		{"schemas password default", c.Schemas.Source.BasicAuth.Password.Reveal(), "fallback-pw"},
		{"schemas deleted", c.Schemas.IncludeDeleted, true},
		{"schemas timeout default", c.Schemas.RequestTimeout.Duration, DefaultSchemasRequestTimeout},
		{"principal table", first(c.ACLs.MapPrincipal("User:alice")), "User:alice-gcp"},
		{"principal rewrite", first(c.ACLs.MapPrincipal("User:arn:aws:iam::123456789012:role/orders-app")), "User:orders-app"},
		{"principal kept", first(c.ACLs.MapPrincipal("User:carol")), "User:carol"},
	}
	for _, ch := range checks {
		if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestSelection(t *testing.T) {
	tests := []struct {
		sel  Selection
		name string
		want bool
	}{
		{Selection{}, "anything", true},
		{Selection{Include: []string{"orders"}}, "orders", true},
		{Selection{Include: []string{"orders"}}, "orders-dlq", false},
		{Selection{Include: []string{"orders.*"}, Exclude: []string{".*-dlq"}}, "orders-dlq", false},
		{Selection{Include: []string{"orders.*"}, Exclude: []string{".*-dlq"}}, "orders-eu", true},
		{Selection{Exclude: []string{"tmp|scratch"}}, "scratch", false},
		{Selection{Exclude: []string{"tmp|scratch"}}, "tmp2", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%s", tt.sel.Include, tt.name), func(t *testing.T) {
			if err := tt.sel.Compile(); err != nil {
				t.Fatal(err)
			}
			if got := tt.sel.Match(tt.name); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// TestSecretsNeverPrinted formats a loaded configuration every way a log line,
// an error or `config check` could, and looks for the secret values.
func TestSecretsNeverPrinted(t *testing.T) {
	const pw, awsKey = "pw-Zq8xv", "aws-Kf93m"
	yml := `
migration: m1
source:
  bootstrap_servers: [a:9092]
  sasl:
    mechanism: AWS_MSK_IAM
    aws: {region: us-east-1, access_key_id: AKIA1, secret_access_key: "${AWS_SECRET}"}
target:
  bootstrap_servers: [b:9092]
  sasl: {mechanism: PLAIN, username: u, password: "${PW}"}
`
	c, err := Parse("s.yaml", []byte(yml), env(map[string]string{"PW": pw, "AWS_SECRET": awsKey}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Target.SASL.Password.Reveal() != pw || c.Source.SASL.AWS.SecretAccessKey.Reveal() != awsKey {
		t.Fatal("secrets were not loaded")
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s", c, *c.Target.SASL, *c.Source.SASL.AWS, c.Target.SASL.Password)
	j, _ := json.Marshal(c)
	out.Write(j)
	y, _ := yaml.Marshal(c)
	out.Write(y)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("cfg", "sasl", c.Target.SASL.Password, "aws", c.Source.SASL.AWS.SecretAccessKey)
	slog.New(slog.NewTextHandler(&out, nil)).Info("cfg", "sasl", *c.Target.SASL)
	for _, secret := range []string{pw, awsKey} {
		if bytes.Contains(out.Bytes(), []byte(secret)) {
			t.Errorf("secret %q printed in:\n%s", secret, out.String())
		}
	}
	if !bytes.Contains(out.Bytes(), []byte(redacted)) {
		t.Errorf("expected %s in output", redacted)
	}
}

// TestEnvErrorsNameVariableNotValue checks that an error about a value that came
// from the environment never repeats that value.
func TestEnvErrorsNameVariableNotValue(t *testing.T) {
	yml := "migration: m1\nsource:\n  bootstrap_servers: [a:9092]\ntarget:\n  bootstrap_servers: [b:9092]\n  sasl: {mechanism: \"${MECH}\", username: u, password: \"${PW}\"}\n"
	_, err := Parse("e.yaml", []byte(yml), env(map[string]string{"PW": "pw-secret-1"}))
	if err == nil {
		t.Fatal("want error")
	}
	if !strings.Contains(err.Error(), "environment variable MECH is not set") {
		t.Errorf("error does not name the variable: %v", err)
	}
	if strings.Contains(err.Error(), "pw-secret-1") {
		t.Errorf("error shows a secret: %v", err)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pw")
	if err := os.WriteFile(pf, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf("migration: m1\nsource:\n  bootstrap_servers: [a:9092]\ntarget:\n  bootstrap_servers: [b:9092]\n  sasl: {mechanism: SCRAM-SHA-256, username: u, password_file: %s}\n", pf)
	c, err := Parse("p.yaml", []byte(yml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	pw, err := c.Target.SASL.ResolvePassword()
	if err != nil {
		t.Fatal(err)
	}
	if pw.Reveal() != "from-file" {
		t.Errorf("password %q, want from-file", pw.Reveal())
	}
}

func first(a, _ string) string { return a }
