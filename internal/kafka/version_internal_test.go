package kafka

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestVersionGuessSkipsFailedBrokers: a broker whose ApiVersions request failed
// (a connection reset) has no versions; guessing from it used to panic the
// whole process at start-up.
func TestVersionGuessSkipsFailedBrokers(t *testing.T) {
	vs := kadm.BrokersApiVersions{1: {NodeID: 1, Err: errors.New("connection reset by peer")}}
	if g := versionGuess(vs); g != "" {
		t.Fatalf("version guessed from a broker that did not answer: %q", g)
	}
}
