package clouds_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kmigrate/kmigrate/internal/clouds"
	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// The package's tests share one instance of single-node clusters (started on
// first use, stopped when the tests end). They take turns on it (mu), since each
// sets faults on the whole link, and clear their faults when they end; tests with
// an instance of their own run beside them.
var shared struct {
	once sync.Once
	mu   sync.Mutex
	c    *clouds.Clouds
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	kafkatest.RemoveBinary()
	if shared.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := shared.c.Down(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "clouds: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
	}
	os.Exit(code)
}

// needJVM skips under -short and fails, saying why, where namespaces cannot be made.
func needJVM(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Kafka clusters in network namespaces; skipped with -short")
	}
	if err := clouds.CheckNamespaces(); err != nil {
		t.Fatalf("the two-clouds suite cannot run here and does not pretend to: %v", err)
	}
}

func root() string {
	if d := os.Getenv(kafkatest.EnvTestClusters); d != "" {
		return d
	}
	return kafkatest.DefaultRoot()
}

// sharedClouds returns the package's instance for the test's use alone, with every
// fault cleared when the test ends. The test runs in parallel with the tests
// that have an instance of their own.
func sharedClouds(t *testing.T) *clouds.Clouds {
	t.Helper()
	needJVM(t)
	t.Parallel()
	shared.mu.Lock()
	t.Cleanup(shared.mu.Unlock)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.c, shared.err = clouds.Up(ctx, clouds.Options{
			Name: "clouds-" + strconv.Itoa(os.Getpid()), Root: root(), Owner: os.Getpid(),
		})
	})
	if shared.err != nil {
		t.Fatalf("start the two clouds: %v", shared.err)
	}
	c := shared.c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := errors.Join(c.Clear(ctx, clouds.AWS), c.Clear(ctx, clouds.GCP)); err != nil {
			t.Errorf("clear faults: %v", err)
		}
	})
	return c
}
