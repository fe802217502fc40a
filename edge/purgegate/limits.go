package purgegate

import (
	"errors"
	"fmt"
)

// Limits on what one purge can name: the cluster carries keys and URLs up to
// these lengths (cluster.MaxKeyLen, cluster.MaxURLLen; a test in api holds
// them equal).
const (
	// MaxKeyBytes is the longest surrogate key (Fastly's limit). Longer keys
	// in responses are ignored (they could never be purged); in a purge call
	// they are refused.
	MaxKeyBytes = 1024
	// MaxURLBytes is the longest URL a purge by URL accepts, measured as the
	// store keys it (host + path + normalised query). Longer URLs are cached
	// all the same and can be purged by key.
	MaxURLBytes = 8192
)

// CheckKey reports what is wrong with a surrogate key named in a purge: empty,
// longer than MaxKeyBytes, or holding a control character.
func CheckKey(k string) error {
	if k == "" {
		return errors.New("is empty")
	}
	if len(k) > MaxKeyBytes {
		return fmt.Errorf("is %d bytes (at most %d)", len(k), MaxKeyBytes)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == 0x7f {
			return errors.New("contains a control character")
		}
	}
	return nil
}

// CheckURLKey reports a URL cache key (store.KeyFor) too long to purge by URL.
func CheckURLKey(key string) error {
	if len(key) > MaxURLBytes {
		return fmt.Errorf("URL too long to purge by URL (%d bytes, at most %d); purge by surrogate key instead", len(key), MaxURLBytes)
	}
	return nil
}
