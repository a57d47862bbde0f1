#!/usr/bin/env bash
# Runs the benchmark: leerlus against a gRPC echo server, RocksDB alone and,
# if PostgreSQL is installed, PostgreSQL doing the same work, all in one run
# on this machine. Prints a table and writes bench/results.json (or --json).
#
#   bash bench/run.sh            # full: a store of 1,000,000 outcomes
#   bash bench/run.sh --quick    # under 3 minutes: 50,000 outcomes
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
json=bench/results.json
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="--quick" ;;
    --json) json="$2"; shift ;;
    *) echo "usage: bench/run.sh [--quick] [--json FILE]" >&2; exit 2 ;;
  esac
  shift
done
bash deploy/build.sh >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
build/bench/leerlus-bench --leerlusd build/server/leerlusd --echo build/bench/leerlus-bench-echo \
  --json "$json" $quick

# PostgreSQL 15 with the same outcomes as rows: 16 clients doing durable
# single-row inserts, COPY of all rows, and the per-method inverse-variance
# aggregation (weighted mean and Q) in SQL.
if ! command -v initdb >/dev/null || ! command -v pg_ctl >/dev/null || ! command -v pgbench >/dev/null; then
  echo "postgresql: skipped (initdb, pg_ctl or pgbench not installed)"
  exit 0
fi
rows=1000000
span=8
if [ -n "$quick" ]; then rows=50000; span=2; fi
work=$(mktemp -d)
# PostgreSQL refuses to run as root: then it runs as the postgres user.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  owner=$(id -un postgres 2>/dev/null || echo nobody)
  chown "$owner" "$work"
  as_owner=(runuser -u "$owner" --)
fi
trap '"${as_owner[@]}" pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"${as_owner[@]}" initdb -D "$work/data" -A trust -U bench >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_owner[@]}" pg_ctl -D "$work/data" -l "$work/log" -w -o "-p $port -k $work -c listen_addresses=127.0.0.1 \
  -c fsync=on -c synchronous_commit=on -c shared_buffers=128MB" start >/dev/null
psql=(psql -q -X -h 127.0.0.1 -p "$port" -U bench -d postgres -v ON_ERROR_STOP=1)
"${psql[@]}" -c "create table outcomes (id bigserial primary key, experiment_id text not null,
  work_method_id text not null, indicator_id text not null, measured_on date not null,
  treatment_mean float8, treatment_sd float8, treatment_n int,
  control_mean float8, control_sd float8, control_n int)"
cat > "$work/insert.sql" <<'SQL'
insert into outcomes (experiment_id, work_method_id, indicator_id, measured_on, treatment_mean,
  treatment_sd, treatment_n, control_mean, control_sd, control_n)
values ('x' || (random() * 500)::int, 'm' || (random() * 9)::int, 'loneliness', '2019-06-01',
  4.2 + random(), 1.2, 40 + (random() * 60)::int, 4.8, 1.3, 40 + (random() * 60)::int);
SQL
python3 - "$rows" "$work/rows.csv" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w") as out:
    for i in range(rows):
        out.write(f"x{i % 10000},m{i % 50},loneliness,2019-06-01,{4.2 + random.random():.4f},1.2,"
                  f"{40 + random.randrange(60)},4.8,1.3,{40 + random.randrange(60)}\n")
PY
results=()
for rep in 1 2 3; do
  "${psql[@]}" -c "truncate outcomes"
  tps=$(pgbench -n -h 127.0.0.1 -p "$port" -U bench -c 16 -j 2 -T "$span" -f "$work/insert.sql" \
    postgres 2>/dev/null | awk '/^tps/ {print $3; exit}')
  "${psql[@]}" -c "truncate outcomes"
  start=$(date +%s.%N)
  "${psql[@]}" -c "\copy outcomes (experiment_id, work_method_id, indicator_id, measured_on,
    treatment_mean, treatment_sd, treatment_n, control_mean, control_sd, control_n)
    from '$work/rows.csv' with (format csv)"
  copy_seconds=$(python3 -c "print($(date +%s.%N) - $start)")
  "${psql[@]}" -c "vacuum analyze outcomes"
  # Hedges' g and its variance per row, then per method the inverse-variance
  # weighted mean and Cochran's Q: the one-pass fixed-effect aggregation.
  query="with effects as (
    select work_method_id as method,
      (treatment_mean - control_mean) / sqrt(((treatment_n - 1) * treatment_sd ^ 2
        + (control_n - 1) * control_sd ^ 2) / (treatment_n + control_n - 2))
        * (1 - 3 / (4.0 * (treatment_n + control_n) - 9)) as g,
      (treatment_n + control_n)::float8 / (treatment_n * control_n) as v0,
      treatment_n + control_n as n
    from outcomes where indicator_id = 'loneliness'),
  weighted as (select method, g, 1 / (v0 + g * g / (2.0 * n)) as w from effects)
  select method, sum(w * g) / sum(w) as pooled,
    sum(w * g * g) - sum(w * g) ^ 2 / sum(w) as q from weighted group by method"
  best=""
  for i in 1 2 3 4 5; do
    start=$(date +%s.%N)
    "${psql[@]}" -c "$query" >/dev/null
    ms=$(python3 -c "print(($(date +%s.%N) - $start) * 1000)")
    best=$(python3 -c "print(sorted([float(x) for x in '$best $ms'.split()])[0])")
  done
  results+=("$tps $(python3 -c "print($rows / $copy_seconds)") $best")
done
python3 - "$json" "${results[@]}" <<'PY'
import json, statistics, sys
path, runs = sys.argv[1], [list(map(float, r.split())) for r in sys.argv[2:]]
report = json.load(open(path))
medians = {f"{f['scenario']}/{f['metric']}": f["median"] for f in report["figures"]}
def figure(metric, unit, values, mine=None, higher_is_better=True):
    f = {"scenario": "postgresql", "metric": metric, "unit": unit,
         "median": statistics.median(values), "min": min(values), "max": max(values),
         "repetitions": len(values)}
    if mine in medians and f["median"] > 0:
        f["leerlus"] = mine
        f["leerlus_ratio"] = round(medians[mine] / f["median"], 3)
    report["figures"].append(f)
    return f
rows = [
  figure("durable single-row inserts/s, 16 clients", "rows/s", [r[0] for r in runs],
         "durable appends/unary calls/s, concurrency 64"),
  figure("COPY rows/s", "rows/s", [r[1] for r in runs], "streaming import/outcomes/s until durable"),
  figure("per-method aggregation ms (best of 5)", "ms", [r[2] for r in runs],
         "what-works/REML every method p50 ms, warm"),
]
json.dump(report, open(path, "w"), indent=2)
for f in rows:
    ratio = f"  leerlus/postgresql {f['leerlus_ratio']}" if "leerlus_ratio" in f else ""
    print(f"{'postgresql':18} {f['metric']:44} {f['median']:12.1f} {f['min']:12.1f} {f['max']:12.1f}{ratio}")
PY
