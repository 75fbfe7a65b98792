package outreach

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes the API's duration
// strings: Go's units ("90m", "36h") plus whole days ("7d") and weeks ("2w"),
// which Go's parser does not know but every cadence rule needs.
type Duration time.Duration

// ParseDuration parses "7d", "36h", "90m", "1d12h" and the like. A bare
// number without a unit is rejected so that "7" is never silently 7ns.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number such as \"7d\", \"36h\" or \"90m\"", s)
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %v", s, err)
		}
		var per time.Duration
		switch unit {
		case "w":
			per = 7 * 24 * time.Hour
		case "d":
			per = 24 * time.Hour
		case "h":
			per = time.Hour
		case "m":
			per = time.Minute
		case "s":
			per = time.Second
		case "ms":
			per = time.Millisecond
		case "":
			return 0, fmt.Errorf("invalid duration %q: missing unit (use d, h, m or s)", s)
		default:
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use w, d, h, m or s)", s, unit)
		}
		if n > int64((1<<63-1)/per) {
			return 0, fmt.Errorf("invalid duration %q: too large", s)
		}
		total += time.Duration(n) * per
	}
	return total, nil
}

// FormatDuration writes d in days, hours, minutes and seconds, largest
// first ("7d", "1d12h"), so every duration has one canonical form: "24h"
// written reads back as "1d".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	units := []struct {
		suffix string
		size   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}
	for _, u := range units {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.suffix)
			d -= n * u.size
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dns", int64(d))
	}
	return b.String()
}

// String returns the API form of d.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"7d\" or \"36h\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
