#!/usr/bin/env bash
# Checks what can be checked of deploy/ on this machine (no Docker engine or
# cluster here): the systemd unit verifies, the Kubernetes manifests parse as
# YAML with the expected kinds, the Dockerfile's runtime packages exist in
# Debian 12, and every shipped config starts a server that answers (with
# TLS, probes and the backup job as Kubernetes would run them).
#   bash deploy/check.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
fail() { echo "deploy check failed: $*" >&2; exit 1; }

# The unit: systemd-analyze wants the binary it starts to exist.
tmp=$(mktemp -d)
trap 'for pid in "$tmp"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/leerlusd|$(realpath "$BUILD/server/leerlusd")|" deploy/systemd/leerlusd.service \
  > "$tmp/leerlusd.service"
# ... also with its commented log key lines in use.
sed -e 's/^#\(LoadCredential=\)/\1/' -e 's/^#\(Environment=LEERLUS_\)/\1/' "$tmp/leerlusd.service" \
  > "$tmp/leerlusd-signing.service"
grep -q "^LoadCredential=" "$tmp/leerlusd-signing.service" || fail "the unit shows no LoadCredential"
for unit in leerlusd.service leerlusd-signing.service; do
  out=$(systemd-analyze verify "$tmp/$unit" 2>&1 || true)
  if echo "$out" | grep -v -e "Documentation" -e "^$" | grep -q .; then
    fail "systemd-analyze verify $unit: $out"
  fi
done
echo "ok: systemd unit verifies, with and without a log key"

python3 - <<'PY' || fail "Kubernetes manifests"
import yaml
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/leerlus.yaml")) if d]
kinds = sorted(d["kind"] for d in docs)
assert kinds == ["ConfigMap", "CronJob", "Secret", "Secret", "Secret", "Service", "StatefulSet"], kinds
sts = next(d for d in docs if d["kind"] == "StatefulSet")
assert sts["spec"]["replicas"] == 1, "RocksDB has one writer: one replica"
container = sts["spec"]["template"]["spec"]["containers"][0]
for probe in ("readinessProbe", "livenessProbe"):
    assert container[probe]["exec"]["command"][-1] == "health", probe
assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
print("ok: Kubernetes manifests parse:", ", ".join(kinds))
PY

# The Dockerfile's runtime stage installs these Debian 12 packages.
packages=$(sed -n '/FROM debian:12-slim/,$p' deploy/Dockerfile | grep -oE 'lib[a-z0-9.+-]+|ca-certificates' | sort -u)
for package in $packages; do
  apt-cache show "$package" >/dev/null 2>&1 || fail "Dockerfile installs '$package', which Debian 12 does not have"
done
echo "ok: Dockerfile runtime packages exist: $(echo $packages | tr '\n' ' ')"

# Every shipped config starts a server that answers, the way its
# deployment reaches it. Paths under /etc/leerlus and /var/lib/leerlus are
# moved into $tmp, ports are chosen by the kernel; nothing else changes.
LEERLUSD="$(realpath "$BUILD/server/leerlusd")"
LEERLUS="$(realpath "$BUILD/client/leerlus")"
serve() {  # serve NAME CONFIG_FILE: starts leerlusd, waits for its port
  local name=$1 config=$2 http=()
  local http_host
  http_host=$(sed -n 's/^ *http-listen = "\(.*\):[0-9]*"/\1/p' "$config")
  if [ -n "$http_host" ]; then
    http=(--http-listen "$http_host:0" --http-port-file "$tmp/$name.http-port")
  fi
  "$LEERLUSD" --config "$config" --listen "$(sed -n 's/^ *listen = "\(.*\):[0-9]*"/\1/p' "$config"):0" \
    --metrics-listen 127.0.0.1:0 --port-file "$tmp/$name.port" "${http[@]}" >"$tmp/$name.log" 2>&1 &
  echo $! >"$tmp/$name.pid"
  for _ in $(seq 1 100); do
    [ -s "$tmp/$name.port" ] && return 0
    kill -0 "$(cat "$tmp/$name.pid")" 2>/dev/null || fail "$name does not start: $(cat "$tmp/$name.log")"
    sleep 0.1
  done
  fail "$name did not start within 10 s"
}
stop() {
  kill "$(cat "$tmp/$1.pid")"
  wait "$(cat "$tmp/$1.pid")" 2>/dev/null || true
  rm -f "$tmp/$1.pid"
}
relocate() { sed -e "s|/etc/leerlus|$tmp/etc|g" -e "s|/var/lib/leerlus|$tmp/var|g"; }
mkdir -p "$tmp/etc/tls" "$tmp/etc/token" "$tmp/etc/log-key" "$tmp/var"

