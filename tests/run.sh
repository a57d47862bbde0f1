#!/usr/bin/env bash
# Builds leerlus and runs the whole test suite with CTest, then the short
# fuzz runs (60 s per target; LEERLUS_FUZZ_SECONDS=0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
bash tests/fuzz/run.sh
