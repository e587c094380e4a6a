//go:build !linux

package kafka

import "time"

// setUserTimeout is a no-op where TCP_USER_TIMEOUT does not exist; the lease
// check before every write still fences a paused process.
func setUserTimeout(int, time.Duration) error { return nil }
