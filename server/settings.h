// leerlusd's settings: flags, or the same names in a TOML/INI file
// (--config), or LEERLUS_<NAME> environment variables; flags win, then the
// file, then the environment.
#ifndef LEERLUS_SERVER_SETTINGS_H_
#define LEERLUS_SERVER_SETTINGS_H_

#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace leerlus::server {

struct Settings {
  std::string data_dir = "leerlus-data";
  std::string listen = "127.0.0.1:50051";
  std::string port_file;
  std::string metrics_listen;
  // The Connect gateway and web app (server/http_gateway.h); empty: off.
  std::string http_listen;
  std::string http_port_file;
  std::vector<std::string> http_allowed_origins;
  std::string web_root;
  int http_max_connections = 1024;
  int http_request_timeout_seconds = 30;
  std::string log_format = isatty(STDERR_FILENO) ? "text" : "json";
  bool log_calls = true;
  bool rebuild = false;
  // --rebuild-tree: hash the Merkle tree's nodes again from the events.
  bool rebuild_tree = false;
  bool verify = false;
  bool print_config = false;
  std::string restore_from;
  // TESTS ONLY: POINT:N, die as by kill -9 at a write-path point.
  std::string crash_at;
  bool insecure_dev = false;
  bool allow_plaintext = false;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string bootstrap_token_file;
  // The log key that signs checkpoints (leerlusd keygen); outside the data
  // directory. Empty: no checkpoints are signed.
  std::string signing_key;
  // The latest checkpoint signed, outside the data directory, so that an
  // older copy of the data cannot make the server sign a second history.
  // Empty with a signing key: beside it (DeriveSettings).
  std::string checkpoint_state;
  int checkpoint_interval_seconds = 10;
  // --verify: also check the kept checkpoints with this verifier key (the
  // key's text or a file holding it).
  std::string public_key;
  // `leerlusd keygen`: a new log key named `keygen_origin` into `keygen_out`.
  std::string keygen_origin;
  std::string keygen_out;
  int max_message_mb = 16;
  int max_subscribers = 256;
  int max_subscribers_per_principal = 32;
  int64_t max_import_rows = 1'000'000;
  int subscriber_stall_seconds = 60;
  int shutdown_grace_seconds = 10;
};

// Registers every setting on `app`, in the order --help and --print-config
// show them.
void AddSettings(CLI::App& app, Settings& settings);

// Once `app` has parsed: the settings that follow from others unless given
// (--checkpoint-state beside --signing-key), also for --print-config.
void DeriveSettings(CLI::App& app, Settings& settings);

// Whether `listen` (host:port) is a loopback address.
bool IsLoopback(const std::string& listen);

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_SETTINGS_H_
