// libFuzzer target over the CSV importer: what a spreadsheet export can
// hold, through ParseCsv, the outcome and area row converters and the
// server's validation of every request they produce. The first byte's
// lowest bit turns on decimal commas; the rest is the file.
//
// Checked on every input, beyond "no crash, no sanitizer report": every
// data row is accounted for exactly once, as a request or as an error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "client/csv_table.h"
#include "client/import_rows.h"
#include "common/errors.h"
#include "core/validation.h"

namespace leerlus::fuzz {
namespace {

template <typename Import>
void CheckEveryRowAccountedFor(const client::CsvTable& table, const Import& import) {
  std::set<size_t> converted(import.lines.begin(), import.lines.end());
  std::set<size_t> failed;
  for (const client::RowError& error : import.errors) failed.insert(error.line);
  for (const client::CsvRow& row : table.rows) {
    const bool is_converted = converted.count(row.line) > 0;
    const bool is_failed = failed.count(row.line) > 0;
    if (is_converted == is_failed) {
      std::fprintf(stderr, "row at line %zu is %s\n", row.line,
                   is_converted ? "both converted and failed" : "neither converted nor failed");
      std::abort();
    }
  }
  if (import.requests.size() != import.lines.size()) std::abort();
}

}  // namespace
}  // namespace leerlus::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leerlus;  // NOLINT(build/namespaces): a fuzz entry point.
  if (size == 0) return 0;
  const bool decimal_comma = (data[0] & 1) != 0;
  absl::StatusOr<client::CsvTable> table =
      client::ParseCsv(absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (!table.ok()) return 0;
  client::OutcomeImport outcomes = client::OutcomeRequestsFromCsv(*table, decimal_comma);
  fuzz::CheckEveryRowAccountedFor(*table, outcomes);
  for (const v1::CreateOutcomeRequest& request : outcomes.requests) {
    FieldViolations violations;
    core::CheckId(violations, "experiment_id", request.experiment_id());
    core::CheckRequestId(violations, request.request_id());
    core::ValidateOutcome(violations, "outcome", request.outcome());
  }
  client::AreaImport areas = client::AreaRequestsFromCsv(*table, decimal_comma);
  fuzz::CheckEveryRowAccountedFor(*table, areas);
  for (const v1::PutAreaRequest& request : areas.requests) {
    FieldViolations violations;
    core::ValidateArea(violations, "area", request.area());
  }
  return 0;
}
