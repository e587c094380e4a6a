package cli

import (
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
