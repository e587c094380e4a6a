package main

import (
	"fmt"
	"math"
	"slices"
)

// summary is the median of a figure over the runs, with its spread.
type summary struct {
	median, min, max float64
	n                int
}

// summarize returns the median, minimum and maximum of values; NaN values (a
// figure a run could not produce) are left out.
func summarize(values []float64) summary {
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{median: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return summary{median: m, min: v[0], max: v[len(v)-1], n: len(v)}
}

// format prints the median and, over several runs, the spread (min–max), each
// with format f.
func (s summary) format(f string) string {
	if math.IsNaN(s.median) {
		return "–"
	}
	if s.n <= 1 || s.min == s.max {
		return fmt.Sprintf(f, s.median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.median, s.min, s.max)
}

// ratio divides two medians; "–" when either is missing or the divisor is 0.
func ratio(a, b summary) string {
	if math.IsNaN(a.median) || math.IsNaN(b.median) || b.median == 0 {
		return "–"
	}
	r := a.median / b.median
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}
