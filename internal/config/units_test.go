package config

import (
	"encoding/json"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string // part of the error; "" for none
	}{
		{"0", 0, ""},
		{"1048576", MiB, ""},
		{"64KiB", 64 * 1024, ""},
		{"8MiB", 8 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{"2TiB", 2 << 40, ""},
		{"500KB", 500_000, ""},
		{"2MB", 2_000_000, ""},
		{"3GB", 3_000_000_000, ""},
		{"10B", 10, ""},
		{" 8 mib ", 8 << 20, ""},
		{"8mb", 8_000_000, ""},
		{"-2KiB", -2048, ""},
		{"+5", 5, ""},
		{"12XB", 0, `"12XB" is not a size`},
		{"1.5MiB", 0, "is not a size"},
		{"MiB", 0, "is not a size"},
		{"", 0, "is not a size"},
		{"-", 0, "is not a size"},
		{"8M", 0, "is not a size"},
		{"0x10", 0, "is not a size"},
		{"9999999999GiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"8388608TiB", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseSize = %v, %v; want error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseSize = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0B"}, {1, "1B"}, {1000, "1000B"}, {1024, "1KiB"}, {1536, "1536B"},
		{16 * KiB, "16KiB"}, {8 * MiB, "8MiB"}, {1024 * MiB, "1GiB"}, {3 * TiB, "3TiB"},
		{-2048, "-2KiB"}, {1_000_000, "1000000B"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			back, err := ParseSize(tt.in.String())
			if err != nil || back != tt.in {
				t.Errorf("ParseSize(String) = %d, %v", back, err)
			}
		})
	}
}

// Size and Duration must also decode right with plain yaml.v3, encode as
// text, and serve as flags.
func TestUnitsOutsideParse(t *testing.T) {
	var v struct {
		S Size     `yaml:"s" json:"s"`
		D Duration `yaml:"d" json:"d"`
	}
	if err := yaml.Unmarshal([]byte("s: 64KiB\nd: 1m30s\n"), &v); err != nil || v.S != 64*KiB || v.D != Duration(90*time.Second) {
		t.Errorf("yaml.Unmarshal = %+v, %v", v, err)
	}
	if err := yaml.Unmarshal([]byte("s: 100\nd: 30\n"), &v); err == nil || !strings.Contains(err.Error(), `30 has no unit: write it as "30s"`) {
		t.Errorf("bare duration: %v", err)
	}
	if out, err := yaml.Marshal(v); err != nil || string(out) != "s: 100B\nd: 1m30s\n" {
		t.Errorf("yaml.Marshal = %q, %v", out, err)
	}
	if out, err := json.Marshal(v); err != nil || string(out) != `{"s":"100B","d":"1m30s"}` {
		t.Errorf("json.Marshal = %s, %v", out, err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.TextVar(&v.S, "size", Size(0), "")
	fs.TextVar(&v.D, "dur", Duration(0), "")
	if err := fs.Parse([]string{"-size", "2MB", "-dur", "250ms"}); err != nil || v.S != 2_000_000 || v.D != Duration(250*time.Millisecond) {
		t.Errorf("flags = %+v, %v", v, err)
	}
	if err := fs.Parse([]string{"-dur", "10"}); err == nil {
		t.Error("flag -dur 10 accepted")
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in   string
		want Duration
		err  string
	}{
		{`"10s"`, Duration(10 * time.Second), ""},
		{"1m30s", Duration(90 * time.Second), ""},
		{"500ms", Duration(500 * time.Millisecond), ""},
		{"-5s", Duration(-5 * time.Second), ""},
		{"~", 0, ""},
		{"10", 0, `10 has no unit: write it as "10s" (or use ms, m, h)`},
		{"0", 0, `0 has no unit`},
		{`"10"`, 0, `10 has no unit`},
		{"2.5", 0, `2.5 has no unit`},
		{"soon", 0, `"soon" is not a duration`},
		{"[1s]", 0, "expected a duration such as 10s, got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.in), &n); err != nil {
				t.Fatal(err)
			}
			var d Duration
			err := d.UnmarshalYAML(n.Content[0])
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %v, %v; want error with %q", d, err, tt.err)
				}
				return
			}
			if err != nil || d != tt.want {
				t.Errorf("got %v, %v; want %v", d, err, tt.want)
			}
		})
	}
}
