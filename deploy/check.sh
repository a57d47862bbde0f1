#!/usr/bin/env bash
# Checks what can be checked of deploy/ on this machine (no Docker engine or
# cluster here): the systemd unit verifies, the Kubernetes manifests parse as
# YAML with the expected kinds, the Dockerfile's runtime packages exist in
# Debian 12, and the example config is accepted by leerlusd.
#   bash deploy/check.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
fail() { echo "deploy check failed: $*" >&2; exit 1; }

# The unit: systemd-analyze wants the binary it starts to exist.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/leerlusd|$(realpath "$BUILD/server/leerlusd")|" deploy/systemd/leerlusd.service \
  > "$tmp/leerlusd.service"
out=$(systemd-analyze verify "$tmp/leerlusd.service" 2>&1 || true)
if echo "$out" | grep -v -e "Documentation" -e "^$" | grep -q .; then
  fail "systemd-analyze verify: $out"
fi
echo "ok: systemd unit verifies"

python3 - <<'PY' || fail "Kubernetes manifests"
import yaml
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/leerlus.yaml")) if d]
kinds = sorted(d["kind"] for d in docs)
assert kinds == ["ConfigMap", "CronJob", "Secret", "Service", "StatefulSet"], kinds
sts = next(d for d in docs if d["kind"] == "StatefulSet")
assert sts["spec"]["replicas"] == 1, "RocksDB has one writer: one replica"
container = sts["spec"]["template"]["spec"]["containers"][0]
assert container["readinessProbe"]["grpc"]["port"] == 50051
assert container["livenessProbe"]["grpc"]["port"] == 50051
assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
print("ok: Kubernetes manifests parse:", ", ".join(kinds))
PY

# The Dockerfile's runtime stage installs these Debian 12 packages.
packages=$(sed -n '/FROM debian:12-slim/,$p' deploy/Dockerfile | grep -oE 'lib[a-z0-9.+-]+|ca-certificates' | sort -u)
for package in $packages; do
  apt-cache show "$package" >/dev/null 2>&1 || fail "Dockerfile installs '$package', which Debian 12 does not have"
done
echo "ok: Dockerfile runtime packages exist: $(echo $packages | tr '\n' ' ')"

# The example config is valid (data-dir overridden so nothing is written).
"$BUILD/server/leerlusd" --config deploy/leerlusd.toml --data-dir "$tmp/data" --print-config >/dev/null \
  || fail "deploy/leerlusd.toml is not accepted"
echo "ok: deploy/leerlusd.toml accepted"
