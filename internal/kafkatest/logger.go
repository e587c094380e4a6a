package kafkatest

import (
	"log/slog"
	"testing"
)

// Logger returns a logger that keeps what it is given and prints it with the
// test's output only when the test fails: the engine's account of a failure,
// without the noise of every passing test. It may be used from goroutines
// that outlive the test.
func Logger(t testing.TB) *slog.Logger {
	w := &SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", w.String())
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
