// leerlus: the command-line client. See `leerlus --help`.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/csv_table.h"
#include "client/export.h"
#include "client/health.h"
#include "client/import_rows.h"
#include "client/output.h"
#include "client/report/report.h"
#include "google/protobuf/util/time_util.h"

namespace {

using namespace leerlus;  // NOLINT: a command-line program over one API.
using client::OutputFormat;

// Exit codes besides the per-status ones in client.h.
constexpr int kExitUsage = 2;
constexpr int kExitPartialImport = 10;

struct Globals {
  std::string server = "127.0.0.1:50051";
  std::string output = "table";
  std::string request_id;
  uint64_t expected_version = 0;
  int timeout_seconds = 30;
  std::string token;
  std::string token_file;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
};

OutputFormat FormatOf(const Globals& globals) {
  if (globals.output == "json") return OutputFormat::kJson;
  if (globals.output == "csv") return OutputFormat::kCsv;
  return OutputFormat::kTable;
}

std::string RequestId(const Globals& globals) {
  return globals.request_id.empty() ? client::NewRequestId() : globals.request_id;
}

// Parses an enum value given by its short name, case-insensitive, '-' or '_'.
template <typename Enum>
bool ParseShortEnum(const std::string& text, absl::string_view prefix,
                    bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string name = absl::AsciiStrToUpper(text);
  absl::StrReplaceAll({{"-", "_"}}, &name);
  return !text.empty() && parse(absl::StrCat(prefix, name), out) && name != "UNSPECIFIED";
}

// Thrown for bad command-line values; reported like CLI11's own errors.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename Enum>
Enum RequireEnum(const std::string& option, const std::string& text, absl::string_view prefix,
                 bool (*parse)(const std::string&, Enum*), const std::string& allowed) {
  Enum value{};
  if (text.empty()) return value;  // Let the server name the missing field.
  if (!ParseShortEnum(text, prefix, parse, &value)) {
    throw UsageError(absl::StrCat(option, ": '", text, "' is not one of ", allowed));
  }
  return value;
}

// "--as-of POS|DATE": a log position, or a date YYYY-MM-DD.
struct AsOf {
  uint64_t position = 0;
  std::string date;
};

AsOf ParseAsOf(const std::string& text) {
  AsOf as_of;
  if (text.empty()) return as_of;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    as_of.date = text;
  } else if (!absl::SimpleAtoi(text, &as_of.position)) {
    throw UsageError(
        absl::StrCat("--as-of: '", text, "' is neither a log position nor a date YYYY-MM-DD"));
  }
  return as_of;
}

// Sets a request's as_of_position / as_of_date from "--as-of POS|DATE".
template <typename Request>
void SetAsOf(Request& request, const std::string& text) {
  const AsOf when = ParseAsOf(text);
  request.set_as_of_position(when.position);
  request.set_as_of_date(when.date);
}

// "--measure smd|md|rr|or|rd|smcc" (empty: the server's default).
v1::EffectMeasure ParseMeasure(const std::string& text) {
  return RequireEnum("--measure", text, "EFFECT_MEASURE_", &v1::EffectMeasure_Parse,
                     "smd, md, rr, or, rd, smcc");
}

// name=value pairs into typed attributes.
void ParseAttributes(const std::vector<std::string>& pairs, bool force_text,
                     google::protobuf::Map<std::string, v1::AttributeValue>* out) {
  for (const std::string& pair : pairs) {
    size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw UsageError(absl::StrCat("'", pair, "' is not name=value"));
    }
    std::string name = pair.substr(0, equals);
    std::string value = pair.substr(equals + 1);
    if (force_text) {
      (*out)[name].set_text_value(value);
    } else {
      (*out)[name] = client::InferAttribute(value, false);
    }
  }
}

// Calls a unary method; on failure prints the status and returns the exit
// code for it, on success returns 0.
template <typename Stub, typename Request, typename Response>
int CallOrReport(client::Client& api,
                 grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                 Stub* stub, const Request& request, Response* response) {
  grpc::Status status = api.Call(method, stub, request, response);
  if (status.ok()) return 0;
  std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
  return client::ExitCodeFor(status);
}

// Runs one call and renders its answer; returns the exit code.
template <typename Stub, typename Request, typename Response>
int Run(client::Client& api, const Globals& globals,
        grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*), Stub* stub,
        const Request& request) {
  Response response;
  if (int code = CallOrReport(api, method, stub, request, &response); code != 0) return code;
  client::Render(response, FormatOf(globals), std::cout);
  return 0;
}

// --page-size, --page-token and (when `all` is given) --all for a List call.
template <typename ListRequest>
void AddPageOptions(CLI::App* command, const std::shared_ptr<ListRequest>& request,
                    bool* all = nullptr) {
  command->add_option_function<int32_t>(
      "--page-size", [request](const int32_t& v) { request->set_page_size(v); },
      "items per page (default 100, at most 1000)");
  command->add_option("--page-token", *request->mutable_page_token());
  if (all != nullptr) command->add_flag("--all", *all, "fetch every page");
}

// Runs a List call and renders one page, or with `all` every page as one.
template <typename Stub, typename Request, typename Response, typename Items>
int RunList(client::Client& api, const Globals& globals,
            grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
            Stub* stub, const Request& request, bool all, Items* (Response::*items)()) {
  if (!all) return Run(api, globals, method, stub, request);
  Response combined;
  Request page = request;
  while (true) {
    Response response;
    if (int code = CallOrReport(api, method, stub, page, &response); code != 0) return code;
    for (auto& item : *(response.*items)()) *(combined.*items)()->Add() = std::move(item);
    combined.set_read_position(response.read_position());
    if (response.next_page_token().empty()) break;
    page.set_page_token(response.next_page_token());
  }
  client::Render(combined, FormatOf(globals), std::cout);
  return 0;
}

// Adds `show KEY` and `list` subcommands for one kind of catalogue entry.
template <typename GetRequest, typename GetResponse, typename ListRequest, typename ListResponse>
void AddCatalogShowAndList(
    CLI::App* parent, const std::string& key_name, const std::string& show_help,
    const std::string& list_help, std::string* (GetRequest::*mutable_key)(),
    grpc::Status (v1::CatalogService::Stub::*get)(grpc::ClientContext*, const GetRequest&,
                                                  GetResponse*),
    grpc::Status (v1::CatalogService::Stub::*list)(grpc::ClientContext*, const ListRequest&,
                                                   ListResponse*),
    const Globals& globals, std::function<int(client::Client&)>& action) {
  auto* show = parent->add_subcommand("show", show_help);
  auto get_request = std::make_shared<GetRequest>();
  show->add_option(key_name, *((*get_request).*mutable_key)())->required();
  show->callback([&globals, &action, get_request, get] {
    action = [&globals, get_request, get](client::Client& api) {
      return Run(api, globals, get, api.catalog(), *get_request);
    };
  });
  auto* list_command = parent->add_subcommand("list", list_help);
  auto list_request = std::make_shared<ListRequest>();
  AddPageOptions(list_command, list_request);
  list_command->callback([&globals, &action, list_request, list] {
    action = [&globals, list_request, list](client::Client& api) {
      return Run(api, globals, list, api.catalog(), *list_request);
    };
  });
}

