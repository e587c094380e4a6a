package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestUnknownCommandFails: a typo in a subcommand exits non-zero with a
// suggestion, at every level of the tree; a group command alone still prints
// its help and exits 0.
func TestUnknownCommandFails(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chek"}, `unknown command "chek" for "kmigrate"`},
		{[]string{"config", "chek"}, `unknown command "chek" for "kmigrate config"; did you mean check?`},
		{[]string{"groups", "snyc"}, `unknown command "snyc" for "kmigrate groups"`},
	} {
		_, _, err := kmigrate(t, tc.args...)
		if code := exitCode(err); code == 0 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kmigrate %v: exit %d, error %v; want non-zero saying %q", tc.args, code, err, tc.want)
		}
	}
	out, _, err := kmigrate(t, "config")
	if err != nil || !strings.Contains(out, "check") {
		t.Errorf("kmigrate config: %v, help %q", err, out)
	}
}

// TestJSONErrors: a command that fails before its report prints a JSON error
// object on stdout under --format json, and its last line on stderr is JSON
// under --log-format json.
func TestJSONErrors(t *testing.T) {
	// Nothing listens on port 1.
	cfg := writeConfig(t, "migration: m\nsource: {bootstrap_servers: [\"127.0.0.1:1\"]}\ntarget: {bootstrap_servers: [\"127.0.0.1:1\"]}\n")
	out, _, err := kmigrate(t, "status", "-c", cfg, "--format", "json", "--interval", "0")
	if err == nil {
		t.Fatal("status against nothing succeeded")
	}
	var obj struct{ Error, Command string }
	if jerr := json.Unmarshal([]byte(out), &obj); jerr != nil || obj.Command != "kmigrate status" || !strings.Contains(obj.Error, "127.0.0.1:1") {
		t.Errorf("stdout under --format json: %q (%v)", out, jerr)
	}
	_, _, err = kmigrate(t, "status", "-c", cfg, "--log-format", "json", "--interval", "0")
	var stderr bytes.Buffer
	if code := ExitCode(err, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var rec map[string]any
	if jerr := json.Unmarshal(stderr.Bytes(), &rec); jerr != nil || rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["err"]), "127.0.0.1:1") {
		t.Errorf("last stderr line under --log-format json: %q (%v)", stderr.String(), jerr)
	}
}

// TestUniformReportFlags: every reporting command takes the same --format
// choices, --out and --timeout.
func TestUniformReportFlags(t *testing.T) {
	root := newRoot(Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	for _, path := range [][]string{{"config", "check"}, {"scan"}, {"plan"}, {"groups"}, {"groups", "sync"}, {"status"}, {"verify"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatalf("%v: %v", path, err)
		}
		for _, name := range []string{"format", "out", "timeout"} {
			if cmd.Flags().Lookup(name) == nil {
				t.Errorf("kmigrate %s has no --%s", strings.Join(path, " "), name)
			}
		}
		if f := cmd.Flags().Lookup("format"); f != nil && !strings.Contains(f.Usage, "text, json, yaml, markdown") {
			t.Errorf("kmigrate %s --format: %q", strings.Join(path, " "), f.Usage)
		}
	}
}
