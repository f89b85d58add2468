package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Side by side: every run of tsstream is paired with a run of the
// reference fan-out (reference.go) under the same load, one after the
// other on fresh processes, alternating which goes first, so that every
// figure comes with its ratio to the reference from the same moment of a
// shared, noisy machine. Each pair prints a "compare" line; after -runs
// pairs, a "summary" line holds the medians of both and of the ratios.

// system is a relay under test.
type system struct {
	name  string
	start func() (*relay, error)
}

// scenario is extra load on top of the measured viewers.
type scenario struct {
	name string
	slow int // viewers reading at a tenth of the stream rate
	late int // viewers joining all at once in the middle of the window
}

// scenarios are the names -scenario accepts.
func scenarios(slow, late int) map[string]scenario {
	return map[string]scenario{
		"base": {name: "base"},
		"slow": {name: "slow", slow: slow},
		"late": {name: "late", late: late},
	}
}

// ratioKeys are the figures whose tsstream/reference ratio is printed.
var ratioKeys = []string{"cpu_seconds_per_gb", "cpu_user_s", "cpu_sys_s", "delay_p50_ms", "delay_p99_ms",
	"delay_max_ms", "rss_peak_mib", "connect_p50_ms", "connect_p99_ms", "goodput_min", "late_ttff_p50_ms",
	"late_ttff_p99_ms", "delay_p99_first_ms", "delay_p99_second_ms", "delay_p99_rise", "tcp_mem_mib", "slow_delay_p50_ms"}

// ratioPairs are the ratios each line carries: name, numerator and
// denominator system.
var ratioPairs = map[string][2]string{
	"ratio":                 {"tsstream", "reference"},
	"candidate_ratio":       {"candidate", "reference"},
	"candidate_vs_tsstream": {"candidate", "tsstream"},
	"burst_ratio":           {"tsstream", "no_gop"},
}

// noGOP is the control of the late scenario: tsstream with its GOP cache
// off, so that the same late joiners get no burst and wait for a keyframe.
const noGOP = "no_gop"

// systems returns tsstream (with a TCP play listener and -stream-defaults,
// from a config file in dir), its no-GOP-cache control when a scenario has
// late joiners, and, unless o.noReference, the reference.
func systems(o options, dir string) ([]system, error) {
	relayOf := func(name, bin string, defaults ...string) (system, error) {
		cfg := filepath.Join(dir, name+".yaml")
		text := "play:\n  - listen: 127.0.0.1:0\n    protocol: tcp\n"
		if defaults = slices.DeleteFunc(defaults, func(s string) bool { return s == "" }); len(defaults) > 0 {
			text += "stream_defaults: {" + strings.Join(defaults, ", ") + "}\n"
		}
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			return system{}, err
		}
		return system{name: name, start: func() (*relay, error) {
			args := []string{"-http", "127.0.0.1:0", "-ingest", "127.0.0.1:0", "-ws", "", "-log-level", "info", "-config", cfg}
			return startProcess(bin, args, true)
		}}, nil
	}
	ts, err := relayOf("tsstream", o.bin, o.streamDefaults)
	if err != nil {
		return nil, err
	}
	syss := []system{ts}
	if o.candidate != "" {
		c, err := relayOf("candidate", o.candidate, o.streamDefaults)
		if err != nil {
			return nil, err
		}
		syss = append(syss, c)
	}
	if slices.ContainsFunc(o.scenarios, func(sc scenario) bool { return sc.late > 0 }) {
		c, err := relayOf(noGOP, o.bin, o.streamDefaults, "gop_cache: off")
		if err != nil {
			return nil, err
		}
		syss = append(syss, c)
	}
	if o.noReference {
		return syss, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding tsbench's own binary for the reference: %w", err)
	}
	ref := system{name: "reference", start: func() (*relay, error) {
		return startProcess(self, []string{"-reference-serve"}, true)
	}}
	return append(syss, ref), nil
}

