package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes. In YAML it is an integer number of bytes or a
// string with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB,
// TiB (powers of 1024), as in "64KiB", "8MiB", "500KB". Units ignore case
// and may follow a space.
type Size int64

// Binary size units.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

// sizeUnits are the units ParseSize accepts, by lower-case name.
var sizeUnits = map[string]Size{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
}

// ParseSize parses a size such as "1048576", "8MiB" or "500 KB".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	digits := t
	if digits != "" && (digits[0] == '-' || digits[0] == '+') {
		digits = digits[1:]
	}
	n := 0
	for n < len(digits) && '0' <= digits[n] && digits[n] <= '9' {
		n++
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(digits[n:]))]
	if n == 0 || !ok {
		return 0, fmt.Errorf("%q is not a size: use a number of bytes, or one with a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based)", s)
	}
	num, err := strconv.ParseInt(t[:len(t)-len(digits)+n], 10, 64)
	if err != nil || num > math.MaxInt64/int64(unit) || num < math.MinInt64/int64(unit) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(num) * unit, nil
}

// String returns the size in the largest binary unit that divides it
// exactly ("8MiB"), or else in bytes ("1500B").
func (s Size) String() string {
	for _, u := range []struct {
		size Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// MarshalText returns String, so sizes encode as "8MiB" in YAML and JSON.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a size as ParseSize does, so a Size can be a flag
// (flag.TextVar).
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalYAML decodes an integer number of bytes or a string with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a size such as 8MiB, got %s", describe(n))
	}
	switch n.ShortTag() {
	case "!!null":
		*s = 0
		return nil
	case "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("%q is too large", n.Value)
		}
		*s = Size(v)
		return nil
	}
	return s.UnmarshalText([]byte(n.Value))
}

// Duration is a time.Duration written in YAML as a Go duration string:
// "500ms", "10s", "1m30s". A bare number is refused, since its unit would
// be a guess.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText returns String, so durations encode as "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a Go duration string, so a Duration can be a flag
// (flag.TextVar).
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	v, err := time.ParseDuration(s)
	if err == nil {
		*d = Duration(v)
		return nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return fmt.Errorf("%s has no unit: write it as %q (or use ms, m, h)", s, s+"s")
	}
	return fmt.Errorf("%q is not a duration: use a number with a unit, such as 500ms, 10s, 1m30s", s)
}

// UnmarshalYAML decodes a duration string; a bare number is an error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 10s, got %s", describe(n))
	}
	switch n.ShortTag() {
	case "!!null":
		*d = 0
		return nil
	case "!!int", "!!float":
		return fmt.Errorf("%s has no unit: write it as %q (or use ms, m, h)", n.Value, n.Value+"s")
	}
	return d.UnmarshalText([]byte(n.Value))
}
