// `leerlus area|experiment|outcome import FILE`: the rows of a CSV file sent
// to the server with a progress line on a terminal, the rows that failed
// listed by line on stderr, and kExitPartialImport when any failed. Every
// row's request id derives from its content, so running the same file again
// writes nothing twice.
#ifndef LEERLUS_CLIENT_COMMANDS_IMPORT_H_
#define LEERLUS_CLIENT_COMMANDS_IMPORT_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/client.h"
#include "client/commands/command.h"
#include "client/csv_table.h"
#include "client/import_rows.h"
#include "client/output.h"

namespace leerlus::cli {

// The file argument and --decimal-comma of an import command.
struct ImportFlags {
  std::string file;
  bool decimal_comma = false;
};

std::shared_ptr<ImportFlags> AddImportFlags(CLI::App* command, const std::string& file_help);

// A progress line on a terminal; nothing otherwise.
class Progress {
 public:
  explicit Progress(size_t total);
  void Update(size_t done);

 private:
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// Prints why a CSV file could not be read; returns the exit code.
int PrintReadError(const std::string& path, const absl::Status& status);

// Sorts `errors` by line and prints them, one per line; returns the exit
// code of an import that had them.
int PrintRowErrors(std::vector<client::RowError>& errors);

// Imports the rows of a CSV file with one unary call each (areas,
// experiments). Returns the exit code. `after_row(rows, i)`, if given, runs
// once row i is written (and its failure counts as the row's).
template <typename Import, typename Stub, typename Request, typename Response>
int ImportRowByRow(client::Client& api, const std::string& path, const std::string& noun,
                   bool decimal_comma, Import (*convert)(const client::CsvTable&, bool),
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                   Stub* stub,
                   std::function<grpc::Status(const Import&, size_t)> after_row = nullptr) {
  absl::StatusOr<client::CsvTable> table = client::ReadCsvFile(path);
  if (!table.ok()) return PrintReadError(path, table.status());
  Import rows = convert(*table, decimal_comma);
  std::vector<client::RowError> errors = rows.errors;
  Progress progress(rows.requests.size());
  size_t written = 0;
  for (size_t i = 0; i < rows.requests.size(); ++i) {
    Response response;
    grpc::Status status = api.Call(method, stub, rows.requests[i], &response);
    if (status.ok() && after_row) status = after_row(rows, i);
    if (status.ok()) {
      ++written;
    } else {
      errors.push_back(client::RowError{rows.lines[i], "", client::DescribeStatus(status)});
    }
    progress.Update(i + 1);
  }
  std::cout << "imported " << written << " of " << table->rows.size() << " " << noun << " from "
            << path << "; " << errors.size() << " failed\n";
  return PrintRowErrors(errors);
}

// Streams the outcomes of a CSV file in one ImportOutcomes call (rows carry
// their request ids, so the server skips what it already has).
int ImportOutcomes(client::Client& api, client::OutputFormat format, const std::string& path,
                   bool decimal_comma);

}  // namespace leerlus::cli

#endif  // LEERLUS_CLIENT_COMMANDS_IMPORT_H_