// runCompare does every run and prints the lines; it returns the exit code.
func runCompare(o options) int {
	dir, err := os.MkdirTemp("", "tsbench")
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer os.RemoveAll(dir)
	syss, err := systems(o, dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	var summaries []map[string]any
	for _, sc := range o.scenarios {
		for _, proto := range o.protos {
			for _, n := range o.viewers {
				runs := make([]map[string]any, 0, o.runs)
				for i := range o.runs {
					line, err := comparePair(o, syss, sc, proto, n, i)
					if err != nil {
						logf("%s %s %d viewers: %v", sc.name, proto, n, err)
						return 1
					}
					enc.Encode(line)
					runs = append(runs, line)
				}
				sum := summarize3(runs)
				enc.Encode(sum)
				summaries = append(summaries, sum)
			}
		}
	}
	if o.plot != "" {
		if err := os.WriteFile(o.plot, []byte(plotSVG(summaries)), 0o644); err != nil {
			logf("writing the plot: %v", err)
			return 1
		}
	}
	return 0
}

// comparePair runs each system once, the order alternating with i.
func comparePair(o options, syss []system, sc scenario, proto string, n, i int) (map[string]any, error) {
	line := map[string]any{"mode": "compare", "scenario": sc.name, "protocol": proto, "viewers": n,
		"run": i + 1, "loadavg": loadavg()}
	order := slices.DeleteFunc(slices.Clone(syss), func(s system) bool { return s.name == noGOP && sc.late == 0 })
	if i%2 == 1 {
		slices.Reverse(order)
	}
	if len(order) > 2 { // rotate three systems too, so each goes first in turn
		k := i % len(order)
		order = append(order[k:], order[:k]...)
	}
	for _, sys := range order {
		res, err := bench(o, sys, sc, proto, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sys.name, err)
		}
		line[sys.name] = toMap(res)
		if tl := res.timeline; tl != nil {
			tl.System, tl.Scenario, tl.Protocol, tl.Viewers, tl.Run = sys.name, sc.name, proto, n, i+1
			if err := appendTimeline(o.timeline, tl); err != nil {
				return nil, fmt.Errorf("-timeline: %w", err)
			}
		}
	}
	for key, pair := range ratioPairs {
		a, ok1 := line[pair[0]].(map[string]any)
		b, ok2 := line[pair[1]].(map[string]any)
		if ok1 && ok2 {
			line[key] = ratios(a, b)
		}
	}
	return line, nil
}

// toMap turns a result into its JSON object.
func toMap(r result) map[string]any {
	b, _ := json.Marshal(r)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// ratios divides tsstream's figures by the reference's.
func ratios(ts, ref map[string]any) map[string]float64 {
	out := map[string]float64{}
	for _, k := range ratioKeys {
		a, ok1 := ts[k].(float64)
		b, ok2 := ref[k].(float64)
		if ok1 && ok2 && b != 0 {
			out[k] = round3(a / b)
		}
	}
	return out
}

// summarize3 takes the medians over the runs of every number of each
// system's figures, and of the ratios.
func summarize3(runs []map[string]any) map[string]any {
	first := runs[0]
	sum := map[string]any{"mode": "summary", "scenario": first["scenario"], "protocol": first["protocol"],
		"viewers": first["viewers"], "runs": len(runs)}
	var loads []string
	for _, r := range runs {
		loads = append(loads, r["loadavg"].(string))
	}
	sum["loadavg"] = loads
	for _, key := range []string{"tsstream", "candidate", noGOP, "reference", "ratio", "candidate_ratio",
		"candidate_vs_tsstream", "burst_ratio"} {
		med := map[string]float64{}
		vals := map[string][]float64{}
		for _, r := range runs {
			m, _ := json.Marshal(r[key])
			var nums map[string]any
			json.Unmarshal(m, &nums)
			for k, v := range nums {
				if f, ok := v.(float64); ok {
					vals[k] = append(vals[k], f)
				}
			}
		}
		for k, v := range vals {
			med[k] = median(v)
		}
		if len(med) > 0 {
			sum[key] = med
		}
	}
	return sum
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return round6((s[len(s)/2-1] + s[len(s)/2]) / 2)
}

// loadavg returns the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// addSlow records what became of the slow viewers.
func (r *result) addSlow(slow []*viewer, pub pubResult, stopAt time.Duration) {
	if len(slow) == 0 {
		return
	}
	r.SlowViewers = len(slow)
	var got int64
	var delay histogram
	for _, v := range slow {
		if v.endAt < stopAt {
			r.SlowCut++
		}
		got += v.st.total
		delay.merge(&v.st.halves[1])
	}
	r.SlowDelayP50MS = round3(delay.quantile(0.5).Seconds() * 1e3)
	r.SlowDelayMaxMS = round3(delay.max.Seconds() * 1e3)
	if pub.total > 0 {
		r.SlowShare = round3(float64(got) / float64(len(slow)) / float64(pub.total))
	}
}

// addLate records the late joiners: how many connected and how soon each
// had a first frame after its dial.
func (r *result) addLate(late joinResult, want int) {
	if want == 0 {
		return
	}
	r.LateJoined = len(late.DialAt)
	var ttff []time.Duration
	for i, first := range late.FirstAt {
		if first >= 0 {
			ttff = append(ttff, first-late.DialAt[i])
		}
	}
	r.LateNoFrame = len(late.DialAt) - len(ttff)
	ms := func(d time.Duration) float64 { return round3(d.Seconds() * 1e3) }
	r.LateTTFFP50MS = ms(percentile(ttff, 0.5))
	r.LateTTFFP99MS = ms(percentile(ttff, 0.99))
	r.LateTTFFMaxMS = ms(percentile(ttff, 1))
}