// What-works answers: one line per work method for people, the same as CSV
// for spreadsheets, the full answer (with every study) as JSON.
void RenderWhatWorks(const v1::WhatWorksResponse& response, OutputFormat format, bool show_studies,
                     std::ostream& out) {
  if (format == OutputFormat::kJson) {
    out << client::ToJson(response, true) << "\n";
    return;
  }
  auto number = [](double value, int digits) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
    return std::string(buffer);
  };
  if (format == OutputFormat::kCsv) {
    out << "work_method_id,k,estimate,se,ci_lower,ci_upper,pi_lower,pi_upper,p_value,tau2,i2,q,"
           "q_pvalue,grade,not_pooled_reason\n";
    for (const v1::MethodResult& method : response.methods()) {
      const v1::PooledResult& p = method.pooled();
      out << client::CsvField(method.work_method_id()) << "," << p.k() << ","
          << absl::StrCat(p.estimate()) << "," << absl::StrCat(p.se()) << ","
          << absl::StrCat(p.ci_lower()) << "," << absl::StrCat(p.ci_upper()) << ","
          << absl::StrCat(p.pi_lower()) << "," << absl::StrCat(p.pi_upper()) << ","
          << absl::StrCat(p.p_value()) << "," << absl::StrCat(p.tau2()) << ","
          << absl::StrCat(p.i2()) << "," << absl::StrCat(p.q()) << "," << absl::StrCat(p.q_pvalue())
          << "," << p.grade() << "," << client::CsvField(method.not_pooled_reason()) << "\n";
    }
    return;
  }
  std::string measure =
      v1::EffectMeasure_Name(response.methods_size() > 0 ? response.methods(0).pooled().measure()
                                                         : v1::EFFECT_MEASURE_SMD);
  out << "What works for '" << response.indicator_id() << "' (effect as "
      << measure.substr(std::string("EFFECT_MEASURE_").size())
      << ", positive = better; log position " << response.read_position() << ")\n";
  out << absl::StrFormat("%-22s %3s %9s  %-20s %-20s %7s %8s %9s %5s\n", "METHOD", "K", "EFFECT",
                         "95% CI", "PREDICTION", "I2 %", "TAU2", "P", "GRADE");
  for (const v1::MethodResult& method : response.methods()) {
    if (!method.has_pooled()) {
      out << absl::StrFormat("%-22s %3d  %s\n", method.work_method_id(), 0,
                             method.not_pooled_reason());
      continue;
    }
    const v1::PooledResult& p = method.pooled();
    const bool has_pi = p.model() != v1::POOLING_MODEL_FE;
    out << absl::StrFormat(
        "%-22s %3d %9s  %-20s %-20s %7s %8s %9s %5s\n", method.work_method_id(), p.k(),
        number(p.estimate(), 3),
        absl::StrCat("[", number(p.ci_lower(), 3), ", ", number(p.ci_upper(), 3), "]"),
        has_pi ? absl::StrCat("[", number(p.pi_lower(), 3), ", ", number(p.pi_upper(), 3), "]")
               : std::string("-"),
        number(p.i2(), 1), number(p.tau2(), 4),
        p.p_value() < 0.0001 ? std::string("<0.0001") : number(p.p_value(), 4),
        absl::StrCat(p.grade(), "/5"));
    if (show_studies) {
      out << "    grade " << p.grade() << "/5, " << p.grade_label() << ":\n";
      for (const std::string& reason : p.grade_reasons()) out << "      " << reason << "\n";
      for (const v1::StudyEffect& study : method.studies()) {
        out << absl::StrFormat("    %-30s %9s  [%s, %s]  weight %s%%\n", study.experiment_id(),
                               number(study.effect(), 3), number(study.ci_lower(), 3),
                               number(study.ci_upper(), 3), number(study.weight_percent(), 1));
      }
      for (const v1::ExcludedOutcome& excluded : method.excluded()) {
        out << "    left out " << excluded.experiment_id() << "/" << excluded.outcome_id() << ": "
            << excluded.reason() << "\n";
      }
    }
  }
}

// Subgroups or a meta-regression, as a person reads them.
void RenderConditions(const v1::CompareConditionsResponse& response, const std::string& method,
                      OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) {
    out << client::ToJson(response, true) << "\n";
    return;
  }
  auto number = [](double value, int digits) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
    return std::string(buffer);
  };
  auto p_text = [&](double p) {
    return p < 0.0001 ? std::string("< 0.0001") : "= " + number(p, 4);
  };
  if (format == OutputFormat::kCsv) {
    out << "work_method_id,condition,level,experiments,k,estimate,ci_lower,ci_upper,i2,qm,qm_df,"
           "qm_pvalue\n";
    for (const v1::Subgroup& subgroup : response.subgroups()) {
      const v1::PooledResult& p = subgroup.pooled();
      out << client::CsvField(method) << "," << client::CsvField(response.condition()) << ","
          << client::CsvField(subgroup.level()) << "," << subgroup.experiments() << "," << p.k()
          << "," << absl::StrCat(p.estimate()) << "," << absl::StrCat(p.ci_lower()) << ","
          << absl::StrCat(p.ci_upper()) << "," << absl::StrCat(p.i2()) << ","
          << absl::StrCat(response.test().qm()) << "," << absl::StrCat(response.test().qm_df())
          << "," << absl::StrCat(response.test().qm_pvalue()) << "\n";
    }
    return;
  }
  out << "By " << response.condition() << (method.empty() ? "" : " for " + method)
      << " (log position " << response.read_position() << ")\n";
  if (response.numeric()) {
    for (const v1::RegressionCoefficient& c : response.coefficients()) {
      out << absl::StrFormat("  %-28s %9s  [%s, %s]  p %s\n", c.name(), number(c.estimate(), 4),
                             number(c.ci_lower(), 4), number(c.ci_upper(), 4), p_text(c.p_value()));
    }
  } else {
    out << absl::StrFormat("  %-24s %5s %4s %9s  %-20s %7s\n", "LEVEL", "EXPER", "K", "EFFECT",
                           "95% CI", "I2 %");
    for (const v1::Subgroup& subgroup : response.subgroups()) {
      const v1::PooledResult& p = subgroup.pooled();
      out << absl::StrFormat(
          "  %-24s %5d %4d %9s  %-20s %7s\n", subgroup.level(), subgroup.experiments(), p.k(),
          number(p.estimate(), 3),
          absl::StrCat("[", number(p.ci_lower(), 3), ", ", number(p.ci_upper(), 3), "]"),
          number(p.i2(), 1));
    }
    for (const v1::SkippedLevel& skipped : response.skipped_levels()) {
      out << "  left out " << skipped.level() << ": " << skipped.reason() << "\n";
    }
  }
  if (response.has_test()) {
    const v1::ModeratorTest& t = response.test();
    out << "  " << (response.numeric() ? "Moderator test" : "Test for subgroup differences")
        << ": QM = " << number(t.qm(), 2) << " on " << t.qm_df() << " df, p "
        << p_text(t.qm_pvalue()) << "; explains " << number(t.r2(), 1)
        << "% of the heterogeneity; residual QE = " << number(t.qe(), 2) << " on " << t.qe_df()
        << " df, p " << p_text(t.qe_pvalue()) << "\n";
  } else {
    out << "  no test: " << response.not_tested_reason() << "\n";
  }
}

// Writes a whole file via a temporary and a rename, so a reader never sees
// half of it; returns the exit code.
int WriteOutputFile(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << content;
    file.close();
    if (!file) {
      std::cerr << "error: cannot write " << path << ": " << std::strerror(errno) << std::endl;
      return 3;
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::cerr << "error: cannot write " << path << ": " << error.message() << std::endl;
    return 3;
  }
  return 0;
}

void PrintRowErrors(const std::vector<client::RowError>& errors, std::ostream& out) {
  for (const client::RowError& error : errors) {
    out << "line " << error.line;
    if (!error.field.empty()) out << ", " << error.field;
    out << ": " << error.message << "\n";
  }
}

