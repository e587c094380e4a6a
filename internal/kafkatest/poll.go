package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// Eventually calls check until it returns nil or timeout passes, then fails the
// test with the last error. It waits between attempts with a growing pause (10ms
// to 500ms), so a condition that holds is seen quickly; it is how tests wait for
// the cluster, instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := Poll(timeout, check); err != nil {
		t.Fatalf("condition not met within %s: %v", timeout, err)
	}
}

// Poll calls check until it returns nil, or returns check's last error once
// timeout has passed.
func Poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().Add(pause).After(deadline) {
			return err
		}
		time.Sleep(pause)
		pause = min(pause*2, 500*time.Millisecond)
	}
}

// UniqueName returns a topic or group name unique to this test and call: prefix,
// the test's name cut to fit, and random hex. Only characters Kafka accepts in
// topic names are used.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("make unique name: %v", err)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 80 {
		name = name[len(name)-80:]
	}
	if prefix != "" {
		name = prefix + "-" + name
	}
	return name + "-" + hex.EncodeToString(b[:])
}
