package clouds

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Usage lists the fault commands Apply understands. CLOUD is aws, gcp or both
// (the default when omitted).
const Usage = `cut [CLOUD]                   cut the link (connections hang, new ones fail)
heal [CLOUD]                  restore the link
latency [CLOUD] RTT JITTER    e.g. latency 30ms 5ms; latency 0 0 removes it
bandwidth [CLOUD] RATE        e.g. bandwidth 20mbit (also kbit, gbit); 0 removes the cap
resets [CLOUD] SHARE AFTER    e.g. resets 0.3 2s: 30% of connection directions swallow their first data and reset 2s later; 0 0 stops
clear [CLOUD]                 lift every fault
kill-broker CLOUD ID          SIGKILL a broker
stop-broker CLOUD ID          SIGTERM a broker
start-broker CLOUD ID         start a stopped broker and wait until it serves`

// Apply runs one fault command (see Usage), as tools/clouds and the soak spell it.
func (c *Clouds) Apply(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command; commands:\n%s", Usage)
	}
	verb, rest := args[0], args[1:]
	clouds := []string{AWS, GCP}
	if len(rest) > 0 {
		switch rest[0] {
		case AWS, GCP:
			clouds, rest = []string{rest[0]}, rest[1:]
		case "both":
			rest = rest[1:]
		}
	}
	need := func(n int) error {
		if len(rest) != n {
			return fmt.Errorf("%s takes %d arguments after the cloud, got %d", verb, n, len(rest))
		}
		return nil
	}
	each := func(f func(cloud string) error) error {
		for _, cloud := range clouds {
			if err := f(cloud); err != nil {
				return fmt.Errorf("%s %s: %w", verb, cloud, err)
			}
		}
		return nil
	}
	switch verb {
	case "cut", "heal", "clear":
		if err := need(0); err != nil {
			return err
		}
		return each(func(cloud string) error {
			switch verb {
			case "cut":
				return c.Cut(ctx, cloud)
			case "heal":
				return c.Heal(ctx, cloud)
			}
			return c.Clear(ctx, cloud)
		})
	case "latency":
		if err := need(2); err != nil {
			return err
		}
		rtt, err1 := parseDuration(rest[0])
		jitter, err2 := parseDuration(rest[1])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("latency: want durations like 30ms 5ms, got %q %q", rest[0], rest[1])
		}
		return each(func(cloud string) error { return c.Latency(cloud, rtt, jitter) })
	case "bandwidth":
		if err := need(1); err != nil {
			return err
		}
		bps, err := ParseRate(rest[0])
		if err != nil {
			return err
		}
		return each(func(cloud string) error { return c.Bandwidth(ctx, cloud, bps) })
	case "resets":
		if err := need(2); err != nil {
			return err
		}
		share, err1 := strconv.ParseFloat(rest[0], 64)
		after, err2 := parseDuration(rest[1])
		if err1 != nil || err2 != nil || share < 0 || share > 1 {
			return fmt.Errorf("resets: want a share from 0 to 1 and a duration, got %q %q", rest[0], rest[1])
		}
		return each(func(cloud string) error { return c.Resets(cloud, share, after) })
	case "kill-broker", "stop-broker", "start-broker":
		if len(clouds) != 1 || len(rest) != 1 {
			return fmt.Errorf("%s takes a cloud (aws or gcp) and a broker id", verb)
		}
		id, err := strconv.ParseInt(rest[0], 10, 32)
		if err != nil {
			return fmt.Errorf("%s: broker id %q: %w", verb, rest[0], err)
		}
		cl, err := c.Cluster(clouds[0])
		if err != nil {
			return err
		}
		switch verb {
		case "kill-broker":
			return cl.KillBroker(int32(id))
		case "stop-broker":
			return cl.StopBroker(int32(id))
		}
		return cl.StartBroker(ctx, int32(id))
	}
	return fmt.Errorf("unknown command %q; commands:\n%s", verb, Usage)
}

// parseDuration accepts Go durations and a bare 0.
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// ParseRate parses a bandwidth such as 20mbit, 500kbit, 1gbit or a bare number of
// bits per second.
func ParseRate(s string) (int64, error) {
	mult := int64(1)
	num := strings.ToLower(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = v, u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bandwidth: want a rate like 20mbit, got %q", s)
	}
	return int64(f * float64(mult)), nil
}