// A progress line on a terminal; nothing otherwise.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(STDERR_FILENO) == 1) {}
  void Update(size_t done) {
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

 private:
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

int ImportOutcomes(client::Client& api, const Globals& globals, const std::string& path,
                   bool decimal_comma) {
  absl::StatusOr<client::CsvTable> table = client::ReadCsvFile(path);
  if (!table.ok()) {
    std::cerr << "error: " << path << ": " << table.status().message() << std::endl;
    return table.status().code() == absl::StatusCode::kNotFound ? 4 : 3;
  }
  client::OutcomeImport rows = client::OutcomeRequestsFromCsv(*table, decimal_comma);
  std::vector<client::RowError> errors = rows.errors;

  grpc::ClientContext context;
  api.Authorize(context);
  v1::ImportOutcomesResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ImportOutcomesRequest>> writer =
      api.experiments()->ImportOutcomes(&context, &response);
  Progress progress(rows.requests.size());
  size_t sent = 0;
  for (const v1::CreateOutcomeRequest& row : rows.requests) {
    v1::ImportOutcomesRequest message;
    *message.mutable_row() = row;
    if (!writer->Write(message)) break;
    progress.Update(++sent);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) {
    std::cerr << "error: import stopped: " << client::DescribeStatus(status)
              << "\n(rows are idempotent: run the same command again to continue)" << std::endl;
    return client::ExitCodeFor(status);
  }
  for (const v1::ImportRowResult& result : response.results()) {
    errors.push_back(
        client::RowError{rows.lines.at(result.row()), result.field(), result.message()});
  }
  std::sort(errors.begin(), errors.end(),
            [](const client::RowError& a, const client::RowError& b) { return a.line < b.line; });
  // The server lists its first failed rows only; `failed` counts them all.
  const uint64_t unlisted = response.failed() - static_cast<uint64_t>(response.results_size());
  if (FormatOf(globals) == OutputFormat::kJson) {
    std::cout << client::ToJson(response, true) << "\n";
  } else {
    std::cout << "imported " << response.written() << " of " << table->rows.size() << " rows from "
              << path << " (rows already imported count as imported); " << errors.size() + unlisted
              << " failed\n";
  }
  PrintRowErrors(errors, std::cerr);
  if (unlisted > 0) {
    std::cerr << "... and " << unlisted << " more rows refused by the server, not listed"
              << std::endl;
  }
  return errors.empty() ? 0 : kExitPartialImport;
}

// Imports the rows of a CSV file with one unary call each (areas,
// experiments): each row's request id derives from its content, so running
// the same file again writes nothing twice. Returns the exit code.
// `after_row(rows, i)`, if given, runs once row i is written (and its
// failure counts as the row's).
template <typename Import, typename Stub, typename Request, typename Response>
int ImportRowByRow(client::Client& api, const std::string& path, const std::string& noun,
                   bool decimal_comma, Import (*convert)(const client::CsvTable&, bool),
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                   Stub* stub,
                   std::function<grpc::Status(const Import&, size_t)> after_row = nullptr) {
  absl::StatusOr<client::CsvTable> table = client::ReadCsvFile(path);
  if (!table.ok()) {
    std::cerr << "error: " << path << ": " << table.status().message() << std::endl;
    return table.status().code() == absl::StatusCode::kNotFound ? 4 : 3;
  }
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
  std::sort(errors.begin(), errors.end(),
            [](const client::RowError& a, const client::RowError& b) { return a.line < b.line; });
  std::cout << "imported " << written << " of " << table->rows.size() << " " << noun << " from "
            << path << "; " << errors.size() << " failed\n";
  PrintRowErrors(errors, std::cerr);
  return errors.empty() ? 0 : kExitPartialImport;
}

int FollowEvents(client::Client& api, const Globals& globals, uint64_t from,
                 const std::string& experiment) {
  grpc::ClientContext context;
  api.Authorize(context);
  v1::SubscribeRequest request;
  request.set_from_position(from);
  request.set_experiment_id(experiment);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      api.event_log()->Subscribe(&context, request);
  v1::SubscribeResponse message;
  while (reader->Read(&message)) {
    if (FormatOf(globals) == OutputFormat::kJson) {
      std::cout << client::ToJson(message.event(), false) << std::endl;
    } else {
      const v1::Event& event = message.event();
      std::cout << event.position() << "  " << event.stream() << "@" << event.stream_version()
                << "  " << event.GetDescriptor()->FindFieldByNumber(event.payload_case())->name()
                << "  " << event.actor() << std::endl;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) {
    std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
    return client::ExitCodeFor(status);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // As leerlusd does (server/main.cc): Debian's Abseil would otherwise
  // check every gRPC lock for deadlocks, a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{
      "leerlus: record experiments, hypotheses, outcomes and lessons, and read the "
      "learning loop's event log"};
  app.require_subcommand(1);
  // Global options may also follow the subcommand (`leerlus experiment list -o json`).
  app.fallthrough();
  Globals globals;
  app.add_option("--server", globals.server, "leerlusd address host:port")
      ->envname("LEERLUS_SERVER")
      ->capture_default_str();
  app.add_option("-o,--output", globals.output, "table (people), json or csv (scripts)")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_option("--request-id", globals.request_id,
                 "idempotency key of a change (default: a fresh random id); repeat a command "
                 "with the same id to retry it safely");
  app.add_option("--expected-version", globals.expected_version,
                 "refuse the change unless the experiment is at this version (ABORTED)");
  app.add_option("--token", globals.token,
                 "bearer token (from `leerlus token create`); other users can see it in `ps`: "
                 "prefer --token-file")
      ->envname("LEERLUS_TOKEN");
  app.add_option("--token-file", globals.token_file,
                 "file holding the bearer token (its first line), e.g. mode 0600; wins over "
                 "--token")
      ->envname("LEERLUS_TOKEN_FILE");
  app.add_option("--tls-ca", globals.tls_ca, "PEM CA of the server's certificate: use TLS")
      ->envname("LEERLUS_TLS_CA");
  app.add_option("--tls-cert", globals.tls_cert, "PEM client certificate (mutual TLS)")
      ->envname("LEERLUS_TLS_CERT");
  app.add_option("--tls-key", globals.tls_key, "PEM key of --tls-cert")->envname("LEERLUS_TLS_KEY");
  app.add_option("--tls-server-name", globals.tls_server_name,
                 "the name the server's certificate carries, if not the --server host")
      ->envname("LEERLUS_TLS_SERVER_NAME");
  app.add_option("--timeout", globals.timeout_seconds, "seconds per attempt")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();

  // Every subcommand stores its action here; it runs after parsing.
  std::function<int(client::Client&)> action;

  // ------------------------------------------------------------ method
  auto* method = app.add_subcommand("method", "work methods (werkwijzen)")->require_subcommand(1);
  {
    auto* create = method->add_subcommand("define", "define a work method");
    auto request = std::make_shared<v1::CreateWorkMethodRequest>();
    auto* m = request->mutable_work_method();
    create->add_option("--id", *m->mutable_id(), "stable id")->required();
    create->add_option("--name", *m->mutable_display_name(), "human name")->required();
    create->add_option("--description", *m->mutable_description(), "what the method is");
    create->callback([&, request] {
      action = [&, request](client::Client& api) {
        request->set_request_id(RequestId(globals));
        return Run(api, globals, &v1::CatalogService::Stub::CreateWorkMethod, api.catalog(),
                   *request);
      };
    });
    AddCatalogShowAndList(method, "id", "show a work method", "list work methods",
                          &v1::GetWorkMethodRequest::mutable_id,
                          &v1::CatalogService::Stub::GetWorkMethod,
                          &v1::CatalogService::Stub::ListWorkMethods, globals, action);
  }

  // ------------------------------------------------------------ indicator
  auto* indicator = app.add_subcommand("indicator", "indicators")->require_subcommand(1);
  {
    auto* create = indicator->add_subcommand("define", "define an indicator");
    auto request = std::make_shared<v1::CreateIndicatorRequest>();
    auto better = std::make_shared<std::string>();
    auto domain = std::make_shared<std::string>();
    auto* i = request->mutable_indicator();
    create->add_option("--id", *i->mutable_id(), "stable id")->required();
    create->add_option("--name", *i->mutable_display_name(), "human name")->required();
    create->add_option("--description", *i->mutable_description());
    create->add_option("--unit", *i->mutable_unit(), "e.g. \"score 1-10\"");
    create->add_option("--better", *better, "higher or lower")->required();
    create->add_option("--domain", *domain, "personal, social or environmental")->required();
    create->callback([&, request, better, domain] {
      action = [&, request, better, domain](client::Client& api) {
        auto* ind = request->mutable_indicator();
        ind->set_better_direction(RequireEnum("--better", *better, "BETTER_DIRECTION_",
                                              &v1::BetterDirection_Parse, "higher, lower"));
        ind->set_domain(RequireEnum("--domain", *domain, "RESOURCE_DOMAIN_",
                                    &v1::ResourceDomain_Parse, "personal, social, environmental"));
        request->set_request_id(RequestId(globals));
        return Run(api, globals, &v1::CatalogService::Stub::CreateIndicator, api.catalog(),
                   *request);
      };
    });
    AddCatalogShowAndList(indicator, "id", "show an indicator", "list indicators",
                          &v1::GetIndicatorRequest::mutable_id,
                          &v1::CatalogService::Stub::GetIndicator,
                          &v1::CatalogService::Stub::ListIndicators, globals, action);
  }

  // ------------------------------------------------------------ area
  auto* area =
      app.add_subcommand("area", "areas by CBS code, with attributes")->require_subcommand(1);
  {
    auto* define = area->add_subcommand("define", "define an area or load new attribute values");
    auto request = std::make_shared<v1::PutAreaRequest>();
    auto attributes = std::make_shared<std::vector<std::string>>();
    define
        ->add_option("--code", *request->mutable_area()->mutable_code(),
                     "CBS code: PVnn, GMnnnn, WKnnnnnn, BUnnnnnnnn")
        ->required();
    define->add_option("--name", *request->mutable_area()->mutable_display_name())->required();
    define->add_option("--attr", *attributes, "attribute name=value (repeatable)");
    define->callback([&, request, attributes] {
      action = [&, request, attributes](client::Client& api) {
        ParseAttributes(*attributes, false, request->mutable_area()->mutable_attributes());
        request->set_request_id(RequestId(globals));
        return Run(api, globals, &v1::CatalogService::Stub::PutArea, api.catalog(), *request);
      };
    });
    auto* import_command =
        area->add_subcommand("import", "load areas from a CSV (code, name, attributes...)");
    auto file = std::make_shared<std::string>();
    auto decimal_comma = std::make_shared<bool>(false);
    import_command->add_option("file", *file, "CSV file")->required();
    import_command->add_flag("--decimal-comma", *decimal_comma,
                             "numbers use a decimal comma (3,5)");
    import_command->callback([&, file, decimal_comma] {
      action = [&, file, decimal_comma](client::Client& api) {
        return ImportRowByRow(api, *file, "areas", *decimal_comma, &client::AreaRequestsFromCsv,
                              &v1::CatalogService::Stub::PutArea, api.catalog());
      };
    });
    AddCatalogShowAndList(area, "code", "show an area with its current attributes", "list areas",
                          &v1::GetAreaRequest::mutable_code, &v1::CatalogService::Stub::GetArea,
                          &v1::CatalogService::Stub::ListAreas, globals, action);
  }

  // ------------------------------------------------------------ experiment
  auto* experiment =
      app.add_subcommand("experiment", "experiments (projects and deals)")->require_subcommand(1);
  {
    auto* create = experiment->add_subcommand("create", "register an experiment (DESIGNED)");
    auto request = std::make_shared<v1::CreateExperimentRequest>();
    auto strings = std::make_shared<std::map<std::string, std::string>>();
    auto context = std::make_shared<std::vector<std::string>>();
    auto context_text = std::make_shared<std::vector<std::string>>();
    auto* e = request->mutable_experiment();
    create->add_option("--id", *e->mutable_id(), "stable id")->required();
    create->add_option("--kind", (*strings)["kind"], "project or deal")->required();
    create->add_option("--title", *e->mutable_title())->required();
    create->add_option("--description", *e->mutable_description());
    create->add_option("--method", *e->mutable_work_method_id(), "work method id")->required();
    create->add_option("--line", (*strings)["line"], "area-based or crossover")->required();
    create->add_option("--societal-task", *e->mutable_societal_task(), "required for crossovers");
    create->add_option("--area", (*strings)["area"], "CBS code of an area in the catalogue");
    create->add_option("--team", *e->mutable_team_id(), "owning team id")->required();
    create->add_option_function<std::vector<std::string>>(
        "--partner",
        [e](const std::vector<std::string>& v) {
          for (const auto& id : v) e->add_partner_ids(id);
        },
        "partner id (repeatable)");
    create->add_option_function<int64_t>(
        "--budget-cents", [e](const int64_t& v) { e->set_budget_cents(v); },
        "budget in euro cents");
    create->add_option("--start", *e->mutable_planned_start(), "planned start YYYY-MM-DD");
    create->add_option("--end", *e->mutable_planned_end(), "planned end YYYY-MM-DD");
    create->add_option("--context", *context,
                       "condition name=value; numbers and true/false are typed (repeatable)");
    create->add_option("--context-text", *context_text,
                       "condition name=value kept as text (repeatable)");
    create->add_option("--parent", *e->mutable_parent_experiment_id(),
                       "the experiment this one iterates on");
    create->callback([&, request, strings, context, context_text] {
      action = [&, request, strings, context, context_text](client::Client& api) {
        auto* exp = request->mutable_experiment();
        exp->set_kind(RequireEnum("--kind", (*strings)["kind"], "EXPERIMENT_KIND_",
                                  &v1::ExperimentKind_Parse, "project, deal"));
        exp->set_line(RequireEnum("--line", (*strings)["line"], "LINE_", &v1::Line_Parse,
                                  "area-based, crossover"));
        if (!(*strings)["area"].empty()) exp->mutable_area()->set_code((*strings)["area"]);
        ParseAttributes(*context, false, exp->mutable_context());
        ParseAttributes(*context_text, true, exp->mutable_context());
        request->set_request_id(RequestId(globals));
        return Run(api, globals, &v1::ExperimentService::Stub::CreateExperiment, api.experiments(),
                   *request);
      };
    });

    auto* show = experiment->add_subcommand(
        "show", "show an experiment with hypotheses, outcomes and lessons");
    auto get = std::make_shared<v1::GetExperimentRequest>();
    show->add_option("id", *get->mutable_id())->required();
    show->add_option_function<uint64_t>(
        "--as-of", [get](const uint64_t& v) { get->set_as_of_position(v); },
        "as of this log position");
    show->add_flag_function(
        "--history", [get](int64_t count) { get->set_include_history(count > 0); },
        "also list every event of the experiment");
    show->callback([&, get] {
      action = [&, get](client::Client& api) {
        v1::GetExperimentResponse response;
        grpc::Status status = client::GetWholeExperiment(api, *get, &response);
        if (!status.ok()) {
          std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
          return client::ExitCodeFor(status);
        }
        client::Render(response, FormatOf(globals), std::cout);
        return 0;
      };
    });

    auto* list = experiment->add_subcommand("list", "list experiments, filtered");
    auto list_request = std::make_shared<v1::ListExperimentsRequest>();
    auto all = std::make_shared<bool>(false);
    list->add_option("--filter", *list_request->mutable_filter(),
                     "e.g. 'method = buurtcoach AND (status = RUNNING OR context.urbanity >= 4)'");
    AddPageOptions(list, list_request, all.get());
    list->callback([&, list_request, all] {
      action = [&, list_request, all](client::Client& api) {
        return RunList(api, globals, &v1::ExperimentService::Stub::ListExperiments,
                       api.experiments(), *list_request, *all,
                       &v1::ListExperimentsResponse::mutable_experiments);
      };
    });

    auto* import_command = experiment->add_subcommand(
        "import", "register experiments from a CSV file (as `export experiments` writes it)");
    auto file = std::make_shared<std::string>();
    auto decimal_comma = std::make_shared<bool>(false);
    import_command->add_option("file", *file, "CSV with a header row")->required();
    import_command->add_flag("--decimal-comma", *decimal_comma,
                             "numbers use a decimal comma (3,5)");
    import_command->callback([&, file, decimal_comma] {
      action = [&, file, decimal_comma](client::Client& api) {
        std::function<grpc::Status(const client::ExperimentImport&, size_t)> start =
            [&api](const client::ExperimentImport& rows, size_t i) {
              if (rows.starts[i].id().empty()) return grpc::Status::OK;
              v1::StartExperimentResponse started;
              return api.Call(&v1::ExperimentService::Stub::StartExperiment, api.experiments(),
                              rows.starts[i], &started);
            };
        return ImportRowByRow(api, *file, "experiments", *decimal_comma,
                              &client::ExperimentRequestsFromCsv,
                              &v1::ExperimentService::Stub::CreateExperiment, api.experiments(),
                              start);
      };
    });

    auto* amend = experiment->add_subcommand("amend", "change descriptive fields");
    auto update = std::make_shared<v1::UpdateExperimentRequest>();
    auto amend_context = std::make_shared<std::vector<std::string>>();
    auto* values = update->mutable_experiment();
    amend->add_option("id", *values->mutable_id())->required();
    auto* title = amend->add_option("--title", *values->mutable_title());
    auto* description = amend->add_option("--description", *values->mutable_description());
    auto* task = amend->add_option("--societal-task", *values->mutable_societal_task());
    auto* partners = amend->add_option_function<std::vector<std::string>>(
        "--partner",
        [values](const std::vector<std::string>& v) {
          for (const auto& id : v) values->add_partner_ids(id);
        },
        "the new partner list (repeatable)");
    auto* budget = amend->add_option_function<int64_t>(
        "--budget-cents", [values](const int64_t& v) { values->set_budget_cents(v); });
    auto* start = amend->add_option("--start", *values->mutable_planned_start());
    auto* end = amend->add_option("--end", *values->mutable_planned_end());
    auto* ctx =
        amend->add_option("--context", *amend_context, "the new context, name=value (repeatable)");
    amend->callback([&, update, amend_context, title, description, task, partners, budget, start,
                     end, ctx] {
      action = [&, update, amend_context, title, description, task, partners, budget, start, end,
                ctx](client::Client& api) {
        auto* mask = update->mutable_update_mask();
        if (title->count()) mask->add_paths("title");
        if (description->count()) mask->add_paths("description");
        if (task->count()) mask->add_paths("societal_task");
        if (partners->count()) mask->add_paths("partner_ids");
        if (budget->count()) mask->add_paths("budget_cents");
        if (start->count()) mask->add_paths("planned_start");
        if (end->count()) mask->add_paths("planned_end");
        if (ctx->count()) {
          mask->add_paths("context");
          ParseAttributes(*amend_context, false, update->mutable_experiment()->mutable_context());
        }
        update->set_request_id(RequestId(globals));
        update->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::UpdateExperiment, api.experiments(),
                   *update);
      };
    });

    auto add_move = [&](const char* name, const char* help, auto method_pointer,
                        auto request_type_tag) {
      using Request = decltype(request_type_tag);
      auto* command = experiment->add_subcommand(name, help);
      auto request = std::make_shared<Request>();
      command->add_option("id", *request->mutable_id())->required();
      command->callback([&, request, method_pointer] {
        action = [&, request, method_pointer](client::Client& api) {
          request->set_request_id(RequestId(globals));
          request->set_expected_version(globals.expected_version);
          return Run(api, globals, method_pointer, api.experiments(), *request);
        };
      });
      return command;
    };
    add_move("start", "DESIGNED -> RUNNING (seals the hypotheses)",
             &v1::ExperimentService::Stub::StartExperiment, v1::StartExperimentRequest{});
    add_move("evaluate", "RUNNING -> EVALUATING", &v1::ExperimentService::Stub::EvaluateExperiment,
             v1::EvaluateExperimentRequest{});

    auto* conclude =
        experiment->add_subcommand("conclude", "EVALUATING -> CONCLUDED with a decision");
    auto conclude_request = std::make_shared<v1::ConcludeExperimentRequest>();
    auto decision = std::make_shared<std::string>();
    conclude->add_option("id", *conclude_request->mutable_id())->required();
    conclude->add_option("--decision", *decision, "scale-up, adapt or stop")->required();
    conclude->add_option("--rationale", *conclude_request->mutable_rationale())->required();
    conclude->callback([&, conclude_request, decision] {
      action = [&, conclude_request, decision](client::Client& api) {
        conclude_request->set_decision(RequireEnum("--decision", *decision, "DECISION_",
                                                   &v1::Decision_Parse, "scale-up, adapt, stop"));
        conclude_request->set_request_id(RequestId(globals));
        conclude_request->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::ConcludeExperiment,
                   api.experiments(), *conclude_request);
      };
    });

    auto* withdraw =
        experiment->add_subcommand("withdraw", "withdraw an experiment that has not concluded");
    auto withdraw_request = std::make_shared<v1::WithdrawExperimentRequest>();
    withdraw->add_option("id", *withdraw_request->mutable_id())->required();
    withdraw->add_option("--reason", *withdraw_request->mutable_reason())->required();
    withdraw->callback([&, withdraw_request] {
      action = [&, withdraw_request](client::Client& api) {
        withdraw_request->set_request_id(RequestId(globals));
        withdraw_request->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::WithdrawExperiment,
                   api.experiments(), *withdraw_request);
      };
    });
  }

  // ------------------------------------------------------------ hypothesis
  auto* hypothesis = app.add_subcommand("hypothesis", "hypotheses")->require_subcommand(1);
  {
    auto* add =
        hypothesis->add_subcommand("add", "register a hypothesis (pre-registered before start)");
    auto request = std::make_shared<v1::CreateHypothesisRequest>();
    auto direction = std::make_shared<std::string>();
    auto* h = request->mutable_hypothesis();
    add->add_option("experiment", *request->mutable_experiment_id())->required();
    add->add_option("--id", *h->mutable_id(), "id within the experiment (default generated)");
    add->add_option("--statement", *h->mutable_statement())->required();
    add->add_option("--indicator", *h->mutable_indicator_id())->required();
    add->add_option("--direction", *direction, "increase, decrease or no-change")->required();
    add->add_option_function<double>(
        "--smallest-effect", [h](const double& v) { h->set_smallest_effect_of_interest(v); },
        "smallest effect that matters, in the indicator's units");
    add->callback([&, request, direction] {
      action = [&, request, direction](client::Client& api) {
        request->mutable_hypothesis()->set_expected_direction(
            RequireEnum("--direction", *direction, "EXPECTED_DIRECTION_",
                        &v1::ExpectedDirection_Parse, "increase, decrease, no-change"));
        request->set_request_id(RequestId(globals));
        request->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::CreateHypothesis, api.experiments(),
                   *request);
      };
    });
  }

  // ------------------------------------------------------------ outcome
  auto* outcome = app.add_subcommand("outcome", "measured outcomes")->require_subcommand(1);
  {
    auto* record =
        outcome->add_subcommand("record", "record one outcome (give the columns of one shape)");
    auto request = std::make_shared<v1::CreateOutcomeRequest>();
    auto design = std::make_shared<std::string>();
    auto numbers = std::make_shared<std::map<std::string, std::string>>();
    auto* o = request->mutable_outcome();
    record->add_option("experiment", *request->mutable_experiment_id())->required();
    record->add_option("--id", *o->mutable_id(), "id within the experiment (default generated)");
    record->add_option("--indicator", *o->mutable_indicator_id())->required();
    record->add_option("--measured-on", *o->mutable_measured_on(), "YYYY-MM-DD")->required();
    record->add_option("--design", *design, "rct, quasi-experimental, pre-post or post-only")
        ->required();
    record->add_option("--corrects", *o->mutable_corrects_outcome_id(),
                       "the retracted outcome this corrects");
    for (const char* column : {"treatment-mean",
                               "treatment-sd",
                               "treatment-n",
                               "control-mean",
                               "control-sd",
                               "control-n",
                               "treatment-events",
                               "treatment-total",
                               "control-events",
                               "control-total",
                               "pre-mean",
                               "pre-sd",
                               "post-mean",
                               "post-sd",
                               "n",
                               "pre-post-correlation",
                               "measure",
                               "effect",
                               "variance",
                               "standard-error",
                               "ci-lower",
                               "ci-upper",
                               "total-n"}) {
      record->add_option(absl::StrCat("--", column),
                         (*numbers)[absl::StrReplaceAll(column, {{"-", "_"}})]);
    }
    record->callback([&, request, design, numbers] {
      action = [&, request, design, numbers](client::Client& api) {
        // Reuse the CSV row reader: one row whose columns are the flags.
        client::CsvTable table;
        client::CsvRow row{1, {}};
        auto add = [&](const std::string& name, const std::string& value) {
          table.columns[name] = table.header.size();
          table.header.push_back(name);
          row.fields.push_back(value);
        };
        add("experiment_id", request->experiment_id());
        add("outcome_id", request->outcome().id());
        add("indicator_id", request->outcome().indicator_id());
        add("measured_on", request->outcome().measured_on());
        add("design", *design);
        add("corrects_outcome_id", request->outcome().corrects_outcome_id());
        for (const auto& [name, value] : *numbers) add(name, value);
        table.rows.push_back(row);
        client::OutcomeImport converted = client::OutcomeRequestsFromCsv(table, false);
        if (!converted.errors.empty()) {
          for (const auto& error : converted.errors) {
            std::cerr << "error: --" << absl::StrReplaceAll(error.field, {{"_", "-"}}) << ": "
                      << error.message << std::endl;
          }
          return kExitUsage;
        }
        v1::CreateOutcomeRequest built = converted.requests.front();
        built.set_request_id(RequestId(globals));
        built.set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::CreateOutcome, api.experiments(),
                   built);
      };
    });

    auto* retract =
        outcome->add_subcommand("retract", "retract an outcome (it stays in the history)");
    auto retract_request = std::make_shared<v1::RetractOutcomeRequest>();
    retract->add_option("experiment", *retract_request->mutable_experiment_id())->required();
    retract->add_option("outcome", *retract_request->mutable_outcome_id())->required();
    retract->add_option("--reason", *retract_request->mutable_reason())->required();
    retract->callback([&, retract_request] {
      action = [&, retract_request](client::Client& api) {
        retract_request->set_request_id(RequestId(globals));
        retract_request->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::RetractOutcome, api.experiments(),
                   *retract_request);
      };
    });

    auto* import_command = outcome->add_subcommand(
        "import", "stream outcomes from a CSV file; re-running writes nothing twice");
    auto file = std::make_shared<std::string>();
    auto decimal_comma = std::make_shared<bool>(false);
    import_command->add_option("file", *file, "CSV with a header row")->required();
    import_command->add_flag("--decimal-comma", *decimal_comma,
                             "numbers use a decimal comma (3,5)");
    import_command->callback([&, file, decimal_comma] {
      action = [&, file, decimal_comma](client::Client& api) {
        return ImportOutcomes(api, globals, *file, *decimal_comma);
      };
    });

    auto* list = outcome->add_subcommand(
        "list", "list an experiment's outcomes, retracted ones included, in id order");
    auto list_request = std::make_shared<v1::ListOutcomesRequest>();
    auto all = std::make_shared<bool>(false);
    list->add_option("experiment", *list_request->mutable_experiment_id())->required();
    AddPageOptions(list, list_request, all.get());
    list->callback([&, list_request, all] {
      action = [&, list_request, all](client::Client& api) {
        return RunList(api, globals, &v1::ExperimentService::Stub::ListOutcomes, api.experiments(),
                       *list_request, *all, &v1::ListOutcomesResponse::mutable_outcomes);
      };
    });
  }

  // ------------------------------------------------------------ lesson
  auto* lesson = app.add_subcommand("lesson", "lessons learned")->require_subcommand(1);
  {
    auto* add = lesson->add_subcommand("add", "record a lesson");
    auto request = std::make_shared<v1::CreateLessonRequest>();
    add->add_option("experiment", *request->mutable_experiment_id())->required();
    add->add_option("--id", *request->mutable_lesson()->mutable_id());
    add->add_option("--text", *request->mutable_lesson()->mutable_text())->required();
    add->add_option_function<std::vector<std::string>>(
        "--tag",
        [request](const std::vector<std::string>& v) {
          for (const auto& tag : v) request->mutable_lesson()->add_tags(tag);
        },
        "tag (repeatable)");
    add->callback([&, request] {
      action = [&, request](client::Client& api) {
        request->set_request_id(RequestId(globals));
        request->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::ExperimentService::Stub::CreateLesson, api.experiments(),
                   *request);
      };
    });
  }

  // ------------------------------------------------------------ events
  auto* events = app.add_subcommand("events", "read the event log (and follow it)");
  {
    auto request = std::make_shared<v1::ReadEventsRequest>();
    auto follow = std::make_shared<bool>(false);
    auto last = std::make_shared<uint64_t>(0);
    events->add_option("--last", *last, "only the last N events (of the experiment, if given)");
    events->add_option_function<uint64_t>(
        "--from", [request](const uint64_t& v) { request->set_from_position(v); },
        "first position (default 1)");
    events->add_option("--experiment", *request->mutable_experiment_id(), "only this experiment");
    events->add_option_function<int32_t>(
        "--page-size", [request](const int32_t& v) { request->set_page_size(v); });
    events->add_flag("-f,--follow", *follow, "keep streaming new events until interrupted");
    events->callback([&, request, follow, last] {
      action = [&, request, follow, last](client::Client& api) {
        if (*last > 0) {
          // Find the head, then read the last N positions before it.
          v1::ReadEventsRequest probe = *request;
          probe.set_page_size(1);
          v1::ReadEventsResponse head;
          if (int code = CallOrReport(api, &v1::EventLogService::Stub::ReadEvents, api.event_log(),
                                      probe, &head);
              code != 0)
            return code;
          uint64_t from = head.head_position() > *last ? head.head_position() - *last + 1 : 1;
          if (!request->experiment_id().empty()) {
            // Per experiment, walk its stream to find where the last N start.
            v1::ReadEventsRequest all = *request;
            all.set_page_size(1000);
            std::vector<uint64_t> positions;
            while (true) {
              v1::ReadEventsResponse page;
              if (int code = CallOrReport(api, &v1::EventLogService::Stub::ReadEvents,
                                          api.event_log(), all, &page);
                  code != 0)
                return code;
              for (const auto& event : page.events()) positions.push_back(event.position());
              if (page.events_size() < 1000) break;
              all.set_from_position(page.next_position());
            }
            from = positions.size() > *last ? positions[positions.size() - *last] : 1;
          }
          request->set_from_position(from);
        }
        if (*follow) {
          return FollowEvents(api, globals, request->from_position(), request->experiment_id());
        }
        return Run(api, globals, &v1::EventLogService::Stub::ReadEvents, api.event_log(), *request);
      };
    });
  }

  // ------------------------------------------------------------ what-works
  auto* what_works =
      app.add_subcommand("what-works", "pool the outcomes of an indicator per work method");
  {
    auto request = std::make_shared<v1::WhatWorksRequest>();
    auto measure = std::make_shared<std::string>();
    auto model = std::make_shared<std::string>();
    auto show_studies = std::make_shared<bool>(false);
    what_works->add_option("--indicator", *request->mutable_indicator_id())->required();
    what_works->add_option_function<std::vector<std::string>>(
        "--method",
        [request](const std::vector<std::string>& v) {
          for (const auto& id : v) request->add_work_method_ids(id);
        },
        "only this work method (repeatable)");
    what_works->add_option("--filter", *request->mutable_filter(),
                           "only experiments matching this filter");
    what_works->add_option("--measure", *measure, "smd (default), md, rr, or, rd or smcc");
    what_works->add_option("--model", *model, "reml (default), dl or fe");
    what_works->add_flag_function(
        "--knha", [request](int64_t count) { request->set_knapp_hartung(count > 0); },
        "Hartung-Knapp adjustment (t-based tests and intervals)");
    what_works->add_flag("--studies", *show_studies,
                         "list every experiment's effect (the forest plot rows)");
    what_works->add_flag_function(
        "--preregistered-only",
        [request](int64_t count) { request->set_preregistered_only(count > 0); },
        "only experiments that pre-registered a hypothesis on the indicator");
    auto by = std::make_shared<std::string>();
    auto min_experiments = std::make_shared<int32_t>(0);
    auto as_of = std::make_shared<std::string>();
    what_works->add_option("--as-of", *as_of, "answer as of a log position or a date YYYY-MM-DD");
    what_works->add_option("--by", *by,
                           "compare by a condition: line, kind, societal_task, area_level, design, "
                           "team, method or context.<attr> (numbers: meta-regression)");
    what_works->add_option("--min-experiments", *min_experiments,
                           "with --by: levels with fewer experiments are left out (default 2)");
    what_works->callback([&, request, measure, model, show_studies, by, min_experiments, as_of] {
      action = [&, request, measure, model, show_studies, by, min_experiments,
                as_of](client::Client& api) {
        SetAsOf(*request, *as_of);
        request->set_measure(ParseMeasure(*measure));
        request->set_model(RequireEnum("--model", *model, "POOLING_MODEL_", &v1::PoolingModel_Parse,
                                       "reml, dl, fe"));
        if (!by->empty()) {
          // One comparison per method asked for (or one across all methods).
          std::vector<std::string> methods(request->work_method_ids().begin(),
                                           request->work_method_ids().end());
          if (methods.empty()) methods.push_back("");
          for (const std::string& method : methods) {
            v1::CompareConditionsRequest compare;
            compare.set_indicator_id(request->indicator_id());
            compare.set_work_method_id(method);
            compare.set_condition(*by);
            compare.set_filter(request->filter());
            compare.set_measure(request->measure());
            compare.set_model(request->model());
            compare.set_knapp_hartung(request->knapp_hartung());
            compare.set_min_experiments_per_level(*min_experiments);
            compare.set_as_of_position(request->as_of_position());
            compare.set_as_of_date(request->as_of_date());
            v1::CompareConditionsResponse response;
            if (int code = CallOrReport(api, &v1::InsightService::Stub::CompareConditions,
                                        api.insights(), compare, &response);
                code != 0)
              return code;
            RenderConditions(response, method, FormatOf(globals), std::cout);
          }
          return 0;
        }
        v1::WhatWorksResponse response;
        if (int code = CallOrReport(api, &v1::InsightService::Stub::WhatWorks, api.insights(),
                                    *request, &response);
            code != 0)
          return code;
        RenderWhatWorks(response, FormatOf(globals), *show_studies, std::cout);
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ report
  auto* report = app.add_subcommand(
      "report", "write an evaluator's HTML report (forest plots, conditions, grade, lessons)");
  {
    auto options = std::make_shared<client::ReportOptions>();
    auto as_of = std::make_shared<std::string>();
    auto since = std::make_shared<std::string>();
    auto language = std::make_shared<std::string>("en");
    auto out = std::make_shared<std::string>();
    auto svg_dir = std::make_shared<std::string>();
    report->add_option("--indicator", options->indicator_id)->required();
    report->add_option("--method", options->work_method_ids,
                       "only this work method (repeatable; default: every method)");
    report->add_option("--by", options->by,
                       "compare this condition (default: the conditions that explain most)");
    report->add_option("--as-of", *as_of, "report as of a log position or a date YYYY-MM-DD");
    report->add_option("--since", *since,
                       "also show what changed since a log position or a date YYYY-MM-DD");
    report->add_option("--lang", *language, "en (default) or nl")
        ->check(CLI::IsMember({"en", "nl"}));
    report->add_option("--out", *out, "the HTML file to write")->required();
    report->add_option("--svg-dir", *svg_dir, "also write each plot as an SVG file here");
    report->callback([&, options, as_of, since, language, out, svg_dir] {
      action = [&, options, as_of, since, language, out, svg_dir](client::Client& api) {
        const AsOf when = ParseAsOf(*as_of);
        options->as_of_position = when.position;
        options->as_of_date = when.date;
        const AsOf earlier = ParseAsOf(*since);
        options->since_position = earlier.position;
        options->since_date = earlier.date;
        if (!since->empty() && earlier.position == 0 && earlier.date.empty()) {
          throw UsageError("--since: give a log position from 1 on, or a date YYYY-MM-DD");
        }
        options->language =
            *language == "nl" ? client::ReportLanguage::kDutch : client::ReportLanguage::kEnglish;
        client::ReportData data;
        grpc::Status status = client::FetchReportData(api, *options, &data);
        if (!status.ok()) {
          std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
          return client::ExitCodeFor(status);
        }
        if (int code = WriteOutputFile(*out, client::RenderReportHtml(data)); code != 0) {
          return code;
        }
        size_t plots = 0;
        if (!svg_dir->empty()) {
          std::error_code error;
          std::filesystem::create_directories(*svg_dir, error);
          for (const auto& [name, svg] : client::RenderReportSvgs(data)) {
            if (int code = WriteOutputFile(*svg_dir + "/" + name, svg); code != 0) return code;
            ++plots;
          }
        }
        std::cout << "wrote " << *out << " (work methods: " << data.what_works.methods_size()
                  << "; log position " << data.what_works.read_position() << ")";
        if (!svg_dir->empty()) std::cout << " and " << plots << " SVG plots in " << *svg_dir;
        std::cout << "\n";
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ export
  auto* export_command = app.add_subcommand(
      "export", "write experiments, outcomes or effects as CSV (default) or JSON (-o json)");
  {
    auto what = std::make_shared<std::string>();
    auto filter = std::make_shared<std::string>();
    auto indicator = std::make_shared<std::string>();
    auto include_retracted = std::make_shared<bool>(false);
    auto out = std::make_shared<std::string>();
    export_command->add_option("what", *what, "experiments, outcomes or effects")
        ->required()
        ->check(CLI::IsMember({"experiments", "outcomes", "effects"}));
    export_command->add_option("--filter", *filter,
                               "only experiments matching this filter (as experiment list)");
    export_command->add_option("--indicator", *indicator,
                               "outcomes and effects: only this indicator");
    export_command->add_flag("--include-retracted", *include_retracted,
                             "outcomes: also retracted ones (with the reason)");
    export_command->add_option("--out", *out, "write to this file (default: standard output)");
    export_command->callback([&, what, filter, indicator, include_retracted, out] {
      action = [&, what, filter, indicator, include_retracted, out](client::Client& api) {
        std::vector<v1::Experiment> experiments;
        grpc::Status status = client::FetchExperiments(api, *filter, &experiments);
        std::vector<v1::WhatWorksResponse> answers;
        if (status.ok() && *what != "experiments") {
          status = client::FetchEffects(api, *indicator, *filter, &answers);
        }
        if (!status.ok()) {
          std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
          return client::ExitCodeFor(status);
        }
        client::FlatTable table;
        if (*what == "experiments") {
          table = client::ExperimentsTable(experiments);
        } else if (*what == "outcomes") {
          table = client::OutcomesTable(experiments, answers, *include_retracted);
          if (!indicator->empty()) {
            std::erase_if(table.rows, [&](const auto& row) {
              return std::get<std::string>(row.at("indicator_id")) != *indicator;
            });
          }
        } else {
          table = client::EffectsTable(experiments, answers);
        }
        std::ostringstream text;
        if (FormatOf(globals) == OutputFormat::kJson) {
          client::WriteJson(table, text);
        } else {
          client::WriteCsv(table, text);
        }
        if (out->empty()) {
          std::cout << text.str();
          return 0;
        }
        if (int code = WriteOutputFile(*out, text.str()); code != 0) return code;
        std::cerr << "wrote " << table.rows.size() << " " << *what << " to " << *out << "\n";
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ scorecard
  auto* scorecard = app.add_subcommand(
      "scorecard", "hypotheses supported, refuted and inconclusive per work method");
  {
    auto request = std::make_shared<v1::ScorecardRequest>();
    auto details = std::make_shared<bool>(false);
    scorecard->add_option("--method", *request->mutable_work_method_id(), "only this work method");
    scorecard->add_option("--filter", *request->mutable_filter(),
                          "only experiments matching this filter");
    scorecard->add_flag_function(
        "--post-hoc", [request](int64_t count) { request->set_include_post_hoc(count > 0); },
        "also judge hypotheses registered after the start");
    scorecard->add_flag("--details", *details, "list every hypothesis with its verdict and reason");
    auto score_as_of = std::make_shared<std::string>();
    scorecard->add_option("--as-of", *score_as_of, "as of a log position or a date YYYY-MM-DD");
    scorecard->callback([&, request, details, score_as_of] {
      action = [&, request, details, score_as_of](client::Client& api) {
        SetAsOf(*request, *score_as_of);
        v1::ScorecardResponse response;
        if (int code = CallOrReport(api, &v1::InsightService::Stub::Scorecard, api.insights(),
                                    *request, &response);
            code != 0)
          return code;
        if (FormatOf(globals) != OutputFormat::kTable) {
          client::Render(response, FormatOf(globals), std::cout);
          return 0;
        }
        std::cout << absl::StrFormat("%-24s %9s %8s %12s %12s\n", "METHOD", "SUPPORTED", "REFUTED",
                                     "INCONCLUSIVE", "NOT MEASURED");
        for (const v1::MethodScorecard& card : response.methods()) {
          std::cout << absl::StrFormat("%-24s %9d %8d %12d %12d\n", card.work_method_id(),
                                       card.supported(), card.refuted(), card.inconclusive(),
                                       card.not_measured());
          if (!*details) continue;
          for (const v1::HypothesisVerdict& v : card.hypotheses()) {
            std::string verdict =
                v1::Verdict_Name(v.verdict()).substr(std::string("VERDICT_").size());
            std::cout << "    " << v.experiment_id() << "/" << v.hypothesis_id() << " " << verdict
                      << (v.pre_registered() ? "" : " (post-hoc)") << ": " << v.statement()
                      << "\n      " << v.reason() << "\n";
          }
        }
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ what-changed
  auto* what_changed =
      app.add_subcommand("what-changed", "which answers moved since an earlier moment");
  {
    auto request = std::make_shared<v1::WhatChangedRequest>();
    auto since = std::make_shared<std::string>();
    auto until = std::make_shared<std::string>();
    auto measure = std::make_shared<std::string>();
    what_changed
        ->add_option("--since", *since, "the earlier moment: a log position or a date YYYY-MM-DD")
        ->required();
    what_changed->add_option("--until", *until, "the later moment (default: now)");
    what_changed->add_option("--indicator", *request->mutable_indicator_id(),
                             "only this indicator");
    what_changed->add_option("--measure", *measure, "smd (default), md, rr, or, rd or smcc");
    what_changed->callback([&, request, since, until, measure] {
      action = [&, request, since, until, measure](client::Client& api) {
        const AsOf from = ParseAsOf(*since);
        const AsOf to = ParseAsOf(*until);
        request->set_since_position(from.position);
        request->set_since_date(from.date);
        request->set_until_position(to.position);
        request->set_until_date(to.date);
        request->set_measure(ParseMeasure(*measure));
        v1::WhatChangedResponse response;
        if (int code = CallOrReport(api, &v1::InsightService::Stub::WhatChanged, api.insights(),
                                    *request, &response);
            code != 0)
          return code;
        if (FormatOf(globals) != OutputFormat::kTable) {
          client::Render(response, FormatOf(globals), std::cout);
          return 0;
        }
        std::cout << "Changes between log positions " << response.since_position() << " and "
                  << response.until_position() << ":\n";
        if (response.changes_size() == 0) std::cout << "  nothing moved\n";
        for (const v1::ResultChange& change : response.changes()) {
          auto describe = [](const v1::PooledResult& p, bool present) {
            return present ? absl::StrFormat("%.3f [%.3f, %.3f], k=%d, grade %d", p.estimate(),
                                             p.ci_lower(), p.ci_upper(), p.k(), p.grade())
                           : std::string("no pooled result");
          };
          std::cout << "  " << change.indicator_id() << " / " << change.work_method_id() << ": "
                    << describe(change.before(), change.has_before()) << "  ->  "
                    << describe(change.after(), change.has_after()) << "\n";
          if (change.new_experiment_ids_size() > 0) {
            std::cout << "      now counting: " << absl::StrJoin(change.new_experiment_ids(), ", ")
                      << "\n";
          }
          if (change.dropped_experiment_ids_size() > 0) {
            std::cout << "      no longer counting: "
                      << absl::StrJoin(change.dropped_experiment_ids(), ", ") << "\n";
          }
        }
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ conditions
  auto* conditions =
      app.add_subcommand("conditions", "which conditions explain how well a work method works");
  {
    auto request = std::make_shared<v1::DiscoverConditionsRequest>();
    auto measure = std::make_shared<std::string>();
    auto as_of = std::make_shared<std::string>();
    conditions->add_option("--method", *request->mutable_work_method_id())->required();
    conditions->add_option("--indicator", *request->mutable_indicator_id())->required();
    conditions->add_option("--filter", *request->mutable_filter(),
                           "only experiments matching this filter");
    conditions->add_option("--measure", *measure, "smd (default), md, rr, or, rd or smcc");
    conditions->add_option_function<int32_t>(
        "--min-experiments",
        [request](const int32_t& v) { request->set_min_experiments_per_level(v); },
        "levels with fewer experiments are left out (default 2)");
    conditions->add_option_function<int32_t>(
        "--top", [request](const int32_t& v) { request->set_max_results(v); },
        "most conditions shown (default 10)");
    conditions->add_option("--as-of", *as_of, "as of a log position or a date YYYY-MM-DD");
    conditions->callback([&, request, measure, as_of] {
      action = [&, request, measure, as_of](client::Client& api) {
        SetAsOf(*request, *as_of);
        request->set_measure(ParseMeasure(*measure));
        v1::DiscoverConditionsResponse response;
        if (int code = CallOrReport(api, &v1::InsightService::Stub::DiscoverConditions,
                                    api.insights(), *request, &response);
            code != 0)
          return code;
        if (FormatOf(globals) != OutputFormat::kTable) {
          client::Render(response, FormatOf(globals), std::cout);
          return 0;
        }
        std::cout << "Conditions that moderate '" << request->work_method_id() << "' on '"
                  << request->indicator_id() << "' (" << response.conditions_tested()
                  << " tested; log position " << response.read_position() << ")\n";
        for (const v1::DiscoveredCondition& c : response.conditions()) {
          std::cout << absl::StrFormat(
              "  %-28s QM %7.2f on %g df, p %.4g, adjusted p %.4g, explains %.0f%%\n",
              c.condition(), c.test().qm(), c.test().qm_df(), c.test().qm_pvalue(),
              c.adjusted_p_value(), c.test().r2());
          for (const v1::Subgroup& g : c.subgroups()) {
            std::cout << absl::StrFormat("      %-22s %9.3f [%.3f, %.3f]  %d experiments\n",
                                         g.level(), g.pooled().estimate(), g.pooled().ci_lower(),
                                         g.pooled().ci_upper(), g.experiments());
          }
          for (const v1::RegressionCoefficient& k : c.coefficients()) {
            std::cout << absl::StrFormat("      %-22s %9.4f [%.4f, %.4f]\n", k.name(), k.estimate(),
                                         k.ci_lower(), k.ci_upper());
          }
        }
        for (const v1::UntestedCondition& u : response.untested()) {
          std::cout << "  not tested " << u.condition() << ": " << u.reason() << "\n";
        }
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ contribution
  auto* contribution = app.add_subcommand(
      "contribution", "per resource domain, which work methods move it, and at what cost");
  {
    auto request = std::make_shared<v1::ContributionRequest>();
    auto as_of = std::make_shared<std::string>();
    contribution->add_option("--as-of", *as_of, "as of a log position or a date YYYY-MM-DD");
    contribution->callback([&, request, as_of] {
      action = [&, request, as_of](client::Client& api) {
        SetAsOf(*request, *as_of);
        v1::ContributionResponse response;
        if (int code = CallOrReport(api, &v1::InsightService::Stub::Contribution, api.insights(),
                                    *request, &response);
            code != 0)
          return code;
        if (FormatOf(globals) != OutputFormat::kTable) {
          client::Render(response, FormatOf(globals), std::cout);
          return 0;
        }
        for (const v1::DomainContribution& domain : response.domains()) {
          std::cout << v1::ResourceDomain_Name(domain.domain())
                           .substr(std::string("RESOURCE_DOMAIN_").size())
                    << " resources\n";
          for (const v1::MethodContribution& m : domain.methods()) {
            const v1::PooledResult& p = m.pooled();
            std::cout << absl::StrFormat(
                "  %-3s %-18s on %-16s SMD %6.3f [%.3f, %.3f]  grade %d/5  EUR %s per participant "
                "(%s)%s\n",
                m.moves_it() ? "yes" : "-", m.work_method_id(), m.indicator_id(), p.estimate(),
                p.ci_lower(), p.ci_upper(), p.grade(),
                absl::StrFormat("%.0f", p.cost_per_participant_cents() / 100.0),
                p.cost_band().empty() ? "unknown" : p.cost_band(),
                p.euros_per_participant_per_unit_effect() > 0
                    ? absl::StrFormat(", EUR %.0f per unit of effect",
                                      p.euros_per_participant_per_unit_effect())
                    : std::string());
          }
        }
        return 0;
      };
    });
  }

  // ------------------------------------------------------------ admin
  auto* admin = app.add_subcommand("admin", "operator tasks")->require_subcommand(1);
  {
    auto* backup =
        admin->add_subcommand("backup", "write a consistent backup while the server keeps serving");
    auto request = std::make_shared<v1::BackupRequest>();
    backup
        ->add_option("--to", *request->mutable_directory(),
                     "new directory on the server's machine (absolute path)")
        ->required();
    backup->callback([&, request] {
      action = [&, request](client::Client& api) {
        return Run(api, globals, &v1::AdminService::Stub::Backup, api.admin(), *request);
      };
    });

    auto* erase = admin->add_subcommand("erase",
                                        "erase an experiment's personal texts (lessons, rationale, "
                                        "reasons) for good; numbers stay");
    auto erase_request = std::make_shared<v1::ErasePersonalDataRequest>();
    erase->add_option("--experiment", *erase_request->mutable_experiment_id(), "experiment id")
        ->required();
    erase->callback([&, erase_request] {
      action = [&, erase_request](client::Client& api) {
        erase_request->set_request_id(RequestId(globals));
        erase_request->set_expected_version(globals.expected_version);
        return Run(api, globals, &v1::AdminService::Stub::ErasePersonalData, api.admin(),
                   *erase_request);
      };
    });
  }

  // ------------------------------------------------------------ health
  auto* health =
      app.add_subcommand("health", "ask the standard gRPC health service; exit 0 when SERVING");
  health->callback([&] {
    action = [&](client::Client& api) {
      client::ServingStatus serving = client::ServingStatus::kUnknown;
      grpc::Status status = client::CheckHealth(api, &serving);
      if (!status.ok()) {
        std::cerr << "error: " << client::DescribeStatus(status) << std::endl;
        return client::ExitCodeFor(status);
      }
      const bool is_serving = serving == client::ServingStatus::kServing;
      std::cout << (is_serving ? "SERVING" : "NOT_SERVING") << std::endl;
      return is_serving ? 0 : 1;
    };
  });

  // ------------------------------------------------------------ token
  auto* token = app.add_subcommand("token", "access tokens (admin)")->require_subcommand(1);
  {
    auto* create = token->add_subcommand("create", "create a token; its secret is shown once");
    auto request = std::make_shared<v1::CreateTokenRequest>();
    auto role = std::make_shared<std::string>();
    auto expires_days = std::make_shared<int>(0);
    auto* t = request->mutable_token();
    create->add_option("--id", *t->mutable_id(), "stable id")->required();
    create
        ->add_option("--name", *t->mutable_display_name(),
                     "who holds it (the actor of its changes)")
        ->required();
    create->add_option("--role", *role, "admin, evaluator, team, partner or reader")->required();
    create->add_option_function<std::vector<std::string>>(
        "--team",
        [t](const std::vector<std::string>& v) {
          for (const auto& id : v) t->add_team_ids(id);
        },
        "team the token acts for (role team; repeatable)");
    create->add_option("--partner", *t->mutable_partner_id(),
                       "partner the token acts for (role partner)");
    create->add_option("--expires-days", *expires_days, "refuse the token after this many days");
    create->add_option("--cert-subject", *t->mutable_certificate_subject(),
                       "bind to a client certificate instead of a secret (mutual TLS), e.g. "
                       "'CN=ggd-hvb,O=GGD'");
    create->callback([&, request, role, expires_days] {
      action = [&, request, role, expires_days](client::Client& api) {
        request->mutable_token()->set_role(RequireEnum("--role", *role, "ROLE_", &v1::Role_Parse,
                                                       "admin, evaluator, team, partner, reader"));
        if (*expires_days > 0) {
          request->mutable_token()->mutable_expire_time()->set_seconds(
              absl::ToUnixSeconds(absl::Now() + absl::Hours(24) * *expires_days));
        }
        request->set_request_id(RequestId(globals));
        return Run(api, globals, &v1::AdminService::Stub::CreateToken, api.admin(), *request);
      };
    });
    auto* list = token->add_subcommand("list", "list tokens (never their secrets)");
    list->callback([&] {
      action = [&](client::Client& api) {
        return Run(api, globals, &v1::AdminService::Stub::ListTokens, api.admin(),
                   v1::ListTokensRequest());
      };
    });
    auto* revoke = token->add_subcommand("revoke", "revoke a token from the next call on");
    auto revoke_request = std::make_shared<v1::RevokeTokenRequest>();
    revoke->add_option("id", *revoke_request->mutable_id())->required();
    revoke->callback([&, revoke_request] {
      action = [&, revoke_request](client::Client& api) {
        revoke_request->set_request_id(RequestId(globals));
        return Run(api, globals, &v1::AdminService::Stub::RevokeToken, api.admin(),
                   *revoke_request);
      };
    });
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : kExitUsage;
  }
  client::ClientOptions options;
  options.timeout = std::chrono::seconds(globals.timeout_seconds);
  options.token = globals.token;
  auto read = [](const std::string& path) {
    if (path.empty()) return std::string();
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (buffer.str().empty()) throw UsageError("cannot read '" + path + "'");
    return buffer.str();
  };
  try {
    if (!globals.token_file.empty()) {
      options.token = read(globals.token_file);
      options.token = options.token.substr(0, options.token.find_first_of("\r\n"));
    }
    options.tls_ca_pem = read(globals.tls_ca);
    options.tls_server_name = globals.tls_server_name;
    options.tls_cert_pem = read(globals.tls_cert);
    options.tls_key_pem = read(globals.tls_key);
  } catch (const UsageError& error) {
    std::cerr << "error: " << error.what() << std::endl;
    return kExitUsage;
  }
  client::Client api(globals.server, options);
  try {
    return action(api);
  } catch (const UsageError& error) {
    std::cerr << "error: " << error.what() << std::endl;
    return kExitUsage;
  }
}
