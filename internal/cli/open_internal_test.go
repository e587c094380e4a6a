package cli

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestOpenRetryingWaitsOutRefusals: group translation's clients are opened
// after the copy started; a refused connection then (a proxy restarting) used
// to end the whole run with "connect to target cluster ...: connection
// refused". It must be retried until it succeeds.
func TestOpenRetryingWaitsOutRefusals(t *testing.T) {
	calls := 0
	want := &clients{}
	env, ended, err := openRetrying(context.Background(), slog.New(slog.DiscardHandler), make(chan error), func(context.Context) (*clients, error) {
		calls++
		if calls < 3 {
			return nil, errors.New("connect to target cluster 127.0.0.1:1 (PLAINTEXT): dial tcp 127.0.0.1:1: connect: connection refused")
		}
		return want, nil
	})
	if env != want || ended || err != nil || calls != 3 {
		t.Fatalf("openRetrying = %v, %v, %v after %d calls; want the clients after 3 calls", env, ended, err, calls)
	}
}

// TestOpenRetryingEndsWithTheEngine: an engine that ends while the clients
// cannot be opened ends the wait with its error.
func TestOpenRetryingEndsWithTheEngine(t *testing.T) {
	done := make(chan error, 1)
	failed := errors.New("lost the writer lock")
	done <- failed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env, ended, err := openRetrying(ctx, slog.New(slog.DiscardHandler), done, func(context.Context) (*clients, error) {
		return nil, errors.New("connection refused")
	})
	if env != nil || !ended || !errors.Is(err, failed) {
		t.Fatalf("openRetrying = %v, %v, %v; want ended with the engine's error", env, ended, err)
	}
}
