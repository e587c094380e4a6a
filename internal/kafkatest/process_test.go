package kafkatest

import "testing"

// TestOursDuringExec: a process whose command line reads empty (it is in the
// middle of an execve, as `ip netns exec` is when it becomes the JVM) is still
// alive and ours; one with another command line (a reused pid) is not.
func TestOursDuringExec(t *testing.T) {
	marker := "/tmp/c/node-1/server.properties"
	for _, c := range []struct {
		cmdline string
		want    bool
	}{
		{"", true},
		{"ip\x00netns\x00exec\x00ns\x00java\x00kafka.Kafka\x00" + marker + "\x00", true},
		{"java\x00kafka.Kafka\x00" + marker + "\x00", true},
		{"bash\x00-c\x00sleep 100\x00", false},
	} {
		if got := ours([]byte(c.cmdline), marker); got != c.want {
			t.Errorf("ours(%q) = %v, want %v", c.cmdline, got, c.want)
		}
	}
}
