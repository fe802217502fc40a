// Package autotls gives every node of a cluster the same ACME (RFC 8555)
// certificates without shared storage: the cluster itself is the storage and
// the lock.
//
// For each site configured with ACME, one node orders its certificate: the
// rendezvous owner (cluster.Ranked) of the site's name set among the alive
// members. Before it asks the CA to validate a challenge, it sends the
// challenge's key authorisation to every alive member and waits for their
// acknowledgements, so whichever node the CA's validators reach answers
// HTTP-01 (/.well-known/acme-challenge/TOKEN on the HTTP listener) and
// TLS-ALPN-01 (the acme-tls/1 protocol on the HTTPS listener, with a
// certificate every node builds itself from the key authorisation). The
// issued certificate and its private key are sent to every member over the
// cluster's encrypted TCP channel and written to DataDir (mode 0600): a
// restarted node serves from disk before it rejoins, and a joining node gets
// the current certificates from every member it meets (it pushes its own,
// the newest wins).
//
// Failover: the member at rank p orders only once the certificate has been
// missing (or due for renewal) for p × OrderTimeout, so if the owner dies
// mid-order the next one takes over as soon as the cluster declares it dead
// (it is no longer ranked), and if it stays alive but fails, after a
// timeout. Renewal starts at two thirds of a certificate's lifetime, less a
// jitter derived from its serial number (every node computes the same);
// failed orders back off exponentially (BackoffMin doubling to BackoffMax).
//
// Without gossip keys the cluster's messages are not encrypted nor
// authenticated: a node then shares neither private keys nor challenge
// responses (whoever can reach the gossip port could otherwise make every
// node answer challenges for an order of its own), and orders and serves its
// certificates alone. New says so in its log.
//
// Everything received is bounded (cluster.MaxAppBody, field limits in
// wire.go) and validated before use: challenges only for configured names,
// certificates that parse, whose key matches, whose names are exactly a
// configured site's, and that are valid now.
package autotls
