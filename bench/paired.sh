#!/usr/bin/env bash
# What a change costs: this tree's leerlusd against the one built from an
# earlier revision, run alternately on this machine, so that both see the
# same load. Each round runs the quick appends (concurrency 1 and 64) and
# the quick import once per binary, in turn; the table gives each metric's
# median per binary and the median of the rounds' ratios (this / base),
# with how many rounds went the same way.
#
#   bash bench/paired.sh fcbde4c          # 6 rounds; builds fcbde4c's leerlusd
#   bash bench/paired.sh path/to/leerlusd 12
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: bench/paired.sh BASE_REVISION|BASE_LEERLUSD [ROUNDS]" >&2
  exit 2
fi
rounds=${2:-6}
bash deploy/build.sh >/dev/null
work=$(mktemp -d /tmp/leerlus-paired-XXXXXX)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
base=$1
if [ ! -x "$base" ]; then
  git worktree add --detach -q "$work/base" "$1"
  (cd "$work/base" && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build --target leerlusd >/dev/null)
  base="$work/base/build/server/leerlusd"
fi

declare -A binaries=([base]="$base" [this]="build/server/leerlusd")
for round in $(seq 1 "$rounds"); do
  # Alternate which goes first, so that neither always meets a warm cache.
  order=(base this)
  if [ $((round % 2)) = 0 ]; then order=(this base); fi
  for variant in "${order[@]}"; do
    for scenario in "appends --concurrency 1 64" "import"; do
      name=${scenario%% *}
      # shellcheck disable=SC2086
      build/bench/leerlus-bench --leerlusd "${binaries[$variant]}" \
        --echo build/bench/leerlus-bench-echo --quick --only $scenario \
        --json "$work/$variant-$name-$round.json" >/dev/null
    done
    echo "round $round: $variant done" >&2
  done
done

python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
metrics = [("durable appends", "server CPU us per call, concurrency 64"),
           ("durable appends", "server CPU us per call, concurrency 1"),
           ("durable appends", "unary calls/s, concurrency 64"),
           ("durable appends", "unary calls/s, concurrency 1"),
           ("streaming import", "server CPU us per outcome"),
           ("streaming import", "outcomes/s until durable")]
def figure(variant, name, round_, scenario, metric):
    with open(f"{work}/{variant}-{name}-{round_}.json") as f:
        for entry in json.load(f)["figures"]:
            if entry["scenario"] == scenario and entry["metric"] == metric:
                return entry["median"]
    return None
print(f"{'metric':58} {'base':>9} {'this':>9} {'this/base':>10} {'higher':>7}")
for scenario, metric in metrics:
    name = "appends" if scenario == "durable appends" else "import"
    base = [figure("base", name, r, scenario, metric) for r in range(1, rounds + 1)]
    this = [figure("this", name, r, scenario, metric) for r in range(1, rounds + 1)]
    if None in base or None in this:
        continue
    ratios = [t / b for t, b in zip(this, base)]
    higher = sum(1 for r in ratios if r > 1)
    print(f"{scenario + ', ' + metric:58} {statistics.median(base):9.1f} "
          f"{statistics.median(this):9.1f} {statistics.median(ratios):10.3f} {higher:>4}/{rounds}")
EOF
