package kafkatest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// KmigrateBinary builds the kmigrate command once per test process and returns
// its path, for tests that run it as a user would (kill -9, SIGSTOP, exit codes).
func KmigrateBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "kmigrate-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "kmigrate")
		if out, err := exec.Command("go", "build", "-o", binary.path, "github.com/kmigrate/kmigrate/cmd/kmigrate").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// RemoveBinary deletes the binary KmigrateBinary built, if any; Main calls it.
func RemoveBinary() {
	if binary.path != "" {
		_ = os.RemoveAll(filepath.Dir(binary.path))
	}
}
