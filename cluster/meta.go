package cluster

import (
	"encoding/binary"
	"errors"
)

// Node metadata (memberlist limits it to 512 bytes):
//
//	magic 0xCD | meta version 0x01 | epoch uvarint | region str | http str | admin str
//
// Unknown trailing bytes are ignored so a later version can append fields.
type nodeMeta struct {
	Epoch     uint64
	Region    string
	HTTPAddr  string
	AdminAddr string
}

const metaVersion = 1

var errMeta = errors.New("meta")

func (m *nodeMeta) encode() []byte {
	b := []byte{wireMagic, metaVersion}
	b = binary.AppendUvarint(b, m.Epoch)
	b = appendStr(b, m.Region)
	b = appendStr(b, m.HTTPAddr)
	return appendStr(b, m.AdminAddr)
}

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if len(b) < 2 || b[0] != wireMagic {
		return m, errMeta
	}
	if b[1] != metaVersion {
		return m, errVersion
	}
	r := reader{b: b[2:]}
	m.Epoch = r.uvarint()
	m.Region = r.str(maxRegionLen)
	m.HTTPAddr = r.str(maxAddrLen)
	m.AdminAddr = r.str(maxAddrLen)
	if r.err != nil {
		return nodeMeta{}, errMeta
	}
	return m, nil
}