# deploy/leerlusd.toml (systemd, Docker): loopback, plaintext.
relocate <deploy/leerlusd.toml >"$tmp/leerlusd.toml"
serve plain "$tmp/leerlusd.toml"
"$LEERLUS" --server "127.0.0.1:$(cat "$tmp/plain.port")" --timeout 5 health >/dev/null \
  || fail "deploy/leerlusd.toml: health does not answer"
[ -s "$tmp/var/admin-token" ] || fail "deploy/leerlusd.toml: no first admin token written"
stop plain
echo "ok: deploy/leerlusd.toml serves"

# The Kubernetes ConfigMap: TLS on all addresses, with a certificate that
# names the service, probed and backed up with the manifest's own commands.
( cd "$tmp/etc/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=deploy-check-ca
  openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj /CN=leerlus
  printf 'subjectAltName=DNS:leerlus\n' >san.ext
  openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 1 \
    -extfile san.ext ) >/dev/null 2>&1 || fail "cannot make a test certificate"
python3 - "$tmp" <<'PY' || fail "Kubernetes manifests: cannot extract the commands"
import shlex, sys, yaml
tmp = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/leerlus.yaml")) if d]
config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["leerlusd.toml"]
open(f"{tmp}/k8s.toml.in", "w").write(config)
sts = next(d for d in docs if d["kind"] == "StatefulSet")
probe = sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
open(f"{tmp}/probe.in", "w").write(shlex.join(probe))
job = next(d for d in docs if d["kind"] == "CronJob")
args = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
open(f"{tmp}/backup.in", "w").write(args)
PY
relocate <"$tmp/k8s.toml.in" >"$tmp/k8s.toml"
# The log key as the Secret holds it (its fsGroup mode is
# tests/signed_note_test.cc's: this script may run as root).
"$LEERLUSD" keygen --origin deploy-check.leerlus.nl/log --out "$tmp/etc/log-key/log.key" >/dev/null \
  || fail "cannot make a log key"
serve k8s "$tmp/k8s.toml"
port=$(cat "$tmp/k8s.port")
probe=$(relocate <"$tmp/probe.in" | sed -e "s|127.0.0.1:50051|127.0.0.1:$port|" -e "s|^leerlus |$LEERLUS |")
eval "$probe" >/dev/null || fail "the Kubernetes probe does not pass: $probe"
cp "$tmp/var/admin-token" "$tmp/etc/token/token"
backup=$(relocate <"$tmp/backup.in" | sed -e "s|leerlus:50051|127.0.0.1:$port --tls-server-name leerlus|" \
  -e "s|^leerlus |$LEERLUS |")
eval "$backup" >/dev/null || fail "the Kubernetes backup job fails: $backup"
ls "$tmp/var/backups" | grep -q . || fail "the Kubernetes backup job wrote no backup"
out=$("$LEERLUS" --server "127.0.0.1:$port" --tls-ca "$tmp/etc/tls/ca.crt" --tls-server-name leerlus \
  --token-file "$tmp/etc/token/token" checkpoint 2>&1) || fail "the Kubernetes config signs no checkpoint: $out"
[ -s "$tmp/var/signed-checkpoint" ] || fail "the Kubernetes config keeps no checkpoint state"
# Its HTTP listener: the same certificate, the same token.
http_port=$(cat "$tmp/k8s.http-port")
code=$(curl -s -o "$tmp/http.out" -w '%{http_code}' --cacert "$tmp/etc/tls/ca.crt" \
  --resolve "leerlus:$http_port:127.0.0.1" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $(cat "$tmp/etc/token/token")" -d '{}' \
  "https://leerlus:$http_port/leerlus.v1.CatalogService/ListWorkMethods") || true
[ "$code" = 200 ] || fail "the Kubernetes config's HTTPS gateway answers $code: $(cat "$tmp/http.out")"
stop k8s
echo "ok: the Kubernetes config serves gRPC and HTTPS over TLS and signs; its probe and backup job work"
