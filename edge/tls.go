package edge

import (
	"crypto/tls"
	"net/http"
)

// CertSource gives the certificate for a TLS handshake, chosen by the
// client's hello (its server name). certs.Store implements it from files;
// an ACME client can implement it too.
type CertSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// tls12Suites are the TLS 1.2 cipher suites the HTTPS listener offers:
// forward-secret AEAD only (no CBC, no RSA key exchange). TLS 1.3 suites
// are not configurable and all modern.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig is the configuration of an HTTPS listener in front of the
// proxy: certificates from src, TLS 1.2 at least (AEAD suites), HTTP/2 and
// HTTP/1.1 offered by ALPN.
func TLSConfig(src CertSource) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: src.GetCertificate,
	}
}

// ServeProtocols are the protocols of the HTTPS listener's http.Server:
// HTTP/1.1 and HTTP/2 over TLS (Server.ServeTLS).
func ServeProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return p
}
