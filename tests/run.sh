#!/usr/bin/env bash
# Builds leerlus and runs the whole test suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
