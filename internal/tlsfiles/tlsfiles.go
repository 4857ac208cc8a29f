// Package tlsfiles is certflow's TLS from files: the gateway's serving
// certificate, re-read when its files change (or on demand, on SIGHUP)
// without a restart, and the CA bundles the outbound clients (the CA, the
// payment provider) verify their servers with. It never turns certificate
// verification off: no configuration here sets InsecureSkipVerify.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
)

// MinVersion is the lowest TLS version certflow speaks, as a server and as
// a client.
const MinVersion = tls.VersionTLS12

// stamp identifies one version of a file: a replaced file (a new inode, as
// after a rename or a Kubernetes secret's symlink swap), a rewritten one (a
// new mtime or size) both differ.
type stamp struct {
	info os.FileInfo
}

func (s stamp) same(o stamp) bool {
	if s.info == nil || o.info == nil {
		return s.info == o.info
	}
	return os.SameFile(s.info, o.info) && s.info.ModTime().Equal(o.info.ModTime()) && s.info.Size() == o.info.Size()
}

// CertFiles is a serving certificate read from a PEM certificate (chain)
// file and a PEM key file. GetCertificate checks the files' stamps at each
// handshake and re-reads them when either changed; a pair that does not
// load (say, the certificate replaced and the key not yet) keeps the
// previous certificate in use and is tried again at the next handshake. It
// is safe for concurrent use.
type CertFiles struct {
	certFile, keyFile string
	// OnReload, when set, is told of each reload: the new certificate, or
	// the error that kept the previous one (once per version of the files).
	OnReload func(cert *x509.Certificate, err error)

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp stamp
	keyStamp  stamp
	failed    [2]stamp // the stamps of the last pair that failed to load
}

// LoadCertFiles reads the pair; it fails when the files cannot be read or
// do not make a certificate and its key.
func LoadCertFiles(certFile, keyFile string) (*CertFiles, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a TLS certificate needs both its certificate file and its key file")
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile}
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ks, err := c.stamps()
	if err != nil {
		return nil, err
	}
	if err := c.load(cs, ks, false); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload re-reads the files now (SIGHUP); its caller reports the outcome
// (OnReload is not told). On error the previous certificate stays in use.
func (c *CertFiles) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ks, err := c.stamps()
	if err != nil {
		return err
	}
	return c.load(cs, ks, false)
}

func (c *CertFiles) stamps() (cs, ks stamp, err error) {
	ci, err := os.Stat(c.certFile)
	if err != nil {
		return stamp{}, stamp{}, fmt.Errorf("TLS certificate file: %w", err)
	}
	ki, err := os.Stat(c.keyFile)
	if err != nil {
		return stamp{}, stamp{}, fmt.Errorf("TLS key file: %w", err)
	}
	return stamp{ci}, stamp{ki}, nil
}

// load reads the pair whose stamps are cs and ks, telling OnReload when
// notify is set; c.mu is held.
func (c *CertFiles) load(cs, ks stamp, notify bool) error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err == nil && pair.Leaf == nil {
		pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	}
	if err != nil {
		err = fmt.Errorf("loading the TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
		if !(c.failed[0].same(cs) && c.failed[1].same(ks)) {
			c.failed = [2]stamp{cs, ks}
			if notify && c.OnReload != nil && c.cert != nil {
				c.OnReload(nil, err)
			}
		}
		return err
	}
	first := c.cert == nil
	c.cert, c.certStamp, c.keyStamp, c.failed = &pair, cs, ks, [2]stamp{}
	if notify && c.OnReload != nil && !first {
		c.OnReload(pair.Leaf, nil)
	}
	return nil
}

// Certificate is the certificate in use, re-read first if its files
// changed.
func (c *CertFiles) Certificate() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ks, err := c.stamps()
	if err == nil && !(cs.same(c.certStamp) && ks.same(c.keyStamp)) && !(c.failed[0].same(cs) && c.failed[1].same(ks)) {
		_ = c.load(cs, ks, true) // on error the previous certificate serves on
	}
	return c.cert
}

// GetCertificate is tls.Config.GetCertificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.Certificate(), nil
}

// ServerConfig is a server's TLS configuration serving c.
func (c *CertFiles) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: MinVersion, GetCertificate: c.GetCertificate}
}

// CAPool reads a PEM bundle of CA certificates; a file without one is an
// error (a wrong path must not mean "trust nothing" silently, nor
// "trust the system").
func CAPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", file)
	}
	return pool, nil
}

// ClientConfig is an outbound client's TLS configuration: TLS 1.2 or
// later, servers verified against the bundle of caFile, or against the
// system's roots when caFile is empty.
func ClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: MinVersion}
	if caFile != "" {
		pool, err := CAPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
