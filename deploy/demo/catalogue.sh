#!/usr/bin/env bash
# The demo programme's catalogue: five work methods, two indicators and the
# areas (deploy/demo/areas.csv). Run by load.sh, and on its own to give a
# fresh server the same catalogue (the export round trip test does).
#   LEERLUS_CLI=path/to/leerlus LEERLUS_SERVER=host:port bash deploy/demo/catalogue.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/demo/common.sh
change m1 method define --id buurtcoach --name "Buurtcoach" \
  --description "A coach based in the neighbourhood who connects residents to each other and to help"
change m2 method define --id wijkteam --name "Sociaal wijkteam" \
  --description "One integrated team per district for care, work and income questions"
change m3 method define --id taalcafe --name "Taalcafé" \
  --description "Weekly language and meeting place run by volunteers"
change m4 method define --id mantelzorgsteun --name "Mantelzorgsteun" \
  --description "Respite and peer groups for informal carers"
change m5 method define --id energiecoach --name "Energiecoach" \
  --description "Volunteers who help households cut energy use and costs"
change i1 indicator define --id eenzaamheid --name "Eenzaamheid" --better lower \
  --domain social --unit "score 0-11 (De Jong Gierveld)"
change i2 indicator define --id energiearmoede --name "Energiearmoede" --better lower \
  --domain environmental --unit "share of households"
"$L" area import deploy/demo/areas.csv --decimal-comma >/dev/null
