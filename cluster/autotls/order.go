package autotls

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/acme"
)

// account is this node's ACME account at one CA.
type account struct {
	client *acme.Client

	mu         sync.Mutex // serialises registration (sites share an account)
	registered bool
}

// register makes sure the account exists at the CA.
func (a *account) register(ctx context.Context, email, dir string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.registered {
		return nil
	}
	acct := &acme.Account{}
	if email != "" {
		acct.Contact = []string{"mailto:" + email}
	}
	if _, err := a.client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("account at %s: %w", dir, err)
	}
	a.registered = true
	return nil
}

// accountFor returns (creating or loading its key) this node's account at
// st's CA. Each node has its own account key: only certificate keys travel.
func (m *Manager) accountFor(st *siteState) (*account, error) {
	k := st.Directory + "\x00" + st.Email
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accounts[k]; a != nil {
		return a, nil
	}
	sum := sha256.Sum256([]byte(k))
	path := filepath.Join(m.cfg.DataDir, "accounts", hex.EncodeToString(sum[:12])+".key")
	key, err := loadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("account key: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if st.CARoots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: st.CARoots, MinVersion: tls.VersionTLS12}
	}
	a := &account{client: &acme.Client{
		Key: key, DirectoryURL: st.Directory,
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		UserAgent:  "meshcdn",
	}}
	m.accounts[k] = a
	return a, nil
}

func loadOrCreateKey(path string) (crypto.Signer, error) {
	if b, err := readLimited(path, maxKeyLen); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM key", path)
		}
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return k, writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// order runs one ACME order for st: account, order, for every pending
// authorisation a challenge whose response every member holds before the
// CA is told to validate it, then the CSR with a new key.
func (m *Manager) order(ctx context.Context, st *siteState) (*issued, error) {
	a, err := m.accountFor(st)
	if err != nil {
		return nil, err
	}
	cl := a.client
	if err := a.register(ctx, st.Email, st.Directory); err != nil {
		return nil, err
	}
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(st.names...))
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("authorization: %w", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		ch := pickChallenge(z.Challenges, st.Challenges)
		if ch == nil {
			return nil, fmt.Errorf("%s: the CA offers none of the challenges %v", z.Identifier.Value, st.Challenges)
		}
		keyAuth, err := cl.HTTP01ChallengeResponse(ch.Token) // the key authorisation, the same for TLS-ALPN-01
		if err != nil {
			return nil, err
		}
		missing := m.distribute(ctx, st, z.Identifier.Value, ch.Token, keyAuth)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			m.log.Warn("members did not confirm the challenge response in time; validating anyway (a validation that reaches them fails)",
				zap.String("site", st.Name), zap.String("name", z.Identifier.Value), zap.Strings("members", missing))
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			return nil, fmt.Errorf("%s: accept %s: %w", z.Identifier.Value, ch.Type, err)
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			return nil, fmt.Errorf("%s: %s validation: %w", z.Identifier.Value, ch.Type, err)
		}
	}
	orderURI := o.URI // a POST-as-GET answer carries no Location: keep it
	if o, err = cl.WaitOrder(ctx, orderURI); err != nil {
		return nil, fmt.Errorf("order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: st.names}, key)
	if err != nil {
		return nil, err
	}
	ders, err := finalize(ctx, cl, orderURI, o.FinalizeURL, csr)
	if err != nil {
		return nil, err
	}
	var chain []byte
	for _, d := range ders {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return parseIssued(st.id, st.names, chain, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), m.now())
}

// pickChallenge is the first of the offered challenges in our order of
// preference.
func pickChallenge(offered []*acme.Challenge, prefs []string) *acme.Challenge {
	for _, p := range prefs {
		if i := slices.IndexFunc(offered, func(c *acme.Challenge) bool { return c.Type == p }); i >= 0 {
			return offered[i]
		}
	}
	return nil
}

// finalize sends the CSR and fetches the certificate chain. A CA that
// issues asynchronously may answer the finalisation without the order's
// Location (CreateOrderCert then cannot wait for it): the order is then
// polled by its known URL and the certificate fetched.
func finalize(ctx context.Context, cl *acme.Client, orderURI, finalizeURL string, csr []byte) ([][]byte, error) {
	ders, _, err := cl.CreateOrderCert(ctx, finalizeURL, csr, true)
	if err == nil {
		return ders, nil
	}
	var ae *acme.Error
	var oe *acme.OrderError
	if errors.As(err, &ae) || errors.As(err, &oe) || ctx.Err() != nil {
		return nil, fmt.Errorf("finalize: %w", err) // the CA refused: no point polling
	}
	o, werr := cl.WaitOrder(ctx, orderURI)
	if werr != nil {
		return nil, fmt.Errorf("finalize: %v; waiting for the order: %w", err, werr)
	}
	if o.Status != acme.StatusValid || o.CertURL == "" {
		return nil, fmt.Errorf("finalize: order %s is %s", orderURI, o.Status)
	}
	ders, err = cl.FetchCert(ctx, o.CertURL, true)
	if err != nil {
		return nil, fmt.Errorf("fetch certificate: %w", err)
	}
	return ders, nil
}
