#!/usr/bin/env bash
# Installs the Debian 12 packages leerlus builds and tests with.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config curl \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  librocksdb-dev libabsl-dev libssl-dev libcli11-dev libcsv-dev \
  libboost-dev libboost-math-dev libeigen3-dev prometheus-cpp-dev libgtest-dev libgmock-dev python3-yaml python3-grpcio python3-grpc-tools python3-cryptography systemd \
  clang libclang-rt-14-dev >/dev/null

# buf lints the .proto files (npm package; runs offline once installed).
if ! command -v buf >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  $SUDO npm install -g --silent @bufbuild/buf@1.75.0 >/dev/null 2>&1
fi
