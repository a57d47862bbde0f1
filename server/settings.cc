#include "server/settings.h"

namespace leerlus::server {
namespace {

// Where to find the data and how to talk about the work.
void AddServingSettings(CLI::App& app, Settings& settings) {
  app.set_config("--config", "", "read settings from this file (TOML, the flags' names as keys)");
  app.add_option("--data-dir", settings.data_dir, "RocksDB data directory (created if missing)")
      ->envname("LEERLUS_DATA_DIR")
      ->capture_default_str();
  app.add_option("--listen", settings.listen,
                 "host:port to serve gRPC on (port 0 picks a free one)")
      ->envname("LEERLUS_LISTEN")
      ->capture_default_str();
  app.add_option("--port-file", settings.port_file,
                 "write the bound port to this file once serving")
      ->envname("LEERLUS_PORT_FILE");
  app.add_option("--metrics-listen", settings.metrics_listen,
                 "host:port for Prometheus metrics at /metrics (empty: none)")
      ->envname("LEERLUS_METRICS_LISTEN");
  app.add_option("--http-listen", settings.http_listen,
                 "host:port to serve the same RPCs over HTTP (the Connect protocol, JSON or "
                 "binary) and the web app on (empty: none)")
      ->envname("LEERLUS_HTTP_LISTEN");
  app.add_option("--http-port-file", settings.http_port_file,
                 "write the bound HTTP port to this file once serving")
      ->envname("LEERLUS_HTTP_PORT_FILE");
  app.add_option("--http-allowed-origin", settings.http_allowed_origins,
                 "a web origin (https://host[:port]) whose pages may call the HTTP API from a "
                 "browser; repeat for more (never '*'; the server's own origin always may)")
      ->envname("LEERLUS_HTTP_ALLOWED_ORIGIN");
  app.add_option("--web-root", settings.web_root,
                 "directory of the web app's files, served on --http-listen")
      ->envname("LEERLUS_WEB_ROOT");
  app.add_option("--log-format", settings.log_format, "json (one object a line) or text")
      ->check(CLI::IsMember({"json", "text"}))
      ->envname("LEERLUS_LOG_FORMAT")
      ->capture_default_str();
  app.add_option("--log-calls", settings.log_calls,
                 "log every call (true) or only failures (false)")
      ->envname("LEERLUS_LOG_CALLS")
      ->capture_default_str();
}

// The bounds every caller's work stays within.
void AddLimitSettings(CLI::App& app, Settings& settings) {
  app.add_option("--max-message-mb", settings.max_message_mb, "largest request or response, MiB")
      ->check(CLI::Range(1, 256))
      ->envname("LEERLUS_MAX_MESSAGE_MB")
      ->capture_default_str();
  app.add_option("--max-subscribers", settings.max_subscribers,
                 "most open Subscribe streams; more are RESOURCE_EXHAUSTED (0: no limit)")
      ->check(CLI::Range(0, 100000))
      ->envname("LEERLUS_MAX_SUBSCRIBERS")
      ->capture_default_str();
  app.add_option("--max-subscribers-per-principal", settings.max_subscribers_per_principal,
                 "most open Subscribe streams of one token; more are RESOURCE_EXHAUSTED (0: no "
                 "limit)")
      ->check(CLI::Range(0, 100000))
      ->envname("LEERLUS_MAX_SUBSCRIBERS_PER_PRINCIPAL")
      ->capture_default_str();
  app.add_option("--http-max-connections", settings.http_max_connections,
                 "most open HTTP connections; more are closed at once")
      ->check(CLI::Range(1, 100000))
      ->envname("LEERLUS_HTTP_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--http-request-timeout-seconds", settings.http_request_timeout_seconds,
                 "an HTTP request's header and body must arrive within this; a slower client "
                 "is disconnected (also the longest wait for a write to a client)")
      ->check(CLI::Range(1, 3600))
      ->envname("LEERLUS_HTTP_REQUEST_TIMEOUT_SECONDS")
      ->capture_default_str();
  app.add_option("--max-import-rows", settings.max_import_rows,
                 "most rows one ImportOutcomes stream may carry; past it RESOURCE_EXHAUSTED")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}))
      ->envname("LEERLUS_MAX_IMPORT_ROWS")
      ->capture_default_str();
  app.add_option("--subscriber-stall-seconds", settings.subscriber_stall_seconds,
                 "cancel a Subscribe stream whose client has not read for this long (0: never)")
      ->check(CLI::Range(0, 86400))
      ->envname("LEERLUS_SUBSCRIBER_STALL_SECONDS")
      ->capture_default_str();
  app.add_option("--shutdown-grace-seconds", settings.shutdown_grace_seconds,
                 "how long in-flight calls may take to finish on SIGTERM")
      ->check(CLI::Range(0, 3600))
      ->envname("LEERLUS_SHUTDOWN_GRACE_SECONDS")
      ->capture_default_str();
}

