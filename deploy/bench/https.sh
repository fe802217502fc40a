#!/usr/bin/env bash
# HTTPS hit throughput of one meshcdn node beside nginx (proxy_cache), with
# the same certificate, in one run: 1 KiB objects (SIZE), keep-alive
# connections (wrk: one TLS handshake per connection, then requests), all
# hits. meshcdn's plain-HTTP listener is measured too, as a reference.
#
# Starts on 127.0.0.1: the demo origin :19270, meshcdn (http :19284, https
# :19285, admin :19294, gossip :19296) and nginx (https :19286), makes one
# ECDSA P-256 certificate (openssl) both serve, warms OBJECTS objects in
# both caches, runs an untimed warm-up per target, then REPS rounds of
# `wrk -t1 -c64 -dDURATION`, the targets interleaved (their order rotates
# each round), and prints every run, the medians and the meshcdn/nginx
# ratio (paired within a round, then the median). Everything it started is
# stopped by PID at the end. nginx, wrk, openssl and curl are installed
# from Debian when missing (nginx's service is not started: policy-rc.d).
#
# Environment: BIN (default: built into RUN_DIR) OBJECTS SIZE DURATION REPS
# WARMUP THREADS CONNS RUN_DIR and the *_PORT variables below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"

OBJECTS=${OBJECTS:-1000}
SIZE=${SIZE:-1024}
DURATION=${DURATION:-10s}
REPS=${REPS:-5}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-1}
CONNS=${CONNS:-64}
RUN_DIR=${RUN_DIR:-/tmp/meshcdn-bench-https}
ORIGIN_PORT=${ORIGIN_PORT:-19270}
HTTP_PORT=${HTTP_PORT:-19284}
HTTPS_PORT=${HTTPS_PORT:-19285}
NGINX_PORT=${NGINX_PORT:-19286}
ADMIN_PORT=${ADMIN_PORT:-19294}
GOSSIP_PORT=${GOSSIP_PORT:-19296}
H=127.0.0.1

