// leerlus: the command-line client. See `leerlus --help`.
//
// main sets up the global options and the connection; the subcommands are
// in client/commands/, a group per file.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/commands/command.h"
#include "client/commands/commands.h"

namespace {

namespace cli = leerlus::cli;

void AddGlobalOptions(CLI::App& app, cli::GlobalOptions& globals) {
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
}

// A whole file named by an option ("" when none is named); throws
// UsageError when it is empty or cannot be read.
std::string ReadOptionFile(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().empty()) throw cli::UsageError("cannot read '" + path + "'");
  return buffer.str();
}

// The connection's options: the token (from --token-file's first line if
// given) and the TLS files' contents.
leerlus::client::ClientOptions ConnectionOptions(const cli::GlobalOptions& globals) {
  leerlus::client::ClientOptions options;
  options.timeout = std::chrono::seconds(globals.timeout_seconds);
  options.token = globals.token;
  if (!globals.token_file.empty()) {
    options.token = ReadOptionFile(globals.token_file);
    options.token = options.token.substr(0, options.token.find_first_of("\r\n"));
  }
  options.tls_ca_pem = ReadOptionFile(globals.tls_ca);
  options.tls_server_name = globals.tls_server_name;
  options.tls_cert_pem = ReadOptionFile(globals.tls_cert);
  options.tls_key_pem = ReadOptionFile(globals.tls_key);
  return options;
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
  cli::CommandContext ctx;
  AddGlobalOptions(app, ctx.globals);
  // In the order `leerlus --help` lists them.
  cli::AddCatalogCommands(app, ctx);
  cli::AddExperimentCommands(app, ctx);
  cli::AddOutcomeCommands(app, ctx);
  cli::AddEventCommands(app, ctx);
  cli::AddWhatWorksCommand(app, ctx);
  cli::AddReportCommand(app, ctx);
  cli::AddExportCommand(app, ctx);
  cli::AddInsightCommands(app, ctx);
  cli::AddAdminCommands(app, ctx);
  cli::AddAuditCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : cli::kExitUsage;
  }
  try {
    leerlus::client::Client api(ctx.globals.server, ConnectionOptions(ctx.globals));
    return ctx.action(api);
  } catch (const cli::UsageError& error) {
    std::cerr << "error: " << error.what() << std::endl;
    return cli::kExitUsage;
  }
}