// Who may call, and over what.
void AddSecuritySettings(CLI::App& app, Settings& settings) {
  app.add_flag("--insecure-dev", settings.insecure_dev,
               "no authentication: every caller is an admin named 'dev'. Development only; "
               "refused on a non-loopback --listen")
      ->envname("LEERLUS_INSECURE_DEV");
  app.add_option("--tls-cert", settings.tls_cert, "PEM certificate chain: serve gRPC over TLS")
      ->envname("LEERLUS_TLS_CERT");
  app.add_option("--tls-key", settings.tls_key, "PEM private key of --tls-cert")
      ->envname("LEERLUS_TLS_KEY");
  app.add_option("--tls-client-ca", settings.tls_client_ca,
                 "PEM CA: require client certificates signed by it (mutual TLS)")
      ->envname("LEERLUS_TLS_CLIENT_CA");
  app.add_flag("--allow-plaintext", settings.allow_plaintext,
               "serve without TLS on a non-loopback address (tokens then cross the network in "
               "the clear)")
      ->envname("LEERLUS_ALLOW_PLAINTEXT");
  app.add_option("--bootstrap-token-file", settings.bootstrap_token_file,
                 "on the first start, write the first admin token here (mode 0600) instead of "
                 "printing it")
      ->envname("LEERLUS_BOOTSTRAP_TOKEN_FILE");
  app.add_option("--signing-key", settings.signing_key,
                 "the log key (from `leerlusd keygen`, mode 0600, outside --data-dir) that signs "
                 "checkpoints of the log's Merkle tree; without it none are signed")
      ->envname("LEERLUS_SIGNING_KEY");
  app.add_option("--checkpoint-state", settings.checkpoint_state,
                 "where the latest checkpoint signed is kept, outside --data-dir, so that a "
                 "restored older copy of the data is refused instead of signed over (default: "
                 "the --signing-key path with .checkpoint added)")
      ->envname("LEERLUS_CHECKPOINT_STATE");
  app.add_option("--checkpoint-interval-seconds", settings.checkpoint_interval_seconds,
                 "sign a checkpoint at least this often while the log grows")
      ->check(CLI::Range(1, 86400));
}

// Runs that check, rebuild or restore the data and exit (and a test hook).
void AddMaintenanceSettings(CLI::App& app, Settings& settings) {
  app.add_flag("--print-config", settings.print_config, "print the effective settings and exit")
      ->configurable(false);
  app.add_flag("--rebuild-projections", settings.rebuild,
               "drop every projection and rebuild it from the event log, then exit")
      ->configurable(false);
  app.add_flag("--rebuild-tree", settings.rebuild_tree,
               "drop the Merkle tree's nodes and hash them again from the events (repairs a "
               "damaged tree), check the log and every checkpoint signed (needs --public-key), "
               "then exit")
      ->configurable(false);
  app.add_flag("--verify", settings.verify,
               "check every data file's checksums, the log (gap-free, hash chain, stream "
               "index) and that the projections equal a rebuild, then exit")
      ->configurable(false);
  app.add_option("--public-key", settings.public_key,
                 "with --verify: also check every checkpoint the server signed against the log, "
                 "with this verifier key (its text, or a file holding it)")
      ->configurable(false);
  app.add_option("--crash-at", settings.crash_at,
                 "TESTS ONLY: die as by kill -9 at a write-path point, POINT:N for its N-th "
                 "time (before-write, after-write)")
      ->group("Testing")
      ->configurable(false);
  app.add_option("--restore-from", settings.restore_from,
                 "copy a backup (from `leerlus admin backup`) into --data-dir, which must be new "
                 "or empty, verify it, then exit")
      ->configurable(false);
}

}  // namespace

void AddSettings(CLI::App& app, Settings& settings) {
  AddServingSettings(app, settings);
  AddLimitSettings(app, settings);
  AddSecuritySettings(app, settings);
  AddMaintenanceSettings(app, settings);
  CLI::App* keygen = app.add_subcommand(
      "keygen", "create a log key for --signing-key and print its verifier key, then exit");
  keygen->add_option("--origin", settings.keygen_origin,
                     "the log's name, e.g. leerlus.brabant.nl/programma (no spaces or '+')")
      ->required();
  keygen->add_option("--out", settings.keygen_out,
                     "the key file to create (mode 0600; never overwritten); keep it outside "
                     "--data-dir")
      ->required();
}

void DeriveSettings(CLI::App& app, Settings& settings) {
  if (!settings.signing_key.empty() && settings.checkpoint_state.empty()) {
    settings.checkpoint_state = settings.signing_key + ".checkpoint";
    app.get_option("--checkpoint-state")->default_str(settings.checkpoint_state);
  }
}

bool IsLoopback(const std::string& listen) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

}  // namespace leerlus::server
