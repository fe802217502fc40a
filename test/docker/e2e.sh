#!/usr/bin/env bash
# End-to-end test of a meshcdn cluster in containers: three nodes and the demo
# origin, each its own host on a private Docker network, built FROM scratch
# from the binary built here (nothing is pulled).
#
#   bash test/docker/e2e.sh          (make e2e-docker)
#
# Checks: the cluster forms by DNS name; MISS → HIT on every node; a purge sent
# to one node with wait=all empties every node; a node cut off the network
# (docker network disconnect) misses purges and gets them after it is
# reconnected, within a stated bound; a killed node is reported dead and a
# restarted one serves fresh data; a container with a wrong gossip key is
# refused; the image's health check passes and docker stop drains a node,
# which exits 0. Only 127.0.0.1 ports are published. Everything it started is
# removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$PATH:/usr/local/go/bin"

P=meshcdn-e2e-$$
NET=$P-net
IMG=meshcdn:e2e-$$
TOKEN=e2e-$RANDOM$RANDOM
KEY=$(head -c 32 /dev/urandom | base64)
BADKEY=$(head -c 32 /dev/urandom | base64)
HEAL_BOUND=${HEAL_BOUND:-10} # seconds for a reconnected node to receive missed purges

log() { printf '[docker-e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "FAIL: $*"; dump; exit 1; }
dump() {
	for c in origin node-eu node-us node-ap intruder; do
		docker logs --tail 30 "$P-$c" 2>&1 | sed "s/^/[$c] /" >&2 || true
	done
}
cleanup() {
	docker rm -f "$P-origin" "$P-node-eu" "$P-node-us" "$P-node-ap" "$P-intruder" >/dev/null 2>&1 || true
	docker network rm "$NET" >/dev/null 2>&1 || true
	docker rmi "$IMG" >/dev/null 2>&1 || true
	rm -rf "$ctx"
}
ctx=$(mktemp -d)
trap cleanup EXIT

command -v docker >/dev/null || { log "no docker here"; exit 2; }
docker info >/dev/null 2>&1 || { log "the docker engine does not answer"; exit 2; }

log "building the static binary and the image"
CGO_ENABLED=0 go build -trimpath -o "$ctx/meshcdn" ./cmd/meshcdn
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$ctx/"; else : >"$ctx/ca-certificates.crt"; fi
docker build -q -f deploy/Dockerfile -t "$IMG" "$ctx" >/dev/null
docker network create "$NET" >/dev/null

# Published admin/edge ports: 127.0.0.1 only, chosen free.
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
declare -A EDGE ADMIN
ORIGIN_PORT=$(freeport)
docker run -d --name "$P-origin" --hostname origin --network "$NET" --network-alias origin \
	-e MESHCDN_PURGE_TOKEN="$TOKEN" -p "127.0.0.1:$ORIGIN_PORT:8070" "$IMG" \
	origin --listen=0.0.0.0:8070 --purge-url=http://node-eu:9080,http://node-us:9080 --log-level=warn >/dev/null

start_node() { # name region join key
	local n=$1 region=$2 join=$3 key=$4
	[ -n "${EDGE[$n]:-}" ] || { EDGE[$n]=$(freeport); ADMIN[$n]=$(freeport); }
	docker run -d --name "$P-$n" --hostname "$n" --network "$NET" --network-alias "$n" \
		-e MESHCDN_PURGE_TOKEN="$TOKEN" -e MESHCDN_GOSSIP_KEY="$key" \
		-p "127.0.0.1:${EDGE[$n]}:8080" -p "127.0.0.1:${ADMIN[$n]}:9080" "$IMG" \
		serve --origin=http://origin:8070 --listen=0.0.0.0:8080 --admin=0.0.0.0:9080 \
		--gossip=0.0.0.0:7946 --join="$join" --region="$region" --node-name="$n" \
		--log-level=info >/dev/null
}
start_node node-eu eu-west node-us:7946,node-ap:7946 "$KEY"
start_node node-us us-east node-eu:7946,node-ap:7946 "$KEY"
start_node node-ap ap-southeast node-eu:7946,node-us:7946 "$KEY"

admin() { curl -sf -m 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${ADMIN[$1]}$2" "${@:3}"; }
alive_count() { admin "$1" /cluster/members | python3 -c 'import json,sys
d=json.load(sys.stdin); d=d.get("members",d) if isinstance(d,dict) else d
print(sum(1 for m in d if m["state"]=="alive"))' 2>/dev/null || echo 0; }
wait_alive() { # node count seconds
	for _ in $(seq $(($3 * 10))); do
		[ "$(alive_count "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 does not see $2 alive members (sees $(alive_count "$1"))"
}
xcache() { curl -s -m 10 -o /dev/null -D - "http://127.0.0.1:${EDGE[$1]}$2" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}'; }
version() { curl -s -m 10 "http://127.0.0.1:${EDGE[$1]}$2" | python3 -c 'import json,sys;print(json.load(sys.stdin)["version"])'; }

log "waiting for the cluster to form (join by DNS name)"
for n in node-eu node-us node-ap; do wait_alive $n 3 30; done

U='/v1/users/5?company=9'
for n in node-eu node-us node-ap; do
	[ "$(xcache $n "$U")" = MISS ] || fail "$n: first GET not a MISS"
	[ "$(xcache $n "$U")" = HIT ] || fail "$n: second GET not a HIT"
done
log "MISS → HIT on every node"

out=$(admin node-us '/purge?wait=all' -X POST -d '{"keys":["company/9"]}') || fail "purge via node-us"
grep -q '"complete": *true' <<<"$out" || fail "purge not acked by all: $out"
for n in node-eu node-us node-ap; do [ "$(xcache $n "$U")" = MISS ] || fail "$n kept company/9 after a wait=all purge"; done
log "purge via node-us with wait=all emptied all three: $out"

# Partition: node-ap loses the network; purges accepted meanwhile must reach it after it is back.
for n in node-eu node-us node-ap; do xcache $n "$U" >/dev/null; done
[ "$(xcache node-ap "$U")" = HIT ] || fail "node-ap not warm"
v_before=$(version node-ap "$U")
docker network disconnect "$NET" "$P-node-ap"
curl -sf -m 10 -X POST "http://127.0.0.1:$ORIGIN_PORT/v1/users/5/events" >/dev/null || fail "event"
log "node-ap disconnected; event purged user/5 on the connected side"
for n in node-eu node-us; do [ "$(xcache $n "$U")" = MISS ] || fail "$n kept user/5"; done
sleep 3
docker network connect --alias node-ap "$NET" "$P-node-ap"
t0=$(date +%s.%N)
ok=0
for _ in $(seq $((HEAL_BOUND * 10))); do
	# Ask the admin API (not the edge: a GET would refill from the origin).
	st=$(admin node-ap /stats || echo '{}')
	if python3 -c 'import json,sys;sys.exit(0 if json.loads(sys.argv[1]).get("objects",1)==0 else 1)' "$st"; then ok=1; break; fi
	sleep 0.1
done
heal=$(python3 -c "import time;print(round(time.time()-$t0,2))")
[ $ok = 1 ] || fail "node-ap still holds user/5 ${HEAL_BOUND}s after reconnecting"
v_after=$(version node-ap "$U")
[ "$v_after" -gt "$v_before" ] || fail "node-ap serves version $v_after after heal (before: $v_before)"
log "node-ap got the missed purge ${heal}s after reconnecting (bound ${HEAL_BOUND}s); serves version $v_after"

# Node loss and restart.
docker kill "$P-node-eu" >/dev/null
wait_alive node-us 2 30
docker rm -f "$P-node-eu" >/dev/null
start_node node-eu eu-west node-us:7946,node-ap:7946 "$KEY"
for n in node-eu node-us node-ap; do wait_alive $n 3 30; done
[ "$(xcache node-eu "$U")" = MISS ] || fail "restarted node-eu not empty"
log "killed node detected dead, restarted node rejoined"

# A container with the wrong key is refused.
docker run -d --name "$P-intruder" --hostname intruder --network "$NET" \
	-e MESHCDN_PURGE_TOKEN="$TOKEN" -e MESHCDN_GOSSIP_KEY="$BADKEY" "$IMG" \
	serve --origin=http://origin:8070 --listen=0.0.0.0:8080 --admin=0.0.0.0:9080 \
	--gossip=0.0.0.0:7946 --join=node-eu:7946 --node-name=intruder >/dev/null
sleep 4
[ "$(alive_count node-eu)" = 3 ] || fail "the intruder with a wrong key is counted"
# (Logs read into a variable first: with pipefail, grep -q closing the pipe
# early would make docker logs fail on SIGPIPE. The startup line says
# "encrypted": only the mismatch message tells why it cannot join.)
ilog=$(docker logs "$P-intruder" 2>&1)
grep -q 'gossip key mismatch' <<<"$ilog" || fail "the intruder does not say why it cannot join"
log "wrong gossip key refused: $(grep -m1 'gossip key mismatch' <<<"$ilog" | cut -c1-200)"

# The image's health check (meshcdn health, no shell in the image) passes on
# a ready node, and docker stop drains the node, which exits 0.
h=none
for _ in $(seq 300); do
	h=$(docker inspect -f '{{.State.Health.Status}}' "$P-node-us" 2>/dev/null || echo none)
	[ "$h" = healthy ] && break
	sleep 0.1
done
[ "$h" = healthy ] || fail "node-us health status: $h"
docker stop -t 45 "$P-node-us" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$P-node-us")
[ "$code" = 0 ] || fail "node-us exited with status $code after docker stop"
ulog=$(docker logs "$P-node-us" 2>&1)
grep -q 'draining' <<<"$ulog" || fail "node-us did not drain on docker stop"
grep -q 'node stopped' <<<"$ulog" || fail "node-us did not stop cleanly"
log "health check healthy; docker stop drained node-us, which exited 0"

echo "e2e-docker: 7 passed, 0 failed"
