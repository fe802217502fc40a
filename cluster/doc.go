// Package cluster joins meshcdn nodes into one cluster (gossip membership
// with hashicorp/memberlist) and carries purges to every node within
// milliseconds.
//
// A purge's way: Node.Purge stamps the purge with this node's name, its
// boot epoch and the next sequence number, applies it to the local store,
// and sends it directly to every live member at once (UDP; TCP for entries
// larger than a packet), also queueing it on memberlist's gossip for
// redundancy. Receivers dedupe by (origin, epoch, seq), apply, and
// acknowledge to the origin, which retransmits what stays unacknowledged
// while the member is alive. Anti-entropy repairs the rest: every
// DigestInterval a node sends one random member the highest contiguous
// sequence it has applied per origin boot (memberlist's push/pull carries
// the same digest in full), and a member that has more replays the missing
// purges from its bounded retained log. A node that missed purges nobody
// retains any more drops everything it cached before that moment. See
// README.md in this directory for the wire format, the timing knobs and
// the measured figures.
//
// # Gossip key rotation
//
// Config.Keys (--gossip-key, a comma separated list of base64 keys) holds
// every key this node accepts; the first one encrypts what it sends, all of
// them decrypt. To replace key OLD by NEW without a partition, roll through
// the nodes three times, waiting after each restart until the node is back
// in Members():
//
//  1. restart every node with --gossip-key OLD,NEW (NEW accepted, OLD still used);
//  2. restart every node with --gossip-key NEW,OLD (NEW used, OLD still accepted);
//  3. restart every node with --gossip-key NEW (OLD no longer accepted).
//
// A node whose keys share nothing with the cluster's cannot join: Start
// keeps retrying, JoinError wraps ErrKeyMismatch and the log says
// "gossip key mismatch".
package cluster
