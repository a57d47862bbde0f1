// What every leerlus subcommand shares: the global options, the action the
// chosen subcommand leaves for main to run once connected, and the helpers
// that turn flags into requests and answers into output and exit codes
// (README "Exit codes").
//
//   auto* show = parent->add_subcommand("show", "show a work method");
//   auto request = std::make_shared<v1::GetWorkMethodRequest>();
//   show->add_option("id", *request->mutable_id())->required();
//   ctx.OnRun(show, [&ctx, request](client::Client& api) {
//     return CallAndRender(api, ctx.format(), &v1::CatalogService::Stub::GetWorkMethod,
//                          api.catalog(), *request);
//   });
#ifndef LEERLUS_CLIENT_COMMANDS_COMMAND_H_
#define LEERLUS_CLIENT_COMMANDS_COMMAND_H_

#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "client/client.h"
#include "client/output.h"

namespace leerlus::cli {

// Exit codes besides the per-status ones in client.h.
constexpr int kExitUsage = 2;
constexpr int kExitPartialImport = 10;

// Thrown for bad command-line values; reported like CLI11's own errors.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The options every subcommand takes, before or after its name.
struct GlobalOptions {
  std::string server = "127.0.0.1:50051";
  std::string output = "table";
  std::string request_id;
  uint64_t expected_version = 0;
  int timeout_seconds = 30;
  std::string token;
  std::string token_file;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
};

// Handed to each group of subcommands as it registers them (commands.h).
// Options are parsed first and the connection is made after, so commands
// read the options and build requests only inside their action.
struct CommandContext {
  GlobalOptions globals;
  // What the chosen subcommand does once connected; returns the exit code.
  std::function<int(client::Client&)> action;

  // -o: table, json or csv.
  client::OutputFormat format() const;
  // --request-id, or a fresh random one.
  std::string RequestId() const;
  // Makes `run` the action when `command` is the subcommand given.
  void OnRun(CLI::App* command, std::function<int(client::Client&)> run);
};

// Parses an enum value given by its short name, case-insensitive, '-' or '_'.
template <typename Enum>
bool ParseShortEnum(const std::string& text, absl::string_view prefix,
                    bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string name = absl::AsciiStrToUpper(text);
  absl::StrReplaceAll({{"-", "_"}}, &name);
  return !text.empty() && parse(absl::StrCat(prefix, name), out) && name != "UNSPECIFIED";
}

// The value of an enum flag such as `--kind deal`; throws UsageError naming
// the `allowed` values for anything else.
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

AsOf ParseAsOf(const std::string& text);

// Sets a request's as_of_position / as_of_date from "--as-of POS|DATE".
template <typename Request>
void SetAsOf(Request& request, const std::string& text) {
  const AsOf when = ParseAsOf(text);
  request.set_as_of_position(when.position);
  request.set_as_of_date(when.date);
}

// "--measure smd|md|rr|or|rd|smcc" (empty: the server's default).
v1::EffectMeasure ParseMeasure(const std::string& text);

// Adds "--test adhoc|knha|z" to an insight command; the text it holds is
// parsed by ParseTest when the command runs.
std::shared_ptr<std::string> AddTestOption(CLI::App* command);
v1::PoolingTest ParseTest(const std::string& text);

// name=value pairs into typed attributes (all text with `force_text`).
void ParseAttributes(const std::vector<std::string>& pairs, bool force_text,
                     google::protobuf::Map<std::string, v1::AttributeValue>* out);

// Prints a failed call's status; returns the exit code for it.
int PrintError(const grpc::Status& status);

// Calls a unary method; on failure prints the status and returns the exit
// code for it, on success returns 0.
template <typename Stub, typename Request, typename Response>
int CallOrPrintError(client::Client& api,
                     grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                     Stub* stub, const Request& request, Response* response) {
  grpc::Status status = api.Call(method, stub, request, response);
  return status.ok() ? 0 : PrintError(status);
}

// Runs one call and renders its answer; returns the exit code.
template <typename Stub, typename Request, typename Response>
int CallAndRender(client::Client& api, client::OutputFormat format,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  Stub* stub, const Request& request) {
  Response response;
  if (int code = CallOrPrintError(api, method, stub, request, &response); code != 0) return code;
  client::Render(response, format, std::cout);
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
int CallAndRenderList(client::Client& api, client::OutputFormat format,
                      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                      Stub* stub, const Request& request, bool all, Items* (Response::*items)()) {
  if (!all) return CallAndRender(api, format, method, stub, request);
  Response combined;
  Request page = request;
  while (true) {
    Response response;
    if (int code = CallOrPrintError(api, method, stub, page, &response); code != 0) return code;
    for (auto& item : *(response.*items)()) *(combined.*items)()->Add() = std::move(item);
    combined.set_read_position(response.read_position());
    if (response.next_page_token().empty()) break;
    page.set_page_token(response.next_page_token());
  }
  client::Render(combined, format, std::cout);
  return 0;
}

// Writes a whole file via a temporary and a rename, so a reader never sees
// half of it, and syncs it; returns the exit code.
int WriteOutputFile(const std::string& path, const std::string& content);

}  // namespace leerlus::cli

#endif  // LEERLUS_CLIENT_COMMANDS_COMMAND_H_
