// leerlusd: the leerlus server.
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
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "core/transparency.h"
#include "server/authorizer.h"
#include "server/http_gateway.h"
#include "server/services.h"
#include "server/settings.h"
#include "server/startup.h"
#include "storage/event_store.h"

namespace {

using leerlus::server::Settings;

void Log(const std::string& message) {
  std::cerr << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())
            << " leerlusd: " << message << std::endl;
}

int Fail(const std::string& message) {
  Log(absl::StrCat("error: ", message));
  return 1;
}

int Fail(const absl::Status& status) { return Fail(std::string(status.message())); }

// A gRPC server with `services` on settings.listen, started; nullptr if it
// cannot listen. Sets `bound_port`.
std::unique_ptr<grpc::Server> StartServer(const Settings& settings,
                                          std::shared_ptr<grpc::ServerCredentials> credentials,
                                          absl::Span<grpc::Service* const> services,
                                          leerlus::core::AnswerMemory& answer_memory,
                                          int& bound_port) {
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
  builder.SetMaxReceiveMessageSize(settings.max_message_mb * 1024 * 1024);
  builder.SetMaxSendMessageSize(settings.max_message_mb * 1024 * 1024);
  // Calls that wait for a group commit hold their thread for milliseconds;
  // letting up to 128 idle threads keep polling (gRPC's default is 2) spares
  // creating and ending a thread per call under concurrent writers (+15% at
  // 64 writers in bench/).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 128);
  builder.AddListeningPort(settings.listen, std::move(credentials), &bound_port);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(leerlus::server::MakeCallEndInterceptorFactory(&answer_memory));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (bound_port == 0) server.reset();
  return server;
}

