package config

import (
	"strings"
	"testing"
)

func TestValidStreamName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", false},
		{"a", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{".hidden", false},
		{"a/b", false},
		{"..", false},
		{".", false},
		{"a b", false},
		{"ä", false},
		{"cam-1_x.y", true},
		{"a.", true},
		{"-", true},
		{"%2e", false},
		{"a\x00b", false},
		{"A-Z_0-9", true},
		{"a\nb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidStreamName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidStreamName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && !strings.HasSuffix(err.Error(), `: use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`) {
				t.Errorf("error does not state the rule: %v", err)
			}
		})
	}
}

func TestValidStreamNameError(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a/b", `stream name "a/b": use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`},
		{"", `stream name "": use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`},
		{strings.Repeat("y", 100), `stream name "` + strings.Repeat("y", 64) + `"... (100 bytes): use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`},
	}
	for _, tt := range tests {
		if err := ValidStreamName(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("ValidStreamName(%.10q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestValidStreamNameAllocs(t *testing.T) {
	name := strings.Repeat("cam-1_x.y", 7) // 63 bytes, built at run time
	if n := testing.AllocsPerRun(100, func() {
		if ValidStreamName(name) != nil {
			t.Fatal("rejected")
		}
	}); n != 0 {
		t.Errorf("%v allocations per valid name, want 0", n)
	}
}

func BenchmarkValidStreamName(b *testing.B) {
	name := "camera-01.main"
	b.ReportAllocs()
	for b.Loop() {
		if ValidStreamName(name) != nil {
			b.Fatal("rejected")
		}
	}
}
