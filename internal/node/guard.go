package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
		ReportToken:      a.ReportToken,
		ReportAllow:      cidrs(a.ReportAllow, guard.Loopback),
		TrustedProxies:   cidrs(cfg.TrustedProxies, nil),
		ForwardedHeader:  guard.HeaderXForwardedFor,
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
	if cfg.ForwardedHeader == config.ForwardedRFC7239 {
		p.ForwardedHeader = guard.HeaderForwarded
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