// Serves until SIGINT or SIGTERM (blocked in `signals`), then drains: the
// health service says NOT_SERVING, streams end, calls in flight get the
// grace period.
int Serve(const Settings& settings, leerlus::storage::EventStore& store,
          leerlus::server::Telemetry& telemetry, leerlus::server::Authorizer& authorizer,
          leerlus::core::Transparency& transparency,
          std::shared_ptr<grpc::ServerCredentials> credentials,
          const std::optional<leerlus::server::HttpGatewayOptions>& http_options,
          const sigset_t& signals) {
  std::atomic<bool> draining{false};
  leerlus::server::StalledStreams stalled_streams(absl::Seconds(settings.subscriber_stall_seconds));
  leerlus::server::ServiceContext context{&store,
                                          &authorizer,
                                          &draining,
                                          &telemetry,
                                          settings.max_subscribers,
                                          static_cast<uint64_t>(settings.max_import_rows),
                                          &stalled_streams};
  context.max_message_bytes = static_cast<size_t>(settings.max_message_mb) * 1024 * 1024;
  context.max_subscribers_per_principal = settings.max_subscribers_per_principal;
  context.transparency = &transparency;
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
  grpc::Service* const services[] = {&catalog, &experiments, &event_log, &insights, &admin};
  int bound_port = 0;
  std::unique_ptr<grpc::Server> server =
      StartServer(settings, std::move(credentials), services, answer_memory, bound_port);
  if (server == nullptr) {
    return Fail(absl::StrCat("cannot listen on ", settings.listen, " (address in use or invalid)"));
  }
  // HTTP calls go through the server itself, over its in-process channel.
  std::unique_ptr<leerlus::server::HttpGateway> gateway;
  if (http_options.has_value()) {
    grpc::ChannelArguments arguments;
    arguments.SetMaxReceiveMessageSize(settings.max_message_mb * 1024 * 1024);
    arguments.SetMaxSendMessageSize(settings.max_message_mb * 1024 * 1024);
    absl::StatusOr<std::unique_ptr<leerlus::server::HttpGateway>> started =
        leerlus::server::HttpGateway::Start(*http_options, server->InProcessChannel(arguments));
    if (!started.ok()) {
      server->Shutdown();
      return Fail(started.status());
    }
    gateway = *std::move(started);
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  leerlus::server::Logger& logger = telemetry.logger();
  logger.Log("info", "serving",
             {{"port", absl::StrCat(bound_port)},
              {"http_port", gateway != nullptr ? absl::StrCat(gateway->port()) : ""},
              {"data_dir", settings.data_dir},
              {"log_position", absl::StrCat(store.HeadPosition())},
              {"metrics_port", absl::StrCat(telemetry.metrics_port())}});
  // Whole or not at all: whoever waits for it reads the port once it appears.
  auto write_port = [&](const std::string& file, int port) {
    if (file.empty()) return;
    if (absl::Status written = leerlus::WriteFileDurably(file, absl::StrCat(port, "\n"), 0644);
        !written.ok()) {
      logger.Log("error", "cannot write a port file",
                 {{"file", file}, {"error", written.ToString()}});
    }
  };
  if (gateway != nullptr) write_port(settings.http_port_file, gateway->port());
  write_port(settings.port_file, bound_port);

  // Checkpoints while the log grows, so that a partner never waits longer
  // than the interval for one that covers its write.
  absl::Notification stop_signing;
  std::thread signer([&] {
    while (!stop_signing.WaitForNotificationWithTimeout(
        absl::Seconds(settings.checkpoint_interval_seconds))) {
      if (absl::Status signed_now = transparency.SignIfGrown(); !signed_now.ok()) {
        logger.Log("error", "cannot sign a checkpoint", {{"error", signed_now.ToString()}});
      }
    }
  });
  pthread_setname_np(signer.native_handle(), "leerlus-sign");
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  stop_signing.Notify();
  signer.join();
  logger.Log("info", "draining", {{"signal", absl::StrCat(signal_number)}});
  server->GetHealthCheckService()->SetServingStatus(false);
  draining.store(true);
  if (gateway != nullptr) gateway->StopAccepting();
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::seconds(settings.shutdown_grace_seconds));
  server->Wait();
  gateway.reset();
  return 0;
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
  Settings settings;
  leerlus::server::AddSettings(app, settings);
  CLI11_PARSE(app, argc, argv);
  leerlus::server::DeriveSettings(app, settings);
  if (app.got_subcommand("keygen")) {
    absl::Status generated = leerlus::server::GenerateLogKey(settings);
    return generated.ok() ? 0 : Fail(generated);
  }
  if (settings.print_config) {
    std::cout << app.config_to_str(/*default_also=*/true, /*write_description=*/false);
    return 0;
  }
  // Block the shutdown signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!settings.restore_from.empty()) {
    // Copy a backup into a new data directory, then verify the copy.
    if (absl::Status restored = leerlus::server::RestoreBackup(settings); !restored.ok()) {
      return Fail(restored);
    }
    settings.verify = true;
  }
  std::unique_ptr<leerlus::storage::KillAtFailpoint> crash_point;
  absl::StatusOr<std::unique_ptr<leerlus::storage::EventStore>> store =
      leerlus::server::OpenStore(settings, crash_point);
  if (!store.ok()) return Fail(store.status());
  if (settings.verify || settings.rebuild || settings.rebuild_tree) {
    absl::Status checked = leerlus::server::VerifyOrRebuild(**store, settings);
    return checked.ok() ? 0 : Fail(checked);
  }
  absl::StatusOr<std::optional<leerlus::note::Signer>> signer =
      leerlus::server::LoadSigningKey(settings);
  if (!signer.ok()) return Fail(signer.status());
  leerlus::core::Transparency transparency(
      store->get(), {.signer = *std::move(signer), .checkpoint_state = settings.checkpoint_state});
  absl::StatusOr<std::string> loaded = transparency.Load();
  if (!loaded.ok()) return Fail(loaded.status());
  if (!loaded->empty()) Log(absl::StrCat("warning: ", *loaded));
  absl::StatusOr<std::unique_ptr<leerlus::server::Telemetry>> telemetry =
      leerlus::server::Telemetry::Create(
          store->get(),
          {.metrics_listen = settings.metrics_listen,
           .log_format = settings.log_format == "json" ? leerlus::server::LogFormat::kJson
                                                       : leerlus::server::LogFormat::kText,
           .log_calls = settings.log_calls});
  if (!telemetry.ok()) return Fail(telemetry.status().ToString());
  leerlus::server::Logger& logger = (*telemetry)->logger();
  absl::StatusOr<std::unique_ptr<leerlus::server::Authorizer>> authorizer =
      leerlus::server::MakeAuthorizer(settings, **store, logger);
  if (!authorizer.ok()) return Fail(authorizer.status());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      leerlus::server::TransportCredentials(settings);
  if (!credentials.ok()) return Fail(credentials.status());
  std::optional<leerlus::server::HttpGatewayOptions> http_options;
  if (!settings.http_listen.empty()) {
    absl::StatusOr<leerlus::server::HttpGatewayOptions> options =
        leerlus::server::HttpOptions(settings);
    if (!options.ok()) return Fail(options.status());
    http_options = *std::move(options);
  }
  if (int served = Serve(settings, **store, **telemetry, **authorizer, transparency,
                         *std::move(credentials), http_options, signals);
      served != 0) {
    return served;
  }
  const leerlus::storage::StoreStats stats = (*store)->Stats();
  logger.Log("info", "all calls finished; closing the store",
             {{"appends", absl::StrCat(stats.appends)},
              {"group_commits", absl::StrCat(stats.group_commits)}});
  (*store)->Shutdown();
  store->reset();
  logger.Log("info", "stopped cleanly");
  return 0;
}
