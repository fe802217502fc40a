#!/usr/bin/env bash
# End-to-end test of deploy/docker-compose.yml itself: three nodes configured
# by deploy/compose/meshcdn.yaml (mounted), HTTPS on every node, and a
# rolling restart of every node under steady client load.
#
#   bash test/docker/compose-e2e.sh          (make e2e-compose)
#
# The image is built FROM scratch from the binary built here (nothing is
# pulled). The clients (test/docker/lbclient.py) behave as a health-checked
# load balancer: they send each request to a node whose /readyz answered 200
# at its last check (every 200 ms). Each node is restarted in turn
# (docker-compose restart: SIGTERM, so it drains: /readyz 503 while it still
# serves, then in-flight requests finish) and must be ready again before the
# next. Pass: 0 failed requests, every node served some, the cluster whole
# again. Then, on the same cluster: a wait=all purge sent to one node empties
# every node; a node cut off the network misses a purge, says so on its
# health check (isolation: /readyz 503) and catches up within seconds of
# reconnecting; an intruder with the purge token but a wrong gossip key can
# neither join nor purge the others. Host ports are free ports
# on the host's addresses; requests go to 127.0.0.1 only. Everything started
# is removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$PATH:/usr/local/go/bin"

log() { printf '[compose-e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "FAIL: $*"; dc logs --tail 40 >&2 || true; exit 1; }

command -v docker >/dev/null || { log "no docker here"; exit 2; }
docker info >/dev/null 2>&1 || { log "the docker engine does not answer"; exit 2; }
if command -v docker-compose >/dev/null 2>&1; then DC=(docker-compose)
elif docker compose version >/dev/null 2>&1; then DC=(docker compose)
else log "neither docker-compose nor docker compose"; exit 2; fi

export COMPOSE_PROJECT_NAME=meshcdn-compose-$$
export MESHCDN_IMAGE=meshcdn:compose-$$
export MESHCDN_PURGE_TOKEN=e2e-$RANDOM$RANDOM
export MESHCDN_GOSSIP_KEY=$(head -c 32 /dev/urandom | base64)
tmp=$(mktemp -d)
export MESHCDN_TLS_DIR=$tmp/tls
dc() { "${DC[@]}" -f deploy/docker-compose.yml -f test/docker/compose.test.yml "$@"; }
loadpid=
cleanup() {
	[ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null || true
	dc down -v -t 5 >/dev/null 2>&1 || true
	docker rmi "$MESHCDN_IMAGE" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

log "building the static binary, the image and a certificate"
mkdir -p "$tmp/ctx"
CGO_ENABLED=0 go build -trimpath -o "$tmp/ctx/meshcdn" ./cmd/meshcdn
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$tmp/ctx/"; else : >"$tmp/ctx/ca-certificates.crt"; fi
docker build -q -f deploy/Dockerfile -t "$MESHCDN_IMAGE" "$tmp/ctx" >/dev/null
bash deploy/compose/make-cert.sh "$MESHCDN_TLS_DIR" >/dev/null
"$tmp/ctx/meshcdn" serve --config deploy/compose/meshcdn.yaml --check >/dev/null || fail "deploy/compose/meshcdn.yaml does not pass --check"

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
export MESHCDN_ORIGIN_PORT=$(freeport)
declare -A H S A
for n in EU US AP; do
	H[$n]=$(freeport); S[$n]=$(freeport); A[$n]=$(freeport)
	export MESHCDN_${n}_HTTP=${H[$n]} MESHCDN_${n}_HTTPS=${S[$n]} MESHCDN_${n}_ADMIN=${A[$n]}
done

# A subnet Docker itself considers free, for the network's own configuration.
probe=$COMPOSE_PROJECT_NAME-probe
docker network create "$probe" >/dev/null
export MESHCDN_TEST_SUBNET=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$probe")
docker network rm "$probe" >/dev/null
[ -n "$MESHCDN_TEST_SUBNET" ] || fail "no subnet for the test network"

log "docker-compose up"
dc up -d >/dev/null 2>&1 || fail "docker-compose up"
admin() { curl -sf -m 10 -H "Authorization: Bearer $MESHCDN_PURGE_TOKEN" "http://127.0.0.1:$1$2" "${@:3}"; }
alive() { admin "$1" /cluster/members | python3 -c 'import json,sys
print(sum(1 for m in json.load(sys.stdin)["members"] if m["state"]=="alive"))' 2>/dev/null || echo 0; }
wait_whole() {
	for _ in $(seq 600); do
		ok=1
		for n in EU US AP; do [ "$(alive "${A[$n]}")" = 3 ] || ok=0; done
		[ $ok = 1 ] && return 0
		sleep 0.1
	done
	fail "the cluster is not whole (alive: $(for n in EU US AP; do printf '%s ' "$(alive "${A[$n]}")"; done))"
}
wait_whole
for n in EU US AP; do
	code=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' -m 10 --cacert "$MESHCDN_TLS_DIR/edge.crt" "https://localhost:${S[$n]}/v1/users/7?company=3")
	[ "$code" = "200 2" ] || fail "HTTPS on node-${n,,}: $code (want 200 over HTTP/2)"
done
log "cluster formed from the mounted config; HTTPS (HTTP/2) answers on every node"

log "steady load while every node restarts in turn"
stop=$tmp/stop
python3 test/docker/lbclient.py --cafile "$MESHCDN_TLS_DIR/edge.crt" --stop "$stop" \
	--node "node-eu=${H[EU]},${S[EU]},${A[EU]}" --node "node-us=${H[US]},${S[US]},${A[US]}" \
	--node "node-ap=${H[AP]},${S[AP]},${A[AP]}" >"$tmp/load.json" &
loadpid=$!
sleep 2
for n in eu us ap; do
	N=${n^^}
	t0=$(date +%s.%N)
	dc restart -t 45 "node-$n" >/dev/null 2>&1 || fail "restart node-$n"
	for _ in $(seq 300); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:${A[$N]}/readyz")" = 200 ] && break
		sleep 0.1
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:${A[$N]}/readyz")" = 200 ] || fail "node-$n not ready after its restart"
	log "node-$n restarted and ready again in $(python3 -c "import time;print(round(time.time()-$t0,1))")s"
	sleep 2
done
touch "$stop"
wait "$loadpid" || fail "the load client failed"
loadpid=
out=$(cat "$tmp/load.json")
log "load: $out"
python3 - "$out" <<'PY' || fail "requests failed during the rolling restart"
import json, sys
d = json.loads(sys.argv[1])
assert d["requests"] > 100, "too few requests: %d" % d["requests"]
assert d["failures"] == 0, "%d failed: %s" % (d["failures"], d["errors"])
assert all(v > 0 for v in d["served"].values()), "a node served nothing: %s" % d["served"]
assert all(d["checks_failed"].get(n, 0) >= 1 for n in ("node-eu", "node-us", "node-ap")), "a restart was not seen by the health checks: %s" % d["checks_failed"]
PY
wait_whole
log "rolling restart: 0 failed requests; cluster whole again"

# A purge sent to one node empties every node.
U='/v1/users/5?company=9'
xcache() { curl -s -m 10 -o /dev/null -D - -H 'Host: localhost' "http://127.0.0.1:${H[$1]}$U" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}'; }
version() { curl -s -m 10 -H 'Host: localhost' "http://127.0.0.1:${H[$1]}$U" | python3 -c 'import json,sys;print(json.load(sys.stdin)["version"])'; }
for n in EU US AP; do xcache $n >/dev/null; [ "$(xcache $n)" = HIT ] || fail "node-${n,,}: not a HIT"; done
out=$(admin "${A[US]}" '/purge?wait=all' -X POST -d '{"keys":["company/9"]}') || fail "purge"
grep -q '"complete": *true' <<<"$out" || fail "purge after the restarts not complete: $out"
for n in EU US AP; do [ "$(xcache $n)" = MISS ] || fail "node-${n,,} kept company/9 after a wait=all purge via node-us"; done
log "a wait=all purge via node-us emptied all three"

# Partition: node-ap loses the network. It misses the purge of an event;
# the isolation rule: within --isolation-unready (5s) its /readyz says 503
# (health checks take it out of rotation) while it keeps its objects; after
# reconnecting it catches up within HEAL_BOUND seconds.
HEAL_BOUND=${HEAL_BOUND:-10}
NET=${COMPOSE_PROJECT_NAME}_default
ap=$(dc ps -q node-ap)
ap_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$ap")
objects() { curl -sf -m 2 "http://127.0.0.1:${A[$1]}/stats" | grep -o '"objects": *[0-9]*' | grep -o '[0-9]*$'; }
for n in EU US AP; do xcache $n >/dev/null; done
[ "$(xcache AP)" = HIT ] || fail "node-ap not warm"
v_before=$(version AP)
held=$(objects AP)
docker network disconnect "$NET" "$ap"
curl -sf -m 10 -X POST "http://127.0.0.1:$MESHCDN_ORIGIN_PORT/v1/users/5/events" >/dev/null || fail "event"
for n in EU US; do [ "$(xcache $n)" = MISS ] || fail "node-${n,,} kept user/5 after the event"; done
unready=0
for _ in $(seq 150); do
	# The image's own health command, inside the cut-off container.
	if ! docker exec "$ap" /usr/local/bin/meshcdn health --quiet --admin http://127.0.0.1:9080; then unready=1; break; fi
	sleep 0.1
done
[ $unready = 1 ] || fail "node-ap still ready 15s after losing every peer"
why=$(docker exec "$ap" /usr/local/bin/meshcdn health --admin http://127.0.0.1:9080 || true)
log "node-ap cut off: missed the event's purge; its health check says: $why"
docker network connect --ip "$ap_ip" --alias node-ap "$NET" "$ap"
t0=$(date +%s.%N)
ok=0
for _ in $(seq $((HEAL_BOUND * 10))); do
	# The event's purge removes user/5 and nothing else node-ap holds.
	if [ "$(objects AP)" = $((held - 1)) ]; then ok=1; break; fi
	sleep 0.1
done
[ $ok = 1 ] || fail "node-ap still holds user/5 ${HEAL_BOUND}s after reconnecting"
heal=$(python3 -c "import time;print(round(time.time()-$t0,2))")
v_after=$(version AP)
[ "$v_after" -gt "$v_before" ] || fail "node-ap serves version $v_after after the heal (before: $v_before)"
for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:${A[AP]}/readyz")" = 200 ] && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:${A[AP]}/readyz")" = 200 ] || fail "node-ap not ready after reconnecting"
log "node-ap reconnected: got the missed purge after ${heal}s (bound ${HEAL_BOUND}s), serves version $v_after, ready again"

# An intruder with the purge token but a wrong gossip key can neither join
# nor purge the others.
for n in EU US AP; do xcache $n >/dev/null; [ "$(xcache $n)" = HIT ] || fail "node-${n,,} not warm"; done
docker run -d --name "$COMPOSE_PROJECT_NAME-intruder" --network "$NET" \
	-e MESHCDN_PURGE_TOKEN="$MESHCDN_PURGE_TOKEN" -e MESHCDN_GOSSIP_KEY="$(head -c 32 /dev/urandom | base64)" \
	"$MESHCDN_IMAGE" serve --origin=http://origin:8070 --admin=127.0.0.1:9080 --node-name=intruder \
	--gossip=0.0.0.0:7946 --join=node-eu:7946 >/dev/null
intruder_cleanup() { docker rm -f "$COMPOSE_PROJECT_NAME-intruder" >/dev/null 2>&1 || true; }
trap 'intruder_cleanup; cleanup' EXIT
for _ in $(seq 100); do
	ilog=$(docker logs "$COMPOSE_PROJECT_NAME-intruder" 2>&1)
	grep -q 'gossip key mismatch' <<<"$ilog" && break
	sleep 0.1
done
grep -q 'gossip key mismatch' <<<"$ilog" || fail "the intruder does not say why it cannot join"
docker exec "$COMPOSE_PROJECT_NAME-intruder" /usr/local/bin/meshcdn purge --admin http://127.0.0.1:9080 \
	--token "$MESHCDN_PURGE_TOKEN" company/9 >/dev/null 2>&1 || true
sleep 1
for n in EU US AP; do
	[ "$(alive "${A[$n]}")" = 3 ] || fail "node-${n,,} counts the intruder"
	[ "$(xcache $n)" = HIT ] || fail "the intruder's purge reached node-${n,,}"
done
log "the intruder with a wrong gossip key neither joined nor purged"
echo "e2e-compose: 6 passed, 0 failed"
