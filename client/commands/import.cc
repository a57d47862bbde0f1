#include "client/commands/import.h"

#include <unistd.h>

#include <cstdio>

namespace leerlus::cli {

std::shared_ptr<ImportFlags> AddImportFlags(CLI::App* command, const std::string& file_help) {
  auto flags = std::make_shared<ImportFlags>();
  command->add_option("file", flags->file, file_help)->required();
  command->add_flag("--decimal-comma", flags->decimal_comma, "numbers use a decimal comma (3,5)");
  return flags;
}

Progress::Progress(size_t total) : total_(total), tty_(isatty(STDERR_FILENO) == 1) {}

void Progress::Update(size_t done) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (done != total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  double rate = seconds > 0 ? done / seconds : 0;
  double eta = rate > 0 ? (total_ - done) / rate : 0;
  int width = 30;
  int filled = total_ == 0 ? width : static_cast<int>(width * done / total_);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu rows  %.0f rows/s  ETA %.0fs ",
               std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done,
               total_, rate, eta);
  if (done == total_) std::fprintf(stderr, "\n");
}

int PrintReadError(const std::string& path, const absl::Status& status) {
  std::cerr << "error: " << path << ": " << status.message() << std::endl;
  return status.code() == absl::StatusCode::kNotFound ? 4 : 3;
}

int PrintRowErrors(std::vector<client::RowError>& errors) {
  std::sort(errors.begin(), errors.end(),
            [](const client::RowError& a, const client::RowError& b) { return a.line < b.line; });
  for (const client::RowError& error : errors) {
    std::cerr << "line " << error.line;
    if (!error.field.empty()) std::cerr << ", " << error.field;
    std::cerr << ": " << error.message << "\n";
  }
  return errors.empty() ? 0 : kExitPartialImport;
}

namespace {

// Sends every row on one ImportOutcomes stream; the server's answer says
// which rows it refused.
grpc::Status StreamOutcomes(client::Client& api, const client::OutcomeImport& rows,
                            v1::ImportOutcomesResponse* response) {
  grpc::ClientContext context;
  api.Authorize(context);
  std::unique_ptr<grpc::ClientWriter<v1::ImportOutcomesRequest>> writer =
      api.experiments()->ImportOutcomes(&context, response);
  Progress progress(rows.requests.size());
  size_t sent = 0;
  for (const v1::CreateOutcomeRequest& row : rows.requests) {
    v1::ImportOutcomesRequest message;
    *message.mutable_row() = row;
    if (!writer->Write(message)) break;
    progress.Update(++sent);
  }
  writer->WritesDone();
  return writer->Finish();
}

}  // namespace

int ImportOutcomes(client::Client& api, client::OutputFormat format, const std::string& path,
                   bool decimal_comma) {
  absl::StatusOr<client::CsvTable> table = client::ReadCsvFile(path);
  if (!table.ok()) return PrintReadError(path, table.status());
  client::OutcomeImport rows = client::OutcomeRequestsFromCsv(*table, decimal_comma);
  std::vector<client::RowError> errors = rows.errors;
  v1::ImportOutcomesResponse response;
  grpc::Status status = StreamOutcomes(api, rows, &response);
  if (!status.ok()) {
    std::cerr << "error: import stopped: " << client::DescribeStatus(status)
              << "\n(rows are idempotent: run the same command again to continue)" << std::endl;
    return client::ExitCodeFor(status);
  }
  for (const v1::ImportRowResult& result : response.results()) {
    errors.push_back(
        client::RowError{rows.lines.at(result.row()), result.field(), result.message()});
  }
  // The server lists its first failed rows only; `failed` counts them all.
  const uint64_t unlisted = response.failed() - static_cast<uint64_t>(response.results_size());
  if (format == client::OutputFormat::kJson) {
    std::cout << client::ToJson(response, true) << "\n";
  } else {
    std::cout << "imported " << response.written() << " of " << table->rows.size() << " rows from "
              << path << " (rows already imported count as imported); " << errors.size() + unlisted
              << " failed\n";
  }
  const int exit_code = PrintRowErrors(errors);
  if (unlisted > 0) {
    std::cerr << "... and " << unlisted << " more rows refused by the server, not listed"
              << std::endl;
  }
  return exit_code;
}

}  // namespace leerlus::cli
