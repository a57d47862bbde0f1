// Flat tables for spreadsheets and R: `leerlus export experiments|outcomes|
// effects`. One row per item, every context attribute its own column, and
// numbers written exactly (they read back as the same doubles), so an
// evaluator can check any answer in metafor by hand:
//   d <- read.csv("effects.csv"); rma(yi, vi, data = subset(d, work_method_id == "x"))
//
// The experiments and outcomes tables use the column names `experiment
// import` and `outcome import` read, so an export loads into another server.
#ifndef LEERLUS_CLIENT_EXPORT_H_
#define LEERLUS_CLIENT_EXPORT_H_

#include <map>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "client/client.h"

namespace leerlus::client {

// A cell: empty, text, a whole number, a number or a boolean.
using Cell = std::variant<std::monostate, std::string, int64_t, double, bool>;

struct FlatTable {
  // The fixed columns in order; columns met only in some rows (context.*)
  // follow in name order.
  std::vector<std::string> columns;
  std::vector<std::map<std::string, Cell>> rows;
};

// Every experiment matching `filter` (all when empty) with its outcomes and
// lessons, in the order they were registered (parents before children).
grpc::Status FetchExperiments(Client& api, const std::string& filter,
                              std::vector<v1::Experiment>* experiments);

// Effects as what-works computes them (default measure and model) over the
// experiments matching `filter`, for every indicator or only `indicator_id`.
grpc::Status FetchEffects(Client& api, const std::string& indicator_id, const std::string& filter,
                          std::vector<v1::WhatWorksResponse>* answers);

// One row per experiment: its fields and `context.<attr>` (which holds the
// area's attributes as they were at registration).
FlatTable ExperimentsTable(const std::vector<v1::Experiment>& experiments);

// One row per live outcome (retracted ones too with `include_retracted`):
// the columns `outcome import` reads, the experiment's method and context,
// and the effect what-works uses (`yi`, `vi`, `measure_used`) or why it was
// left out (`excluded_reason`).
FlatTable OutcomesTable(const std::vector<v1::Experiment>& experiments,
                        const std::vector<v1::WhatWorksResponse>& answers, bool include_retracted);

// One row per pooled effect: indicator, method, experiment, outcome, `yi`,
// `vi`, CI, weight, and the experiment's context.
FlatTable EffectsTable(const std::vector<v1::Experiment>& experiments,
                       const std::vector<v1::WhatWorksResponse>& answers);

// RFC 4180 CSV with a header row.
void WriteCsv(const FlatTable& table, std::ostream& out);
// A JSON array of objects, typed values, empty cells left out.
void WriteJson(const FlatTable& table, std::ostream& out);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_EXPORT_H_
