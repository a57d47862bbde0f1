#!/usr/bin/env bash
# The report in a real browser: loads the demo programme into a real
# leerlusd, writes the English and Dutch reports and their SVG plots, checks
# them against the what-works JSON (tests/report/check_report.py), and renders
# the report headless in Debian's Chromium (installed here if missing) and
# checks the screenshot is the expected size and not blank. A blank page is
# rendered too, and must fail the same check.
#   run_browser_test.sh LEERLUSD LEERLUS SOURCE_DIR
set -euo pipefail
LEERLUSD="$1"; LEERLUS="$2"; SOURCE="$3"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }
  else
    echo "FAIL: chromium is not installed (as root: apt-get install chromium)"; exit 1
  fi
fi

"$LEERLUSD" --data-dir "$WORK/data" --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --bootstrap-token-file "$WORK/token" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || { cat "$WORK/server.log"; echo "FAIL: leerlusd did not start"; exit 1; }
export LEERLUS_SERVER="127.0.0.1:$(cat "$WORK/port")" LEERLUS_TOKEN="$(cat "$WORK/token")"
(cd "$SOURCE" && LEERLUS_CLI="$LEERLUS" bash deploy/demo/load.sh >/dev/null)

CHECK="python3 $SOURCE/tests/report/check_report.py"
"$LEERLUS" what-works --indicator eenzaamheid -o json >"$WORK/what-works.json"
"$LEERLUS" report --indicator eenzaamheid --out "$WORK/report.html" --svg-dir "$WORK/svg" \
  --since 1
$CHECK html "$WORK/report.html" "$WORK/what-works.json" en "$WORK/svg"
"$LEERLUS" report --indicator eenzaamheid --lang nl --by context.gebied --out "$WORK/rapport.html"
$CHECK html "$WORK/rapport.html" "$WORK/what-works.json" nl
grep -q 'verschilt naar gebied' "$WORK/rapport.html" ||
  { echo "FAIL: the Dutch report does not say the coach's effect differs by gebied"; exit 1; }
grep -q 'Wat veranderde sinds' "$WORK/rapport.html" &&
  { echo "FAIL: a report without --since shows changes"; exit 1; }
grep -q 'What changed since 1' "$WORK/report.html" ||
  { echo "FAIL: --since 1 shows no changes"; exit 1; }
# One method, as of an earlier position: fewer studies, and still consistent.
"$LEERLUS" what-works --indicator energiearmoede -o json >"$WORK/energy.json"
"$LEERLUS" report --indicator energiearmoede --out "$WORK/energy.html"
$CHECK html "$WORK/energy.html" "$WORK/energy.json" en

# Chromium: the flags keep it off the network and out of the machine's profile.
shoot() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/chromium" --hide-scrollbars --window-size=1100,1600 \
    --screenshot="$2" "file://$1" >"$WORK/chromium.log" 2>&1 ||
    { cat "$WORK/chromium.log"; echo "FAIL: chromium could not render $1"; exit 1; }
}
shoot "$WORK/report.html" "$WORK/report.png"
$CHECK png "$WORK/report.png" 1100 1600
printf '<!DOCTYPE html><html><body></body></html>' >"$WORK/blank.html"
shoot "$WORK/blank.html" "$WORK/blank.png"
if $CHECK png "$WORK/blank.png" 1100 1600 >/dev/null; then
  echo "FAIL: the screenshot check passes a blank page"; exit 1
fi
echo "browser test passed"
