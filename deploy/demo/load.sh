#!/usr/bin/env bash
# Loads the demo programme through the real client: the catalogue, the areas,
# 40 experiments with a pre-registered hypothesis each, their outcomes, and
# one learning loop closed. Every change carries a fixed request id, so
# loading twice changes nothing.
#   LEERLUS_CLI=path/to/leerlus LEERLUS_SERVER=host:port bash deploy/demo/load.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/demo/common.sh

echo "== loading the demo programme (deploy/demo: 40 synthetic experiments, seed 2019)"
bash deploy/demo/catalogue.sh

# Register, pre-register the hypothesis, start: each with a fixed request id.
tail -n +2 deploy/demo/experiments.csv |
while IFS=, read -r id method line task area team title budget start end indicator; do
  kind=project; [ "$line" = CROSSOVER ] && kind=deal
  change "$id-create" experiment create --id "$id" --kind "$kind" --title "$title" \
    --method "$method" --line "$line" ${task:+--societal-task "$task"} --area "$area" \
    --team "$team" --budget-cents "$budget" --start "$start" --end "$end"
  change "$id-h1" hypothesis add "$id" --id h1 --indicator "$indicator" --direction decrease \
    --smallest-effect 0.5 --statement "The work method lowers $indicator"
  change "$id-start" experiment start "$id"
done

echo "== importing outcomes from deploy/demo/outcomes.csv"
"$L" outcome import deploy/demo/outcomes.csv

# One learning loop closed: a lesson, a decision, the next iteration.
first=buurtcoach-gm0824-1
change "$first-lesson" lesson add "$first" --id l1 --tag rural --tag trust \
  --text "In a village the coach is known by name within weeks; in the city that takes a year"
change "$first-evaluate" experiment evaluate "$first"
change "$first-conclude" experiment conclude "$first" --decision scale-up \
  --rationale "Loneliness fell clearly; scale up to the neighbouring villages"
change "$first-2" experiment create --id "$first-v2" --kind project \
  --title "Buurtcoach Oisterwijk and surrounding villages" --method buurtcoach --line area-based \
  --area GM0824 --team team-welzijn --budget-cents 21000000 --start 2019-09-01 --end 2020-12-31 \
  --parent "$first"