missing=()
for c in nginx wrk openssl curl; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
if ((${#missing[@]})); then
    echo "== installing ${missing[*]} (apt-get)" >&2
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
    fi
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    ((made_policy == 0)) || $sudo rm -f "$policy"
fi

rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"/nginx/tmp "$RUN_DIR"/nginx/cache
for port in $ORIGIN_PORT $HTTP_PORT $HTTPS_PORT $NGINX_PORT $ADMIN_PORT $GOSSIP_PORT; do
    if (exec 3<>"/dev/tcp/$H/$port") 2>/dev/null; then
        echo "bench: port $port is in use" >&2; exit 1
    fi
done
if [ -z "${BIN:-}" ]; then
    BIN=$RUN_DIR/meshcdn
    go build -o "$BIN" ./cmd/meshcdn
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== one certificate for both (ECDSA P-256, localhost and $H)" >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:$H" -keyout "$RUN_DIR/key.pem" -out "$RUN_DIR/cert.pem" 2>/dev/null

"$BIN" origin --listen "$H:$ORIGIN_PORT" --purge-url '' --log-level warn &
pids+=($!)
"$BIN" serve --listen "$H:$HTTP_PORT" --https "$H:$HTTPS_PORT" --tls-cert "$RUN_DIR/cert.pem" --tls-key "$RUN_DIR/key.pem" \
    --admin "$H:$ADMIN_PORT" --origin "http://$H:$ORIGIN_PORT" --gossip "$H:$GOSSIP_PORT" \
    --node-name bench --cache-size 256MiB --log-level warn --drain-delay 0s &
pids+=($!)
sed -e "s#@RUN@#$RUN_DIR#g" -e "s#@ORIGIN@#$H:$ORIGIN_PORT#g" -e "s#@LISTEN@#$H:$NGINX_PORT#g" >"$RUN_DIR/nginx.conf" <<'EOF'
# proxy_cache over TLS, as /work/shared/bench/conf/nginx.conf.in over HTTP.
daemon off;
worker_processes auto;
pid @RUN@/nginx/nginx.pid;
error_log @RUN@/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server_tokens off;
    client_body_temp_path @RUN@/nginx/tmp/body;
    proxy_temp_path @RUN@/nginx/tmp/proxy;
    fastcgi_temp_path @RUN@/nginx/tmp/fastcgi;
    uwsgi_temp_path @RUN@/nginx/tmp/uwsgi;
    scgi_temp_path @RUN@/nginx/tmp/scgi;
    proxy_cache_path @RUN@/nginx/cache levels=1:2 keys_zone=edge:64m max_size=4g inactive=2h use_temp_path=off;
    upstream origin { server @ORIGIN@; keepalive 64; }
    server {
        listen @LISTEN@ ssl http2 reuseport backlog=4096;
        ssl_certificate @RUN@/cert.pem;
        ssl_certificate_key @RUN@/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        # The TLS 1.3 suite Go's server picks (AES-128-GCM), not the
        # client's first choice (AES-256-GCM): the same work for both.
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
        ssl_prefer_server_ciphers on;
        ssl_session_cache shared:SSL:10m;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_hide_header Surrogate-Key;
            proxy_hide_header Surrogate-Control;
            add_header X-Cache $upstream_cache_status;
        }
    }
}
EOF
nginx -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR/nginx" &
pids+=($!)

for _ in $(seq 100); do
    curl -sf "http://$H:$ADMIN_PORT/healthz" >/dev/null 2>&1 && curl -sfk "https://$H:$NGINX_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://$H:$ADMIN_PORT/healthz" >/dev/null || { echo "bench: meshcdn did not start" >&2; exit 1; }

declare -A URL=([meshcdn-https]="https://$H:$HTTPS_PORT" [nginx-https]="https://$H:$NGINX_PORT" [meshcdn-http]="http://$H:$HTTP_PORT")
TARGETS=(meshcdn-https nginx-https meshcdn-http)

echo "== warming $OBJECTS objects of $SIZE bytes in each cache" >&2
for t in meshcdn-https nginx-https; do
    curl -sfk -o /dev/null "${URL[$t]}/obj/[0-$((OBJECTS - 1))]?size=$SIZE"
    status=$(curl -sk -o /dev/null -D - "${URL[$t]}/obj/0?size=$SIZE" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')
    [ "$status" = HIT ] || { echo "bench: $t: expected a HIT after warming, got X-Cache: ${status:-none}" >&2; exit 1; }
    cipher=$(openssl s_client -connect "${URL[$t]#https://}" -servername localhost </dev/null 2>/dev/null | awk '/^New, /{print $2, $NF}')
    echo "   $t: $cipher" >&2
done

for t in "${TARGETS[@]}"; do
    echo "== warm-up $t ($WARMUP, untimed)" >&2
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s deploy/bench/hits.lua "${URL[$t]}" -- "$OBJECTS" "$SIZE" >/dev/null
done

echo "== $REPS rounds of wrk -t$THREADS -c$CONNS -d$DURATION, targets interleaved" >&2
: >"$RUN_DIR/runs.tsv"
for ((r = 0; r < REPS; r++)); do
    n=${#TARGETS[@]}
    for ((k = 0; k < n; k++)); do
        t=${TARGETS[$(((k + r) % n))]}
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s deploy/bench/hits.lua "${URL[$t]}" -- "$OBJECTS" "$SIZE")
        echo "$out" >>"$RUN_DIR/wrk.log"
        rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
        p50=$(awk '$1=="50%"{print $2}' <<<"$out")
        p99=$(awk '$1=="99%"{print $2}' <<<"$out")
        errs=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')
        printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$rps" "$p50" "$p99" "$errs" | tee -a "$RUN_DIR/runs.tsv"
    done
done

echo
awk -F'\t' -v size="$SIZE" -v spec="wrk -t$THREADS -c$CONNS -d$DURATION, $REPS rounds" '
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ rps[$2, $1] = $3; v[$2, ++cnt[$2]] = $3; reps[$1] = 1 }
END {
    printf "HTTPS hits, %s B objects, keep-alive (%s):\n", size, spec
    split("meshcdn-https nginx-https meshcdn-http", ts, " ")
    for (k = 1; k <= 3; k++) {
        t = ts[k]; n = cnt[t]; delete a
        for (i = 1; i <= n; i++) a[i] = v[t, i]
        printf "  %-14s median %9.0f req/s\n", t, median(a, n)
    }
    n = 0; delete a
    for (r in reps) if (rps["nginx-https", r] > 0) a[++n] = rps["meshcdn-https", r] / rps["nginx-https", r]
    printf "  meshcdn/nginx over HTTPS: median ratio %.2f (paired per round)\n", median(a, n)
    n = 0; delete a
    for (r in reps) if (rps["meshcdn-http", r] > 0) a[++n] = rps["meshcdn-https", r] / rps["meshcdn-http", r]
    printf "  meshcdn HTTPS/HTTP: median ratio %.2f\n", median(a, n)
}' "$RUN_DIR/runs.tsv"
echo "load: $(uptime)"
