// Turning CSV rows into requests, with a per-row error report.
//
// Outcome columns (header names, any order, case-insensitive):
//   experiment_id, indicator_id, measured_on, design   (required)
//   outcome_id, corrects_outcome_id, risk_of_bias (LOW, SOME_CONCERNS,
//   HIGH), follow_up_months                             (optional)
// and the columns of exactly one shape:
//   two-group means: treatment_mean, treatment_sd, treatment_n,
//                    control_mean, control_sd, control_n
//   two-group counts: treatment_events, treatment_total, control_events,
//                     control_total
//   pre/post: pre_mean, pre_sd, post_mean, post_sd, n, pre_post_correlation
//   direct: measure, effect, and variance | standard_error | ci_lower+ci_upper
//           (total_n optional)
// Area columns: code, name, and every other column an attribute (numbers
// become numbers, true/false booleans, the rest text; empty cells absent).
// Experiment columns (as `leerlus export experiments` writes them):
//   id, kind, title, work_method_id, line, team_id              (required)
//   description, societal_task, area_code, partner_ids (';'-separated),
//   budget_cents, planned_start, planned_end, parent_experiment_id,
//   context.<attr> (typed as area attributes)                    (optional)
// and `status`: an experiment exported as anything but DESIGNED is started
// after it is registered, so its outcomes can be imported. Decisions and
// withdrawals are history and are not replayed; other columns (version,
// times, counts) are derived and ignored.
#ifndef LEERLUS_CLIENT_IMPORT_ROWS_H_
#define LEERLUS_CLIENT_IMPORT_ROWS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/csv_table.h"
#include "leerlus/v1/catalog_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"

namespace leerlus::client {

struct RowError {
  size_t line = 0;
  std::string field;
  std::string message;
};

// The request id of an imported row: derived from the row's content, so
// importing the same file again writes nothing twice.
std::string RowRequestId(absl::string_view kind, const std::vector<std::string>& fields);

struct OutcomeImport {
  std::vector<v1::CreateOutcomeRequest> requests;
  // CSV line of each request.
  std::vector<size_t> lines;
  std::vector<RowError> errors;
};

// Converts every row; rows with errors are reported, not converted. A row
// identical to an earlier one is reported as a duplicate. `decimal_comma`
// reads "3,5" as 3.5.
OutcomeImport OutcomeRequestsFromCsv(const CsvTable& table, bool decimal_comma);

struct AreaImport {
  std::vector<v1::PutAreaRequest> requests;
  std::vector<size_t> lines;
  std::vector<RowError> errors;
};
AreaImport AreaRequestsFromCsv(const CsvTable& table, bool decimal_comma);

struct ExperimentImport {
  std::vector<v1::CreateExperimentRequest> requests;
  // Per request: a start to send once it is registered (empty id: none).
  std::vector<v1::StartExperimentRequest> starts;
  std::vector<size_t> lines;
  std::vector<RowError> errors;
};
ExperimentImport ExperimentRequestsFromCsv(const CsvTable& table, bool decimal_comma);

// Parses "name=value" into an attribute: number, true/false, else text.
v1::AttributeValue InferAttribute(absl::string_view value, bool decimal_comma);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_IMPORT_ROWS_H_
