#!/usr/bin/env bash
# Runs tests/interop/node_client.js against a fresh leerlusd. Installs
# @grpc/grpc-js and @grpc/proto-loader from npm into a cache folder once.
#   run_node.sh LEERLUSD SOURCE_DIR BUILD_DIR
set -euo pipefail
LEERLUSD="$1"
SOURCE="$2"
MODULES="$3/node-interop"
if [ ! -d "$MODULES/node_modules/@grpc/grpc-js" ]; then
  mkdir -p "$MODULES"
  (cd "$MODULES" && npm install --silent --no-audit --no-fund @grpc/grpc-js@1 @grpc/proto-loader@0.7 >/dev/null)
fi
work=$(mktemp -d)
trap 'kill $(cat "$work/pid") 2>/dev/null || true; rm -rf "$work"' EXIT
"$LEERLUSD" --data-dir "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
  --bootstrap-token-file "$work/token" 2>"$work/log" &
echo $! > "$work/pid"
for _ in $(seq 1 100); do [ -s "$work/port" ] && [ -s "$work/token" ] && break; sleep 0.05; done
NODE_PATH="$MODULES/node_modules" node "$SOURCE/tests/interop/node_client.js" "$SOURCE" \
  "127.0.0.1:$(cat "$work/port")" "$(tr -d '\n' < "$work/token")"
