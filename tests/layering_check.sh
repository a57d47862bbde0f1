#!/usr/bin/env bash
# The seams between the layers, checked so that they stay where
# docs/ARCHITECTURE.md says they are:
# - storage/ is a generic event log: it includes no leerlus/v1 business
#   type (its own envelope is leerlus.internal.v1.Envelope);
# - only storage/ and core/model/ name column families: commands, queries,
#   access, insights, the server and the client go through the read model.
# (bench/ and tests/ may reach the raw layout: the benchmark's floor writes
# an outcome's rows to RocksDB alone, and tests damage files on purpose.)
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if grep -rnP 'leerlus/v1/|(?<!internal::)\bv1::' storage/; then
  echo "storage/ must not use leerlus/v1 business types (above)" >&2
  status=1
fi
if grep -rnE '\bColumnFamily\b|families::k' --include='*.cc' --include='*.h' \
    core server client analysis common | grep -v '^core/model/'; then
  echo "column families are named only in storage/ and core/model/ (above)" >&2
  status=1
fi
exit $status
