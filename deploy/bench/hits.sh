#!/usr/bin/env bash
# make bench: hit throughput and latency of one meshcdn node for 1 KiB
# objects, measured with wrk (installed from Debian when missing).
#
# Starts the demo origin on 127.0.0.1:19070 and a node on 127.0.0.1:19084
# (admin 127.0.0.1:19094, gossip 127.0.0.1:19946), warms OBJECTS objects,
# runs an untimed warm-up, then `wrk -t1 -c64 -d10s`, and stops both.
# Environment: BIN OBJECTS SIZE DURATION ORIGIN EDGE ADMIN GOSSIP.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BIN=${BIN:-bin/meshcdn}
OBJECTS=${OBJECTS:-1000}
SIZE=${SIZE:-1024}
DURATION=${DURATION:-10s}
ORIGIN=${ORIGIN:-127.0.0.1:19070}
EDGE=${EDGE:-127.0.0.1:19084}
ADMIN=${ADMIN:-127.0.0.1:19094}
GOSSIP=${GOSSIP:-127.0.0.1:19946}

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk (apt-get)" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null
fi
for cmd in curl "$BIN"; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "bench: $cmd not found" >&2; exit 1; }
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" origin --listen "$ORIGIN" --purge-url '' --log-level warn &
pids+=($!)
"$BIN" serve --listen "$EDGE" --admin "$ADMIN" --origin "http://$ORIGIN" --gossip "$GOSSIP" \
    --node-name bench --cache-size 256MiB --log-level warn &
pids+=($!)

for _ in $(seq 100); do
    curl -sf "http://$ADMIN/healthz" >/dev/null 2>&1 && curl -sf "http://$ORIGIN/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://$ADMIN/healthz" >/dev/null || { echo "bench: the node did not start" >&2; exit 1; }

echo "== warming $OBJECTS objects of $SIZE bytes" >&2
curl -sf -o /dev/null "http://$EDGE/obj/[0-$((OBJECTS - 1))]?size=$SIZE"
status=$(curl -s -o /dev/null -D - "http://$EDGE/obj/0?size=$SIZE" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')
[ "$status" = HIT ] || { echo "bench: expected a HIT after warming, got X-Cache: ${status:-none}" >&2; exit 1; }

echo "== warm-up (3s, untimed)" >&2
wrk -t1 -c64 -d3s -s deploy/bench/hits.lua "http://$EDGE" -- "$OBJECTS" "$SIZE" >/dev/null

echo "== wrk -t1 -c64 -d$DURATION, $OBJECTS objects of $SIZE bytes, all hits" >&2
out=$(wrk -t1 -c64 -d"$DURATION" --latency -s deploy/bench/hits.lua "http://$EDGE" -- "$OBJECTS" "$SIZE")
echo "$out"
stats=$(curl -s "http://$ADMIN/stats")
rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
p50=$(awk '$1=="50%"{print $2}' <<<"$out")
p99=$(awk '$1=="99%"{print $2}' <<<"$out")
echo
echo "meshcdn hits, $SIZE B objects: $rps req/s, latency p50 $p50, p99 $p99 (wrk -t1 -c64 -d$DURATION)"
echo "node store: $stats"
