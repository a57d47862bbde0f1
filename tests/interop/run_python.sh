#!/usr/bin/env bash
# Runs a Python interop script against a fresh leerlusd that signs
# checkpoints with a new log key.
#   run_python.sh LEERLUSD SOURCE_DIR SCRIPT
# SCRIPT gets: the generated stubs' directory, the server's address, an admin
# token and the log's verifier key.
set -euo pipefail
LEERLUSD="$1"
SOURCE="$2"
SCRIPT="$3"
work=$(mktemp -d)
trap 'kill $(cat "$work/pid") 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/stubs"
/usr/bin/python3 -m grpc_tools.protoc -I "$SOURCE/proto" --python_out="$work/stubs" \
  --grpc_python_out="$work/stubs" "$SOURCE"/proto/leerlus/v1/*.proto "$SOURCE"/proto/google/rpc/*.proto
# The verifier key is keygen's last line; the key file stays outside --data-dir.
vkey=$("$LEERLUSD" keygen --origin leerlus.test/interop --out "$work/log.key" | tail -n 1)
"$LEERLUSD" --data-dir "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
  --bootstrap-token-file "$work/token" --signing-key "$work/log.key" \
  --checkpoint-interval-seconds 1 2>"$work/log" &
echo $! > "$work/pid"
for _ in $(seq 1 100); do [ -s "$work/port" ] && [ -s "$work/token" ] && break; sleep 0.05; done
/usr/bin/python3 "$SOURCE/tests/interop/$SCRIPT" "$work/stubs" "127.0.0.1:$(cat "$work/port")" \
  "$(tr -d '\n' < "$work/token")" "$vkey"
