#!/usr/bin/env bash
# A self-signed ECDSA P-256 certificate for the compose cluster's HTTPS
# listeners (localhost, 127.0.0.1 and the node names), valid 90 days:
#   deploy/compose/make-cert.sh [DIR]      (default deploy/compose/tls)
# The key is made readable by the image's unprivileged user (65532), which
# reads it through a read-only bind mount.
set -euo pipefail
dir=${1:-"$(dirname "${BASH_SOURCE[0]}")/tls"}
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
	-subj "/CN=meshcdn compose" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:node-eu,DNS:node-us,DNS:node-ap" \
	-keyout "$dir/edge.key" -out "$dir/edge.crt" 2>/dev/null
chmod 0644 "$dir/edge.crt"
chmod 0640 "$dir/edge.key"
chgrp 65532 "$dir/edge.key" 2>/dev/null || chmod 0644 "$dir/edge.key"
echo "certificate: $dir/edge.crt (SHA-256 $(openssl x509 -in "$dir/edge.crt" -noout -fingerprint -sha256 | cut -d= -f2))"
