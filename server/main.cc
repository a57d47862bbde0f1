// leerlusd: the leerlus server.
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/authorizer.h"
#include "server/services.h"
#include "core/model/families.h"
#include "storage/event_store.h"

namespace {

void Log(const std::string& message) {
  std::cerr << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())
            << " leerlusd: " << message << std::endl;
}

int Fail(const std::string& message) {
  Log(absl::StrCat("error: ", message));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each new thread its own malloc arena (up to 8 per core), and
  // each arena keeps its high-water mark: with many server threads taking
  // turns at large answers that multiplies resident memory. A few arenas
  // keep it bounded.
  mallopt(M_ARENA_MAX, 4);
  // The data directory holds every experiment and, beside the ciphertext,
  // the keys that open it; backups and the first admin token are as
  // sensitive. Whatever leerlusd creates is its owner's alone, whatever the
  // umask it was started with (a systemd unit sets one; a plain run, the
  // quick start or a container may not).
  ::umask(0077);
  // Debian builds Abseil without NDEBUG, which leaves its mutex deadlock
  // detector on: every lock, ours and gRPC's, then updates one global lock
  // graph. It is a debugging aid; a release build has it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"leerlusd: the leerlus learning-loop server (gRPC over an embedded RocksDB store)"};
  std::string data_dir = "leerlus-data";
  std::string listen = "127.0.0.1:50051";
  std::string port_file;
  std::string metrics_listen;
  std::string log_format = isatty(STDERR_FILENO) ? "text" : "json";
  bool log_calls = true;
  bool rebuild = false;
  bool verify = false;
  bool print_config = false;
  std::string restore_from;
  bool insecure_dev = false;
  bool allow_plaintext = false;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string bootstrap_token_file;
  int max_message_mb = 16;
  int max_subscribers = 256;
  int max_subscribers_per_principal = 32;
  int64_t max_import_rows = 1'000'000;
  int subscriber_stall_seconds = 60;
  int shutdown_grace_seconds = 10;
  // Settings: flags, or the same names in a TOML/INI file (--config), or
  // LEERLUS_<NAME> environment variables; flags win, then the file, then
  // the environment.
  app.set_config("--config", "", "read settings from this file (TOML, the flags' names as keys)");
  app.add_option("--data-dir", data_dir, "RocksDB data directory (created if missing)")
      ->envname("LEERLUS_DATA_DIR")
      ->capture_default_str();
  app.add_option("--listen", listen, "host:port to serve gRPC on (port 0 picks a free one)")
      ->envname("LEERLUS_LISTEN")
      ->capture_default_str();
  app.add_option("--port-file", port_file, "write the bound port to this file once serving")
      ->envname("LEERLUS_PORT_FILE");
  app.add_option("--metrics-listen", metrics_listen,
                 "host:port for Prometheus metrics at /metrics (empty: none)")
      ->envname("LEERLUS_METRICS_LISTEN");
  app.add_option("--log-format", log_format, "json (one object a line) or text")
      ->check(CLI::IsMember({"json", "text"}))
      ->envname("LEERLUS_LOG_FORMAT")
      ->capture_default_str();
  app.add_option("--log-calls", log_calls, "log every call (true) or only failures (false)")
      ->envname("LEERLUS_LOG_CALLS")
      ->capture_default_str();
  app.add_option("--max-message-mb", max_message_mb, "largest request or response, MiB")
      ->check(CLI::Range(1, 256))
      ->envname("LEERLUS_MAX_MESSAGE_MB")
      ->capture_default_str();
  app.add_option("--max-subscribers", max_subscribers,
                 "most open Subscribe streams; more are RESOURCE_EXHAUSTED (0: no limit)")
      ->check(CLI::Range(0, 100000))
      ->envname("LEERLUS_MAX_SUBSCRIBERS")
      ->capture_default_str();
  app.add_option("--max-subscribers-per-principal", max_subscribers_per_principal,
                 "most open Subscribe streams of one token; more are RESOURCE_EXHAUSTED (0: no "
                 "limit)")
      ->check(CLI::Range(0, 100000))
      ->envname("LEERLUS_MAX_SUBSCRIBERS_PER_PRINCIPAL")
      ->capture_default_str();
  app.add_option("--max-import-rows", max_import_rows,
                 "most rows one ImportOutcomes stream may carry; past it RESOURCE_EXHAUSTED")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}))
      ->envname("LEERLUS_MAX_IMPORT_ROWS")
      ->capture_default_str();
  app.add_option("--subscriber-stall-seconds", subscriber_stall_seconds,
                 "cancel a Subscribe stream whose client has not read for this long (0: never)")
      ->check(CLI::Range(0, 86400))
      ->envname("LEERLUS_SUBSCRIBER_STALL_SECONDS")
      ->capture_default_str();
  app.add_option("--shutdown-grace-seconds", shutdown_grace_seconds,
                 "how long in-flight calls may take to finish on SIGTERM")
      ->check(CLI::Range(0, 3600))
      ->envname("LEERLUS_SHUTDOWN_GRACE_SECONDS")
      ->capture_default_str();
  app.add_flag("--insecure-dev", insecure_dev,
               "no authentication: every caller is an admin named 'dev'. Development only; "
               "refused on a non-loopback --listen")
      ->envname("LEERLUS_INSECURE_DEV");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve gRPC over TLS")
      ->envname("LEERLUS_TLS_CERT");
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->envname("LEERLUS_TLS_KEY");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "PEM CA: require client certificates signed by it (mutual TLS)")
      ->envname("LEERLUS_TLS_CLIENT_CA");
  app.add_flag("--allow-plaintext", allow_plaintext,
               "serve without TLS on a non-loopback address (tokens then cross the network in "
               "the clear)")
      ->envname("LEERLUS_ALLOW_PLAINTEXT");
  app.add_option("--bootstrap-token-file", bootstrap_token_file,
                 "on the first start, write the first admin token here (mode 0600) instead of "
                 "printing it")
      ->envname("LEERLUS_BOOTSTRAP_TOKEN_FILE");
  app.add_flag("--print-config", print_config, "print the effective settings and exit")
      ->configurable(false);
  app.add_flag("--rebuild-projections", rebuild,
               "drop every projection and rebuild it from the event log, then exit")
      ->configurable(false);
  app.add_flag("--verify", verify,
               "check every data file's checksums, the log (gap-free, hash chain, stream "
               "index) and that the projections equal a rebuild, then exit")
      ->configurable(false);
  std::string crash_at;
  app.add_option("--crash-at", crash_at,
                 "TESTS ONLY: die as by kill -9 at a write-path point, POINT:N for its N-th "
                 "time (before-write, after-write)")
      ->group("Testing")
      ->configurable(false);
  app.add_option("--restore-from", restore_from,
                 "copy a backup (from `leerlus admin backup`) into --data-dir, which must be new "
                 "or empty, verify it, then exit")
      ->configurable(false);
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::cout << app.config_to_str(/*default_also=*/true, /*write_description=*/false);
    return 0;
  }

  // Block the shutdown signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!restore_from.empty()) {
    // Copy a backup into a new data directory, then verify the copy.
    std::error_code error;
    if (std::filesystem::exists(data_dir, error) && !std::filesystem::is_empty(data_dir, error)) {
      return Fail(
          absl::StrCat("--data-dir '", data_dir, "' is not empty; restore into a new directory"));
    }
    absl::StatusOr<uint64_t> position;
    if (std::filesystem::exists(std::filesystem::path(restore_from) / "CURRENT", error)) {
      // A backup of an earlier version: a plain checkpoint directory.
      position = leerlus::storage::EventStore::HeadPositionOf(restore_from);
      if (!position.ok())
        return Fail(absl::StrCat("'", restore_from,
                                 "' is not a leerlus backup: ", position.status().ToString()));
      std::filesystem::create_directories(data_dir, error);
      std::filesystem::copy(restore_from, data_dir, std::filesystem::copy_options::recursive,
                            error);
      if (error) return Fail(absl::StrCat("copying the backup: ", error.message()));
    } else {
      position = leerlus::storage::EventStore::RestoreBackup(restore_from, data_dir);
      if (!position.ok()) return Fail(position.status().ToString());
    }
    std::cout << "restored the backup of log position " << *position << " into " << data_dir
              << std::endl;
    verify = true;
  }

  // A directory made by hand or by an older version may be open to others:
  // closing the directory closes every file in it.
  if (std::error_code error; std::filesystem::exists(data_dir, error)) {
    std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
    if (error)
      return Fail(
          absl::StrCat("cannot make --data-dir '", data_dir, "' owner-only: ", error.message()));
  }
  leerlus::storage::StoreOptions store_options{.path = data_dir};
  std::unique_ptr<leerlus::storage::KillAtFailpoint> crash_point;
  if (!crash_at.empty()) {
    std::pair<std::string, std::string> point = absl::StrSplit(crash_at, absl::MaxSplits(':', 1));
    uint64_t hit = 0;
    if ((point.first != "before-write" && point.first != "after-write") ||
        !absl::SimpleAtoi(point.second, &hit) || hit == 0) {
      return Fail("--crash-at must be before-write:N or after-write:N (N >= 1)");
    }
    crash_point = std::make_unique<leerlus::storage::KillAtFailpoint>(point.first, hit);
    store_options.failpoints = crash_point.get();
    std::cerr << "TEST CRASH POINT ARMED: the server will kill itself at " << crash_at << std::endl;
  }
  absl::StatusOr<std::unique_ptr<leerlus::storage::EventStore>> opened =
      leerlus::model::OpenStore(store_options);
  if (!opened.ok()) return Fail(opened.status().ToString());
  std::unique_ptr<leerlus::storage::EventStore> store = std::move(*opened);
  if (store->projections_rebuilt_at_open()) {
    std::cerr << "projections were in an older layout and have been rebuilt from the log"
              << std::endl;
  }

  if (verify) {
    absl::Status files = store->VerifyFiles();
    if (!files.ok()) return Fail(absl::StrCat("file check failed: ", files.ToString()));
    std::cout << "files: every block of every data file matches its checksum" << std::endl;
  }
  if (rebuild || verify) {
    absl::StatusOr<uint64_t> events = store->VerifyLog();
    if (!events.ok()) return Fail(absl::StrCat("log check failed: ", events.status().ToString()));
    std::cout << "log: " << *events << " events, gap-free, hash chain intact, every index entry "
              << "points at its event" << std::endl;
    absl::StatusOr<std::string> before;
    if (verify) {
      before = store->ProjectionDigest();
      if (!before.ok()) return Fail(before.status().ToString());
    }
    const absl::Time rebuild_start = absl::Now();
    absl::Status rebuilt = store->RebuildProjections();
    if (!rebuilt.ok()) return Fail(absl::StrCat("rebuild failed: ", rebuilt.ToString()));
    const double rebuild_seconds = absl::ToDoubleSeconds(absl::Now() - rebuild_start);
    absl::StatusOr<std::string> after = store->ProjectionDigest();
    if (!after.ok()) return Fail(after.status().ToString());
    if (rebuild) {
      std::cout << absl::StrFormat(
                       "projections rebuilt from %d events in %.3f s (%.0f events/s), digest %s",
                       *events, rebuild_seconds, *events / std::max(rebuild_seconds, 1e-9),
                       *after)
                << std::endl;
      return 0;
    }
    if (*before != *after) {
      return Fail("projections differed from a rebuild of the log; they have been rebuilt");
    }
    std::cout << "projections equal a rebuild of the log (digest " << *after << ")" << std::endl;
    return 0;
  }

  leerlus::server::TelemetryOptions telemetry_options;
  telemetry_options.metrics_listen = metrics_listen;
  telemetry_options.log_format =
      log_format == "json" ? leerlus::server::LogFormat::kJson : leerlus::server::LogFormat::kText;
  telemetry_options.log_calls = log_calls;
  absl::StatusOr<std::unique_ptr<leerlus::server::Telemetry>> telemetry =
      leerlus::server::Telemetry::Create(store.get(), telemetry_options);
  if (!telemetry.ok()) return Fail(telemetry.status().ToString());
  leerlus::server::Logger& logger = (*telemetry)->logger();

  std::atomic<bool> draining{false};
  std::unique_ptr<leerlus::server::Authorizer> authorizer;
  if (insecure_dev) {
    const std::string host = listen.substr(0, listen.rfind(':'));
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
      return Fail(absl::StrCat("--insecure-dev refuses to listen on ", listen,
                               "; use a loopback address (127.0.0.1)"));
    }
    logger.Log("warn", "INSECURE DEVELOPMENT MODE: no authentication, every caller is an admin",
               {{"listen", listen}});
    authorizer = std::make_unique<leerlus::server::DevelopmentAuthorizer>();
  } else {
    authorizer = std::make_unique<leerlus::server::TokenAuthorizer>(store.get());
    // A fresh store gets its first admin token, shown once.
    leerlus::core::Queries queries(store.get());
    absl::StatusOr<bool> any = queries.AnyToken();
    if (!any.ok()) return Fail(any.status().ToString());
    if (!*any) {
      leerlus::v1::CreateTokenRequest bootstrap;
      bootstrap.mutable_token()->set_id("admin");
      bootstrap.mutable_token()->set_display_name("admin");
      bootstrap.mutable_token()->set_role(leerlus::v1::ROLE_ADMIN);
      bootstrap.set_request_id("bootstrap-admin-token");
      // The file is created first, owner-only from the start, never over
      // an existing file or through a symbolic link: if it cannot be, no
      // token is stored and the next start tries again.
      int token_fd = -1;
      if (!bootstrap_token_file.empty()) {
        token_fd = ::open(bootstrap_token_file.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (token_fd < 0) {
          return Fail(absl::StrCat("cannot create --bootstrap-token-file '", bootstrap_token_file,
                                   "': ", std::strerror(errno),
                                   " (it must not exist yet and its directory must; a file "
                                   "left by a start that stopped before storing the token is "
                                   "empty: delete it)"));
        }
      }
      leerlus::core::Caller system;
      system.actor = "leerlusd";
      absl::StatusOr<leerlus::v1::CreateTokenResponse> created =
          leerlus::core::Commands(store.get()).CreateToken(bootstrap, system);
      if (!created.ok()) {
        if (token_fd >= 0) {
          ::close(token_fd);
          ::unlink(bootstrap_token_file.c_str());
        }
        return Fail(created.status().ToString());
      }
      if (token_fd >= 0) {
        const std::string line = created->secret() + "\n";
        const bool written =
            ::write(token_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(token_fd) == 0;
        ::close(token_fd);
        if (!written) {
          return Fail(absl::StrCat("cannot write --bootstrap-token-file '", bootstrap_token_file,
                                   "': ", std::strerror(errno),
                                   "; revoke token 'admin' from a copy of the data directory"));
        }
        logger.Log("info", "first admin token written", {{"file", bootstrap_token_file}});
      } else {
        std::cerr << "\nFirst start: the admin token (shown once, keep it safe):\n  "
                  << created->secret() << "\n\n";
      }
    }
  }
  leerlus::server::StalledStreams stalled_streams(absl::Seconds(subscriber_stall_seconds));
  leerlus::server::ServiceContext context{store.get(),     authorizer.get(),
                                          &draining,       telemetry->get(),
                                          max_subscribers, static_cast<uint64_t>(max_import_rows),
                                          &stalled_streams};
  context.max_message_bytes = static_cast<size_t>(max_message_mb) * 1024 * 1024;
  context.max_subscribers_per_principal = max_subscribers_per_principal;
  // All answers being built or sent share one message limit's worth of
  // memory: the server stays within its budget whatever the number of
  // readers.
  leerlus::core::AnswerMemory answer_memory(context.max_message_bytes);
  context.answer_memory = &answer_memory;
  leerlus::server::CatalogServiceImpl catalog(context);
  leerlus::server::ExperimentServiceImpl experiments(context);
  leerlus::server::EventLogServiceImpl event_log(context);
  leerlus::server::InsightServiceImpl insights(context);
  leerlus::server::AdminServiceImpl admin(context);

  // Transport: TLS when given a certificate; plaintext only on loopback
  // unless the operator says otherwise.
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls_cert.empty() != tls_key.empty()) return Fail("--tls-cert and --tls-key go together");
  if (!tls_client_ca.empty() && tls_cert.empty()) return Fail("--tls-client-ca needs --tls-cert");
  if (!tls_cert.empty()) {
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      std::stringstream buffer;
      buffer << in.rdbuf();
      return buffer.str();
    };
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({read(tls_key), read(tls_cert)});
    if (ssl.pem_key_cert_pairs[0].private_key.empty() ||
        ssl.pem_key_cert_pairs[0].cert_chain.empty()) {
      return Fail("cannot read --tls-cert or --tls-key");
    }
    if (!tls_client_ca.empty()) {
      ssl.pem_root_certs = read(tls_client_ca);
      if (ssl.pem_root_certs.empty()) return Fail("cannot read --tls-client-ca");
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    const std::string host = listen.substr(0, listen.rfind(':'));
    const bool loopback = host == "127.0.0.1" || host == "localhost" || host == "[::1]";
    if (!loopback && !insecure_dev && !allow_plaintext) {
      return Fail(absl::StrCat("refusing to serve tokens in plaintext on ", listen,
                               ": give --tls-cert and --tls-key, or --allow-plaintext"));
    }
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Two servers on one port would silently split traffic between two stores.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Ping idle connections, so that a subscriber whose machine vanished
  // (no FIN, no RST) is noticed and its stream and slot reclaimed.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.SetMaxReceiveMessageSize(max_message_mb * 1024 * 1024);
  builder.SetMaxSendMessageSize(max_message_mb * 1024 * 1024);
  // Calls that wait for a group commit hold their thread for milliseconds;
  // letting up to 128 idle threads keep polling (gRPC's default is 2) spares
  // creating and ending a thread per call under concurrent writers (+15% at
  // 64 writers in bench/).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 128);
  int bound_port = 0;
  builder.AddListeningPort(listen, credentials, &bound_port);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(leerlus::server::MakeCallEndInterceptorFactory(&answer_memory));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  builder.RegisterService(&catalog);
  builder.RegisterService(&experiments);
  builder.RegisterService(&event_log);
  builder.RegisterService(&insights);
  builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return Fail(absl::StrCat("cannot listen on ", listen, " (address in use or invalid)"));
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  logger.Log("info", "serving",
             {{"port", absl::StrCat(bound_port)},
              {"data_dir", data_dir},
              {"log_position", absl::StrCat(store->HeadPosition())},
              {"metrics_port", absl::StrCat((*telemetry)->metrics_port())}});
  if (!port_file.empty()) {
    // Write then rename, so a reader never sees a half-written file.
    std::string temporary = port_file + ".tmp";
    {
      std::ofstream out(temporary);
      out << bound_port << "\n";
    }
    std::rename(temporary.c_str(), port_file.c_str());
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  logger.Log("info", "draining", {{"signal", absl::StrCat(signal_number)}});
  server->GetHealthCheckService()->SetServingStatus(false);
  draining.store(true);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(shutdown_grace_seconds));
  server->Wait();
  const leerlus::storage::StoreStats stats = store->Stats();
  logger.Log("info", "all calls finished; closing the store",
             {{"appends", absl::StrCat(stats.appends)},
              {"group_commits", absl::StrCat(stats.group_commits)}});
  store->Shutdown();
  store.reset();
  logger.Log("info", "stopped cleanly");
  return 0;
}
