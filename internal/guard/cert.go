package guard

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certCheckEvery is how often Certificate looks at the files' times.
const certCheckEvery = 10 * time.Second

// Certs serves a TLS certificate from a pair of PEM files and reloads it
// when the files change (checked at most every 10 s, on a handshake) or
// when Reload is called (on SIGHUP). A pair that does not load is logged
// and the previous certificate stays in use.
type Certs struct {
	// Static after construction.
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]

	mu        sync.Mutex // guards the fields below and serialises loading
	checkedAt time.Time
	modCert   time.Time
	modKey    time.Time
}

// LoadCerts loads the pair once; the error says which file is wrong.
func LoadCerts(certFile, keyFile string, log *slog.Logger) (*Certs, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Certs{certFile: certFile, keyFile: keyFile, log: log}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the pair; call with c.mu held.
func (c *Certs) load() error {
	mc, mk := modTime(c.certFile), modTime(c.keyFile)
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&pair)
	c.modCert, c.modKey, c.checkedAt = mc, mk, time.Now()
	return nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// Reload reads the files again now.
func (c *Certs) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.load()
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	if time.Since(c.checkedAt) >= certCheckEvery {
		c.checkedAt = time.Now()
		if !modTime(c.certFile).Equal(c.modCert) || !modTime(c.keyFile).Equal(c.modKey) {
			if err := c.load(); err != nil {
				c.log.Error("TLS certificate not reloaded; keeping the previous one", "err", err)
			} else {
				c.log.Info("TLS certificate reloaded", "cert", c.certFile)
			}
		}
	}
	c.mu.Unlock()
	return c.cert.Load(), nil
}

// TLSConfig returns a server configuration that serves these certificates.
func (c *Certs) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
}
