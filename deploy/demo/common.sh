# Sourced by the demo scripts: the client binary, the server address, and
# change(), which runs one demo change with a fixed request id (a replay is
# silent, so loading twice changes nothing).
L="${LEERLUS_CLI:?set LEERLUS_CLI to the leerlus binary}"
: "${LEERLUS_SERVER:?set LEERLUS_SERVER}"
export LEERLUS_SERVER
change() {
  local id="$1"; shift
  "$L" --request-id "demo-$id" "$@" >/dev/null
}
