package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds Parse arbitrary files. It must not panic; every error
// must be an *Error of the file on one of its lines; a config it accepts
// must pass Validate and survive a round trip through yaml.Marshal.
func FuzzParse(f *testing.F) {
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.in))
	}
	for _, file := range []string{"testdata/example.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "f.yaml")
		if err != nil {
			checkParseError(t, data, c, err)
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(out, "marshaled.yaml")
		if err != nil {
			t.Fatalf("Parse(Marshal(c)) = %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, again)
		}
	})
}

func checkParseError(t *testing.T, data []byte, c *Config, err error) {
	t.Helper()
	if c != nil {
		t.Fatal("Parse returned a config with an error")
	}
	lines := lineAt(data, len(data))
	for _, e := range errorsOf(err) {
		var ce *Error
		if !errors.As(e, &ce) || ce.File != "f.yaml" || ce.Err == nil {
			t.Fatalf("error %q is not an *Error of f.yaml", e)
		}
		if ce.Line < 0 || ce.Line > lines {
			t.Fatalf("error %q: line %d of a %d-line file", e, ce.Line, lines)
		}
	}
}

func errorsOf(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// FuzzValidStreamName checks ValidStreamName against a plain reading of
// the rule.
func FuzzValidStreamName(f *testing.F) {
	for _, s := range []string{"", "a", "live", ".hidden", "a/b", "..", "a b", "ä", "cam-1_x.y", "%2e", "a\x00b",
		strings.Repeat("x", 64), strings.Repeat("x", 65), "\xff", "a.", "-_-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		const allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."
		want := len(name) >= 1 && len(name) <= 64 && name[0] != '.'
		for _, r := range name {
			if !strings.ContainsRune(allowed, r) {
				want = false
			}
		}
		err := ValidStreamName(name)
		if (err == nil) != want {
			t.Fatalf("ValidStreamName(%q) = %v, want ok=%v", name, err, want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "stream name \"") {
			t.Fatalf("error %q does not quote the name", err)
		}
	})
}
