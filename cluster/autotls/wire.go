package autotls

import (
	"encoding/binary"
	"errors"
)

// Kind is the cluster application-message kind of this package.
const Kind byte = 'T'

// Message types (the body's first byte).
const (
	msgChallenge    = 1 // id, domain, token, key authorisation, expiry (unix seconds)
	msgChallengeAck = 2 // token
	msgCert         = 3 // id, certificate chain PEM, private key PEM
	msgSync         = 4 // (empty): send me your certificates
)

// Field bounds.
const (
	maxIDLen      = 64 << 10 // the joined names of a site (256 names of 255 bytes)
	maxDomainLen  = 253
	maxTokenLen   = 256
	maxKeyAuthLen = 512
	maxChainLen   = 64 << 10
	maxKeyLen     = 8 << 10
)

var errWire = errors.New("autotls: malformed message")

type wireMsg struct {
	Type    byte
	ID      string // certificate id (the site's sorted names)
	Domain  string
	Token   string
	KeyAuth string
	Expires int64
	Chain   []byte
	Key     []byte
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encode(m *wireMsg) []byte {
	b := []byte{m.Type}
	switch m.Type {
	case msgChallenge:
		b = appendBytes(b, []byte(m.ID))
		b = appendBytes(b, []byte(m.Domain))
		b = appendBytes(b, []byte(m.Token))
		b = appendBytes(b, []byte(m.KeyAuth))
		b = binary.AppendVarint(b, m.Expires)
	case msgChallengeAck:
		b = appendBytes(b, []byte(m.Token))
	case msgCert:
		b = appendBytes(b, []byte(m.ID))
		b = appendBytes(b, m.Chain)
		b = appendBytes(b, m.Key)
	}
	return b
}

type rd struct {
	b   []byte
	bad bool
}

func (r *rd) bytes(max int) []byte {
	if r.bad {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(max) || n > uint64(len(r.b)-k) {
		r.bad = true
		return nil
	}
	out := append([]byte(nil), r.b[k:k+int(n)]...)
	r.b = r.b[k+int(n):]
	return out
}

func (r *rd) str(max int) string { return string(r.bytes(max)) }

func (r *rd) varint() int64 {
	if r.bad {
		return 0
	}
	v, k := binary.Varint(r.b)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[k:]
	return v
}

// decode parses a message strictly: known type, every field within its
// bound, no trailing bytes. It never panics.
func decode(b []byte) (wireMsg, error) {
	var m wireMsg
	if len(b) == 0 {
		return m, errWire
	}
	m.Type = b[0]
	r := rd{b: b[1:]}
	switch m.Type {
	case msgChallenge:
		m.ID = r.str(maxIDLen)
		m.Domain = r.str(maxDomainLen)
		m.Token = r.str(maxTokenLen)
		m.KeyAuth = r.str(maxKeyAuthLen)
		m.Expires = r.varint()
	case msgChallengeAck:
		m.Token = r.str(maxTokenLen)
	case msgCert:
		m.ID = r.str(maxIDLen)
		m.Chain = r.bytes(maxChainLen)
		m.Key = r.bytes(maxKeyLen)
	case msgSync:
	default:
		return wireMsg{}, errWire
	}
	if r.bad || len(r.b) != 0 {
		return wireMsg{}, errWire
	}
	return m, nil
}
