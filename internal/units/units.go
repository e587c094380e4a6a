// Package units is the one owner of how kmigrate prints sizes and counts, in
// every report, log line and progress bar: sizes in IEC binary units (1 KiB =
// 1024 B, then MiB, GiB, TiB, PiB, EiB) with one decimal, counts with a comma
// between groups of three digits. Sizes are never printed in SI units (kB, MB),
// so two reports of the same bytes always show the same figure. The dashboard's
// script follows the same rule.
//
// The figures printed are rounded to one decimal; the exact values are in the
// JSON forms of the reports.
package units

import "strconv"

// Bytes prints a size in IEC binary units: "0 B", "1023 B", "1.5 KiB",
// "20.0 MiB". A negative n is printed with a minus sign.
func Bytes(n int64) string {
	if n < 0 {
		if n == -n { // math.MinInt64
			return "-8.0 EiB"
		}
		return "-" + Bytes(-n)
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

// Count prints n with a comma between groups of three digits: 1234567 →
// "1,234,567", -1234 → "-1,234".
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	b := make([]byte, 0, len(s)+len(s)/3+1)
	b = append(b, sign...)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
