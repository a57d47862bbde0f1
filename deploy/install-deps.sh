#!/usr/bin/env bash
# Installs the Debian 12 packages leerlus builds and tests with.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  librocksdb-dev libabsl-dev libssl-dev libcli11-dev libcsv-dev \
  libgtest-dev libgmock-dev >/dev/null
