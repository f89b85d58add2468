package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLI runs the binary's one-shot modes and checks exit codes and output.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"good.yaml": "name: good\nhttp:\n  listen: 127.0.0.1:0\nstream_defaults:\n  format: ts\n",
		// An unknown key on line 3 and a bad format on line 5.
		"bad.yaml": "name: bad\nhttp:\n  lisen: 127.0.0.1:0\nstream_defaults:\n  format: mp4\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings stdout must contain
		stderr     []string // substrings stderr must contain
		quietError bool     // stderr must be empty
	}{
		{name: "version", args: []string{"-version"}, code: 0, stdout: []string{"tsstream "}, quietError: true},
		{name: "check good config", args: []string{"-check", "-config", filepath.Join(dir, "good.yaml")},
			code: 0, stdout: []string{"good.yaml: ok"}, quietError: true},
		{name: "check bad config", args: []string{"-check", "-config", filepath.Join(dir, "bad.yaml")},
			code: 2, stderr: []string{"bad.yaml:3: http.lisen: unknown key", "bad.yaml:5: stream_defaults.format:", `"mp4"`}},
		{name: "check missing config", args: []string{"-check", "-config", filepath.Join(dir, "missing.yaml")},
			code: 2, stderr: []string{"missing.yaml"}},
		{name: "positional argument", args: []string{"extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{name: "unknown flag", args: []string{"-bogus"}, code: 2, stderr: []string{"-bogus"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runTool(t, 10*time.Second, binary, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout %q does not contain %q", stdout, want)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not contain %q", stderr, want)
				}
			}
			if tc.quietError && stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
		})
	}
}
