// Package purgegate is the one way in for purges on both listeners of a
// node: PURGE on the edge listener (package edge) and the purge calls of the
// admin listener (package api). It owns, once for both:
//
//   - authentication: the purge token, read from Fastly-Key or
//     Authorization: Bearer one way (Token), compared in constant time as
//     SHA-256 hashes (Gate.Check);
//   - the allow-list: client addresses allowed to purge without the token,
//     checked against the client address — when the socket peer is a trusted
//     proxy, the address that proxy reports, resolved by the same resolver
//     that finds the client for geo (*geo.Resolver, ClientResolver);
//   - the answer to a refused call (status, WWW-Authenticate, JSON body) and
//     the metric reason labels (Reasons), so both listeners refuse alike;
//   - the limits a purge must stay within (MaxKeyBytes, MaxURLBytes: what
//     the cluster carries);
//   - the local fallback of a node without a cluster (Local), whose ids have
//     the cluster's shape.
//
// It imports store and nothing else of ours, so that edge and api (and
// edge/httpcache, for the key limit) can use it: a leaf below both
// listeners. Each listener keeps its own metric name
// (meshcdn_edge_purge_denied_total, meshcdn_api_purge_denied_total); the
// reason labels are these.
package purgegate
