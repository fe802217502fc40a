package cluster

import (
	"encoding/binary"
	"errors"
)

// Node metadata (memberlist limits it to 512 bytes):
//
//	magic 0xCD | meta version 0x01 | epoch uvarint | region str | http str | admin str | flags uvarint
//
// Flag 1: the node is leaving (set just before a graceful leave, so that
// peers can tell "left" from "failed"). Unknown trailing bytes are ignored
// so a later version can append fields.
type nodeMeta struct {
	Epoch     uint64
	Region    string
	HTTPAddr  string
	AdminAddr string
	Leaving   bool
}

const metaLeaving = 1

const metaVersion = 1

var errMeta = errors.New("meta")

func (m *nodeMeta) encode() []byte {
	b := []byte{wireMagic, metaVersion}
	b = binary.AppendUvarint(b, m.Epoch)
	b = appendStr(b, m.Region)
	b = appendStr(b, m.HTTPAddr)
	b = appendStr(b, m.AdminAddr)
	var fl uint64
	if m.Leaving {
		fl |= metaLeaving
	}
	return binary.AppendUvarint(b, fl)
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
	m.Leaving = r.uvarint()&metaLeaving != 0
	if r.err != nil {
		return nodeMeta{}, errMeta
	}
	return m, nil
}
