#!/usr/bin/env bash
# The quick start: install, build, start leerlusd on its embedded RocksDB
# store in ./leerlus-data, load a small demo programme through the real
# client and show what it holds. Safe to run again: every demo change
# carries a fixed request id, so a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DATA_DIR="${LEERLUS_DATA_DIR:-$ROOT/leerlus-data}"
PORT="${LEERLUS_PORT:-50051}"
export LEERLUS_SERVER="127.0.0.1:$PORT"

echo "== installing Debian packages"
bash deploy/install-deps.sh
echo "== building"
bash deploy/build.sh 2>&1 | tail -n 1

PID_FILE="$DATA_DIR.pid"
if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  echo "== leerlusd already running (pid $(cat "$PID_FILE")) on $LEERLUS_SERVER"
else
  echo "== starting leerlusd on $LEERLUS_SERVER with data in $DATA_DIR"
  rm -f "$DATA_DIR.port"
  nohup build/server/leerlusd --data-dir "$DATA_DIR" --listen "$LEERLUS_SERVER" \
    --port-file "$DATA_DIR.port" >"$DATA_DIR.log" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 100); do
    [ -s "$DATA_DIR.port" ] && break
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      echo "leerlusd failed to start:"; cat "$DATA_DIR.log"; exit 1
    fi
    sleep 0.1
  done
fi

L="$ROOT/build/client/leerlus"
# Runs one demo change with a fixed request id; a replay is silent.
change() {
  local id="$1"; shift
  "$L" --request-id "demo-$id" "$@" >/dev/null
}

echo "== loading the demo programme"
change m1 method define --id buurtcoach --name "Buurtcoach" \
  --description "A coach based in the neighbourhood who connects residents to each other and to help"
change m2 method define --id wijkteam --name "Sociaal wijkteam" \
  --description "One integrated team per district for care, work and income questions"
change m3 method define --id energiecoach --name "Energiecoach" \
  --description "Volunteers who help households cut energy use and costs"
change i1 indicator define --id eenzaamheid --name "Eenzaamheid" --better lower \
  --domain social --unit "score 0-11 (De Jong Gierveld)"
change i2 indicator define --id participatie --name "Maatschappelijke participatie" --better higher \
  --domain social --unit "% of residents active"
change i3 indicator define --id energiearmoede --name "Energiearmoede" --better lower \
  --domain environmental --unit "% of households"
"$L" area import deploy/demo/areas.csv --decimal-comma >/dev/null

# Experiments: register, pre-register hypotheses, start.
experiment() {
  local id="$1"; shift
  change "$id-create" experiment create --id "$id" "$@"
}
experiment tilburg-noord --kind project --title "Buurtcoach Tilburg Noord" --method buurtcoach \
  --line area-based --area GM0855 --team team-tilburg --partner ggd-hvb --partner contour \
  --budget-cents 18500000 --start 2018-03-01 --end 2019-06-30 --context target_group=ouderen
experiment eindhoven-woensel --kind project --title "Buurtcoach Woensel-Noord" --method buurtcoach \
  --line area-based --area GM0772 --team team-eindhoven --partner ggd-bzo \
  --budget-cents 21000000 --start 2018-04-01 --end 2019-09-30 --context target_group=ouderen
experiment helmond-wijkteam --kind deal --title "Wijkteam Helmond-Oost" --method wijkteam \
  --line area-based --area GM0794 --team team-helmond --partner gemeente-helmond \
  --budget-cents 9500000 --start 2018-09-01 --end 2019-12-31 --context target_group=gezinnen
experiment bosch-energie --kind deal --title "Energiecoaches 's-Hertogenbosch" --method energiecoach \
  --line crossover --societal-task energietransitie --area GM0796 --team team-bosch \
  --partner woonstichting-zayaz --budget-cents 6000000 --start 2019-01-01 --end 2019-12-31 \
  --context target_group=huurders
for id in tilburg-noord eindhoven-woensel; do
  change "$id-h1" hypothesis add "$id" --id h1 --indicator eenzaamheid --direction decrease \
    --smallest-effect 0.5 --statement "Residents coached for a year feel less lonely"
  change "$id-h2" hypothesis add "$id" --id h2 --indicator participatie --direction increase \
    --smallest-effect 5 --statement "More residents take part in neighbourhood activities"
done
change helmond-wijkteam-h1 hypothesis add helmond-wijkteam --id h1 --indicator participatie \
  --direction increase --smallest-effect 3 --statement "Families find work or volunteering sooner"
change bosch-energie-h1 hypothesis add bosch-energie --id h1 --indicator energiearmoede \
  --direction decrease --smallest-effect 2 --statement "Fewer coached households live in energy poverty"
for id in tilburg-noord eindhoven-woensel helmond-wijkteam bosch-energie; do
  change "$id-start" experiment start "$id"
done

echo "== importing outcomes from deploy/demo/outcomes.csv"
"$L" outcome import deploy/demo/outcomes.csv

change tilburg-noord-lesson lesson add tilburg-noord --id l1 --tag housing --tag trust \
  --text "Coaches with a fixed base in the community centre reached twice as many residents"
change tilburg-noord-evaluate experiment evaluate tilburg-noord
change tilburg-noord-conclude experiment conclude tilburg-noord --decision adapt \
  --rationale "Loneliness fell for the elderly; participation did not move. Next iteration adds group activities."
experiment tilburg-noord-2 --kind project --title "Buurtcoach Tilburg Noord, with group activities" \
  --method buurtcoach --line area-based --area GM0855 --team team-tilburg --partner ggd-hvb \
  --budget-cents 12000000 --start 2019-09-01 --end 2020-08-31 --context target_group=ouderen \
  --parent tilburg-noord

echo
echo "== experiments"
"$L" experiment list
echo
echo "== crossovers or experiments in a low-resilience area (filter: line = CROSSOVER OR context.veerkracht_score < 5.5)"
"$L" experiment list --filter 'line = CROSSOVER OR context.veerkracht_score < 5.5'
echo
echo "== Buurtcoach Tilburg Noord: the learning loop so far"
"$L" experiment show tilburg-noord | grep -E '^experiment\.(status|decision|decision_rationale|context|hypotheses\[[0-9]+\]\.(statement|sealed_hash)|outcomes\[[0-9]+\]\.(indicator_id|design)|lessons)' || true
echo
echo "== the last events of the log"
"$L" events --last 6
echo
echo "== what works against loneliness (an evaluator's question)"
"$L" what-works --indicator eenzaamheid --studies
echo
echo "== hypothesis scorecard per work method"
"$L" scorecard
echo
echo "leerlusd keeps running on $LEERLUS_SERVER (data: $DATA_DIR, log: $DATA_DIR.log)."
echo "Try: build/client/leerlus --help    Stop it: kill \$(cat $PID_FILE)"
