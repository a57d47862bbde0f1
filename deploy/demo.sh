#!/usr/bin/env bash
# The quick start: install, build, start leerlusd on its embedded RocksDB
# store in ./leerlus-data, load a small demo programme through the real
# client and show what it holds. Safe to run again: every demo change
# carries a fixed request id, so a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DATA_DIR="${LEERLUS_DATA_DIR:-$ROOT/leerlus-data}"
PORT="${LEERLUS_PORT:-50051}"
HTTP_PORT="${LEERLUS_HTTP_PORT:-8080}"
export LEERLUS_SERVER="127.0.0.1:$PORT"

echo "== installing Debian packages"
bash deploy/install-deps.sh
echo "== building"
bash deploy/build.sh 2>&1 | tail -n 1

# The log key that signs checkpoints of the log's Merkle tree lives outside
# the data directory (whoever holds the data must not be able to sign); its
# verifier key is what partners and auditors pin. Beside it leerlusd keeps
# the latest checkpoint it signed ($LOG_KEY.checkpoint). A new data
# directory is a new log with a key of its own: leerlusd refuses to sign a
# second history with a key that signed one (and refuses to overwrite a
# first admin token left from a data directory that is gone).
mkdir -p "$(dirname "$DATA_DIR")"
LOG_KEY="$DATA_DIR.log-key"
if [ ! -d "$DATA_DIR" ]; then
  rm -f "$DATA_DIR.admin-token" "$LOG_KEY" "$LOG_KEY.vkey" "$LOG_KEY.checkpoint"
fi
if [ ! -f "$LOG_KEY" ]; then
  build/server/leerlusd keygen --origin demo.leerlus.local/log --out "$LOG_KEY" | tail -n 1 \
    >"$LOG_KEY.vkey"
fi

PID_FILE="$DATA_DIR.pid"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  echo "== leerlusd already running (pid $(cat "$PID_FILE")) on $LEERLUS_SERVER"
else
  echo "== starting leerlusd on $LEERLUS_SERVER (gRPC) and 127.0.0.1:$HTTP_PORT (HTTP)" \
    "with data in $DATA_DIR"
  rm -f "$DATA_DIR.port"
  # The first start writes the first admin token to $DATA_DIR.admin-token.
  nohup build/server/leerlusd --data-dir "$DATA_DIR" --listen "$LEERLUS_SERVER" \
    --port-file "$DATA_DIR.port" --bootstrap-token-file "$DATA_DIR.admin-token" \
    --http-listen "127.0.0.1:$HTTP_PORT" \
    --signing-key "$LOG_KEY" \
    >"$DATA_DIR.log" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 100); do
    [ -s "$DATA_DIR.port" ] && break
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      echo "leerlusd failed to start:"; cat "$DATA_DIR.log"; exit 1
    fi
    sleep 0.1
  done
fi

L="$ROOT/build/client/leerlus"
export LEERLUS_TOKEN="$(cat "$DATA_DIR.admin-token")"
LEERLUS_CLI="$L" bash deploy/demo/load.sh

echo
echo "== the programme: $("$L" experiment list --all -o csv | tail -n +2 | wc -l) experiments; the first few"
"$L" experiment list --page-size 5
echo
echo "== what works against loneliness? (an evaluator's first question)"
"$L" what-works --indicator eenzaamheid
echo
echo "== under which conditions does the neighbourhood coach work?"
"$L" conditions --method buurtcoach --indicator eenzaamheid --top 3
echo
echo "== the coach, rural against urban municipalities"
"$L" what-works --indicator eenzaamheid --method buurtcoach --by context.gebied
echo
echo "== what each method contributes, per resource domain, and at what cost"
"$L" contribution
echo
echo "== hypothesis scorecard per work method"
"$L" scorecard
echo
echo "== the last events of the log"
"$L" events --last 4
echo
echo "== the log's signed checkpoint, audited with nothing but its verifier key"
if "$L" checkpoint --out "$DATA_DIR.checkpoint"; then
  "$L" audit --public-key "$LOG_KEY.vkey" --checkpoint "$DATA_DIR.checkpoint"
else
  echo "(this server was started without --signing-key: restart it to sign checkpoints)"
fi
echo
echo "== the evaluator's report on loneliness, as one HTML file"
"$L" report --indicator eenzaamheid --out "$DATA_DIR.report.html" --svg-dir "$DATA_DIR.plots"
echo
echo "== the same server over HTTP with JSON (the Connect protocol; README: From any language)"
if answer=$(curl -sS --max-time 10 "http://127.0.0.1:$HTTP_PORT/leerlus.v1.InsightService/WhatWorks" \
  -H "Authorization: Bearer $LEERLUS_TOKEN" -H 'Content-Type: application/json' \
  -d '{"indicatorId": "eenzaamheid"}'); then
  echo "${answer:0:300} ..."
else
  echo "(this leerlusd was started without --http-listen: stop it and run the demo again)"
fi
echo
echo "leerlusd keeps running on $LEERLUS_SERVER and http://127.0.0.1:$HTTP_PORT (data: $DATA_DIR, log: $DATA_DIR.log)."
echo "The admin token is in $DATA_DIR.admin-token:  export LEERLUS_TOKEN=\$(cat $DATA_DIR.admin-token)"
echo "Open $DATA_DIR.report.html in a browser.  Try: build/client/leerlus --help    Stop it: kill \$(cat $PID_FILE)"
