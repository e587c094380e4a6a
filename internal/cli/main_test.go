package cli

import (
	"os"
	"testing"

	"github.com/kmigrate/kmigrate/internal/kafkatest"
)

// TestMain stops the real-Kafka clusters this package's tests started.
func TestMain(m *testing.M) { os.Exit(kafkatest.Main(m)) }
