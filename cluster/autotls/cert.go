package autotls

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// issued is one ACME certificate as this node holds it.
type issued struct {
	id      string
	chain   []byte // PEM
	key     []byte // PEM
	cert    *tls.Certificate
	renewAt time.Time
}

func (c *issued) notAfter() time.Time { return c.cert.Leaf.NotAfter }

// parseIssued validates a certificate for the site whose names are names:
// the chain and key parse, the key matches the leaf, the leaf's DNS names
// are exactly names, and it is valid at now.
func parseIssued(id string, names []string, chain, key []byte, now time.Time) (*issued, error) {
	c, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("certificate and key: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
	}
	got := make([]string, len(c.Leaf.DNSNames))
	for i, n := range c.Leaf.DNSNames {
		got[i] = strings.ToLower(n)
	}
	slices.Sort(got)
	if !slices.Equal(slices.Compact(got), names) {
		return nil, fmt.Errorf("certificate names %v are not the site's %v", c.Leaf.DNSNames, names)
	}
	if now.Before(c.Leaf.NotBefore) || !now.Before(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("certificate not valid now (%s to %s)", c.Leaf.NotBefore.Format(time.RFC3339), c.Leaf.NotAfter.Format(time.RFC3339))
	}
	return &issued{id: id, chain: chain, key: key, cert: &c, renewAt: renewAt(c.Leaf)}, nil
}

// renewAt is two thirds into the certificate's lifetime, less a jitter of
// up to 1/30 of the lifetime derived from the serial number: every node
// computes the same time, and certificates issued together spread out.
func renewAt(leaf *x509.Certificate) time.Time {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	sum := sha256.Sum256(leaf.SerialNumber.Bytes())
	frac := float64(binary.BigEndian.Uint64(sum[:8])>>11) / float64(1<<53) // [0, 1)
	jitter := time.Duration(frac * float64(life) / 30)
	return leaf.NotBefore.Add(life*2/3 - jitter)
}

// --- disk ---

// certFile is where the certificate of id lives in dir.
func certFile(dir, id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(dir, "certs", hex.EncodeToString(sum[:12])+".pem")
}

// save writes the chain and key into one PEM file (mode 0600), atomically.
func save(dir string, c *issued) error {
	path := certFile(dir, c.id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b bytes.Buffer
	b.Write(c.chain)
	if len(c.chain) > 0 && c.chain[len(c.chain)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.Write(c.key)
	return writeFile(path, b.Bytes())
}

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// load reads the certificate of id from dir (nil, nil when there is none).
func load(dir, id string, names []string, now time.Time) (*issued, error) {
	path := certFile(dir, id)
	b, err := readLimited(path, maxChainLen+maxKeyLen)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	chain, key := splitPEM(b)
	c, err := parseIssued(id, names, chain, key, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// splitPEM separates certificate blocks from the private key block.
func splitPEM(b []byte) (chain, key []byte) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return chain, key
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, pem.EncodeToMemory(blk)...)
		} else if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			key = pem.EncodeToMemory(blk)
		}
	}
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
