#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan and UBSan) in ./build-fuzz and
# runs each for SECONDS (default 60; LEERLUS_FUZZ_SECONDS overrides, 0 skips)
# starting from its corpus in tests/fuzz/corpus/. Fails on any finding; the
# input that caused it is kept in build-fuzz/findings/ — turn it into a unit
# test. With --merge, what the run discovered is minimised into the tree's
# corpus (commit it).
#
#   bash tests/fuzz/run.sh            # 60 s per target
#   bash tests/fuzz/run.sh 600 --merge
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${LEERLUS_FUZZ_SECONDS:-${1:-60}}
merge=${2:-}
if [ "$seconds" = 0 ]; then
  echo "fuzz: skipped (LEERLUS_FUZZ_SECONDS=0)"
  exit 0
fi
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DLEERLUS_FUZZ=ON >/dev/null
fi
cmake --build build-fuzz --target fuzz_requests fuzz_csv_import
mkdir -p build-fuzz/findings
for target in fuzz_requests fuzz_csv_import; do
  name=${target#fuzz_}
  corpus=tests/fuzz/corpus/$name
  discovered=build-fuzz/corpus/$name
  mkdir -p "$discovered"
  echo "fuzz: $target for ${seconds}s from $(ls "$corpus" | wc -l) corpus inputs"
  # New inputs go to the first directory (outside the tree); the tree's
  # corpus is only read.
  log=build-fuzz/$target.log
  status=0
  "build-fuzz/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="build-fuzz/findings/$target-" -print_final_stats=1 \
    "$discovered" "$corpus" >"$log" 2>&1 || status=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target FOUND A FAILURE (exit $status); the input is in build-fuzz/findings/" >&2
    exit 1
  fi
  if [ "$merge" = "--merge" ]; then
    "build-fuzz/tests/fuzz/$target" -merge=1 "$corpus" "$discovered" >/dev/null 2>&1
  fi
done
echo "fuzz: no findings"
