package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
)

// newPolicy turns the security settings of cfg into the guard's policy.
func newPolicy(cfg *config.Config) *guard.Policy {
	a, l := cfg.Auth, cfg.Limits
	p := &guard.Policy{
		PublishKey: a.PublishKey,
		Publish: guard.ACL{Allow: cidrs(a.PublishAllow, guard.Loopback), Deny: cidrs(a.PublishDeny, nil),
			Setting: "auth.publish_allow"},
		TokenSecret:      []byte(a.TokenSecret),
		Play:             guard.ACL{Allow: cidrs(a.PlayAllow, nil), Deny: cidrs(a.PlayDeny, nil), Setting: "auth.play_allow"},
		APIToken:         a.APIToken,
		APIUser:          a.APIUser,
		APIPassword:      a.APIPassword,
		MaxStreams:       l.MaxStreams,
		MaxViewers:       l.MaxViewers,
		ConnsPerIP:       l.ConnsPerIP,
		Exempt:           cidrs(l.ConnsPerIPExempt, nil),
		ViewerMaxMessage: int64(l.ViewerMaxMessage),
		Stream: func(name string) guard.StreamPolicy {
			o := cfg.Stream(name)
			return guard.StreamPolicy{Key: o.PublishKey, Token: o.PlayToken == config.On, MaxViewers: o.MaxViewers,
				MaxRate: int64(o.MaxPublishRate), IdleTimeout: time.Duration(o.PublishIdleTimeout)}
		},
	}
	for i, in := range cfg.Ingest {
		p.Ingest = append(p.Ingest, guard.ACL{Allow: cidrs(in.Allow, guard.Loopback), Deny: cidrs(in.Deny, nil),
			Setting: fmt.Sprintf("ingest[%d].allow", i)})
	}
	return p
}

// cidrs parses a validated list; nil takes def.
func cidrs(list, def []string) []netip.Prefix {
	if list == nil {
		list = def
	}
	p, _ := guard.ParseCIDRs(list) // validated with the config
	return p
}

// tlsListener wraps l in TLS with the node's certificates.
func (n *Node) tlsListener(l net.Listener) (net.Listener, error) {
	if n.certs == nil {
		return nil, errors.New("TLS needs http.tls_cert and http.tls_key")
	}
	return tls.NewListener(l, n.certs.TLSConfig()), nil
}

// loadCerts loads the TLS pair when the configuration names one.
func (n *Node) loadCerts() error {
	if n.cfg.HTTP.TLSCert == "" {
		return nil
	}
	c, err := guard.LoadCerts(n.cfg.HTTP.TLSCert, n.cfg.HTTP.TLSKey, n.log)
	if err != nil {
		return fmt.Errorf("http.tls_cert: %w", err)
	}
	n.certs = c
	return nil
}

// Reload applies cfg's keys, tokens, allow-lists and limits at once, and
// the stream options of streams created from now on. Listeners, relay
// links and the node name stay as they started: a change there is
// reported and needs a restart. The TLS certificate files are read again.
// Nothing changes when cfg is invalid.
func (n *Node) Reload(cfg *config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	old := n.live.Load()
	n.guard.SetPolicy(newPolicy(cfg))
	n.live.Store(cfg)
	if n.certs != nil {
		if err := n.certs.Reload(); err != nil {
			n.log.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
		}
	}
	var restart []string
	if !slices.EqualFunc(old.Ingest, cfg.Ingest, ingestSame) || !slices.Equal(old.Play, cfg.Play) {
		restart = append(restart, "listeners")
	}
	if old.HTTP != cfg.HTTP {
		restart = append(restart, "http")
	}
	if !relaysSame(old, cfg) {
		restart = append(restart, "push and pull links")
	}
	if len(restart) > 0 {
		n.log.Warn("configuration reloaded; these changes need a restart", "unapplied", restart)
	} else {
		n.log.Info("configuration reloaded")
	}
	return nil
}

// ingestSame compares ingest listeners but their allow-lists, which reload.
func ingestSame(a, b config.Ingest) bool {
	return a.Listen == b.Listen && a.Stream == b.Stream && slices.Equal(a.Protocols, b.Protocols)
}

func relaysSame(a, b *config.Config) bool {
	if !slices.EqualFunc(a.Pulls, b.Pulls, func(x, y config.Pull) bool {
		return x.Stream == y.Stream && slices.Equal(x.From, y.From) && x.Order == y.Order && x.Reliable == y.Reliable &&
			x.Static == y.Static && x.StartTimeout == y.StartTimeout && x.Linger == y.Linger
	}) {
		return false
	}
	names := make(map[string]bool)
	for name := range a.Streams {
		names[name] = true
	}
	for name := range b.Streams {
		names[name] = true
	}
	for name := range names {
		oa, ob := a.Stream(name), b.Stream(name)
		if !slices.Equal(oa.Push, ob.Push) || !slices.Equal(oa.Pull, ob.Pull) || oa.PullOrder != ob.PullOrder {
			return false
		}
	}
	return true
}
