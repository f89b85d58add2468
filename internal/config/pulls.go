package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/pull"
)

// Pull is a rule of the top-level "pulls" list: the streams it names are
// fetched from upstream sources, by default on demand (while someone
// watches), and the first rule that matches a stream wins. Streams with
// streams.NAME.pull are not covered by any rule.
type Pull struct {
	// Stream is a stream name, or a pattern in which * stands for any run
	// of name characters ("*" is every stream, "cam-*"); required.
	Stream string `yaml:"stream"`
	// From lists the upstream URLs, tried in turn; {stream} is replaced by
	// the stream's name: http://origin:8088/live/{stream}.ts; required.
	From []string `yaml:"from"`
	// Order is failover (default) or round-robin.
	Order string `yaml:"order"`
	// Reliable makes the links resume after a disconnect at the exact
	// byte they reached, while the upstream's ring still holds it (give
	// the upstream a ring_age or ring_bytes that covers the outages);
	// otherwise a link restarts at the next keyframe (default false).
	Reliable bool `yaml:"reliable"`
	// Static pulls the stream always, not only while someone watches;
	// Stream must then be a name, not a pattern (default false).
	Static bool `yaml:"static"`
	// StartTimeout is how long a viewer waits for an on-demand stream to
	// start before it gets an error (default 5s); Linger how long the pull
	// goes on after the last viewer left (default 10s).
	StartTimeout Duration `yaml:"start_timeout"`
	Linger       Duration `yaml:"linger"`
}

// maxPullWait bounds start_timeout and linger.
const maxPullWait = Duration(time.Hour)

// pulls checks the pull rules.
func (v *validator) pulls(list []Pull) {
	for i, p := range list {
		path := indexPath("pulls", i)
		switch {
		case p.Stream == "":
			v.failf(path+".stream", `required: a stream name, or a pattern such as "*" or "cam-*"`)
		case p.Static && strings.Contains(p.Stream, "*"):
			v.failf(path+".stream", "%q: a static pull names one stream; patterns are for on-demand pulls", p.Stream)
		case ValidStreamName(strings.ReplaceAll(p.Stream, "*", "x")) != nil:
			v.failf(path+".stream", "%q: use a stream name (1-64 of A-Z a-z 0-9 _ - ., not starting with \".\") "+
				"in which * stands for any run of those characters", p.Stream)
		}
		if len(p.From) == 0 {
			v.failf(path+".from", "required: upstream URLs such as http://origin:8088/live/{stream}.ts")
		}
		for j, u := range p.From {
			if _, err := pull.ParseSource(strings.ReplaceAll(u, "{stream}", "x")); err != nil {
				v.failf(fmt.Sprintf("%s.from[%d]", path, j), "%w", err)
			}
		}
		if p.Order != "" {
			v.oneOf(path+".order", p.Order, []string{"failover", "round-robin"})
		}
		if p.StartTimeout != 0 {
			v.duration(path+".start_timeout", p.StartTimeout, maxPullWait)
		}
		if p.Linger != 0 {
			v.duration(path+".linger", p.Linger, maxPullWait)
		}
	}
}
