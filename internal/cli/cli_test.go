package cli

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/tsstream/tsstream/internal/config"
)

// TestFlagsOverrideConfig: only flags given explicitly change the
// configuration, and -stream, -ingest and -ws act on the default stream's
// listeners only.
func TestFlagsOverrideConfig(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		ingest []config.Ingest
		play   []config.Play
		check  func(*config.Config) string
	}{
		{
			name:   "no flags keep the defaults",
			ingest: []config.Ingest{{Listen: ":50001", Stream: "live", Protocols: []string{"tcp", "udp"}}},
			play:   []config.Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}},
		},
		{
			name:   "-stream renames the default stream's listeners",
			args:   []string{"-stream", "cam"},
			ingest: []config.Ingest{{Listen: ":50001", Stream: "cam", Protocols: []string{"tcp", "udp"}}},
			play:   []config.Play{{Listen: ":50002", Stream: "cam", Protocol: "ws"}},
		},
		{
			name:   "empty -ingest and -ws disable them",
			args:   []string{"-ingest", "", "-ws", ""},
			ingest: []config.Ingest{},
			play:   []config.Play{},
		},
		{
			name:   "-ingest moves the default ingest",
			args:   []string{"-ingest", "127.0.0.1:9000", "-http", "127.0.0.1:0", "-name", "edge"},
			ingest: []config.Ingest{{Listen: "127.0.0.1:9000", Stream: "live", Protocols: []string{"tcp", "udp"}}},
			play:   []config.Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}},
			check: func(c *config.Config) string {
				if c.HTTP.Listen != "127.0.0.1:0" || c.Name != "edge" {
					return "-http or -name not applied"
				}
				return ""
			},
		},
		{
			name:   "-report-to sets monitor.report_to",
			args:   []string{"-report-to", "http://monitor:8088"},
			ingest: []config.Ingest{{Listen: ":50001", Stream: "live", Protocols: []string{"tcp", "udp"}}},
			play:   []config.Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}},
			check: func(c *config.Config) string {
				if c.Monitor.ReportTo != "http://monitor:8088" {
					return "monitor.report_to = " + c.Monitor.ReportTo
				}
				return ""
			},
		},
		{
			name:   "-pull makes an edge for any stream, sources in order",
			args:   []string{"-pull", "http://a:8088/live/{stream}.ts", "-pull", "http://b:8088/live/{stream}.ts"},
			ingest: []config.Ingest{{Listen: ":50001", Stream: "live", Protocols: []string{"tcp", "udp"}}},
			play:   []config.Play{{Listen: ":50002", Stream: "live", Protocol: "ws"}},
			check: func(c *config.Config) string {
				want := []config.Pull{{Stream: "*", From: []string{"http://a:8088/live/{stream}.ts", "http://b:8088/live/{stream}.ts"}}}
				if !reflect.DeepEqual(c.Pulls, want) {
					return fmt.Sprintf("pulls = %+v, want %+v", c.Pulls, want)
				}
				return ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Ingest, tt.ingest) && !(len(cfg.Ingest) == 0 && len(tt.ingest) == 0) {
				t.Errorf("ingest = %+v, want %+v", cfg.Ingest, tt.ingest)
			}
			if !reflect.DeepEqual(cfg.Play, tt.play) && !(len(cfg.Play) == 0 && len(tt.play) == 0) {
				t.Errorf("play = %+v, want %+v", cfg.Play, tt.play)
			}
			if tt.check != nil {
				if msg := tt.check(cfg); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-stream", "a/b"}, {"-log-level", "loud"}, {"-report-to", "monitor:8088"},
		{"-pull", "ftp://x/{stream}"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != exitInvalid || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, code, errb.String())
		}
	}
}
