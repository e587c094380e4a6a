package kafkatest

import (
	"testing"
)

// TestPortsOutsideEphemeralRange: every port a test cluster listens on lies
// below the kernel's ephemeral range, so that no outgoing connection can be
// given it as its local port while its broker is down, and a broker that a
// test killed can always bind it again when it restarts.
func TestPortsOutsideEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for _, name := range []string{Src, SeedSrc} {
		opts := Options{}
		if name == SeedSrc {
			opts.Topology = TopologySeed
		}
		c := SharedT(t, name, opts)
		for _, n := range c.snapshotNodes() {
			for l, p := range n.Ports {
				if p >= low {
					t.Errorf("cluster %s node %d listens for %s on port %d, inside the ephemeral range (from %d)", name, n.ID, l, p, low)
				}
			}
		}
	}
	for range 50 {
		p, err := FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if p >= low || p <= 1024 {
			t.Fatalf("FreePort gave %d, want a port in 1025..%d", p, low-1)
		}
	}
}
