#include "server/startup.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "core/commands.h"
#include "core/model/families.h"
#include "core/queries.h"
#include "core/transparency.h"

namespace leerlus::server {
namespace {

// An error whose message is exactly `message`: what leerlusd prints.
absl::Status Failure(const std::string& message) { return absl::FailedPreconditionError(message); }

// Tokens cross the network in the clear only on loopback, or when the
// operator says so.
absl::Status CheckPlaintextAllowed(const Settings& settings, const std::string& listen) {
  if (IsLoopback(listen) || settings.insecure_dev || settings.allow_plaintext) {
    return absl::OkStatus();
  }
  return Failure(absl::StrCat("refusing to serve tokens in plaintext on ", listen,
                              ": give --tls-cert and --tls-key, or --allow-plaintext"));
}

// Creates the first admin token and shows its secret once: in
// `token_file` (created first, owner-only, never over an existing file or
// through a link; if it cannot be, no token is stored and the next start
// tries again) or on stderr.
absl::Status CreateFirstAdminToken(storage::EventStore& store, const std::string& token_file,
                                   Logger& logger) {
  v1::CreateTokenRequest bootstrap;
  bootstrap.mutable_token()->set_id("admin");
  bootstrap.mutable_token()->set_display_name("admin");
  bootstrap.mutable_token()->set_role(v1::ROLE_ADMIN);
  bootstrap.set_request_id("bootstrap-admin-token");
  int token_fd = -1;
  if (!token_file.empty()) {
    token_fd =
        ::open(token_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (token_fd < 0) {
      return Failure(absl::StrCat("cannot create --bootstrap-token-file '", token_file,
                                  "': ", std::strerror(errno),
                                  " (it must not exist yet and its directory must; a file "
                                  "left by a start that stopped before storing the token is "
                                  "empty: delete it)"));
    }
  }
  core::Caller system;
  system.actor = "leerlusd";
  absl::StatusOr<v1::CreateTokenResponse> created =
      core::Commands(&store).CreateToken(bootstrap, system);
  if (!created.ok()) {
    if (token_fd >= 0) {
      ::close(token_fd);
      ::unlink(token_file.c_str());
    }
    return Failure(created.status().ToString());
  }
  if (token_fd < 0) {
    std::cerr << "\nFirst start: the admin token (shown once, keep it safe):\n  "
              << created->secret() << "\n\n";
    return absl::OkStatus();
  }
  const std::string line = created->secret() + "\n";
  const bool written =
      ::write(token_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
      ::fsync(token_fd) == 0;
  ::close(token_fd);
  if (!written) {
    return Failure(absl::StrCat("cannot write --bootstrap-token-file '", token_file,
                                "': ", std::strerror(errno),
                                "; revoke token 'admin' from a copy of the data directory"));
  }
  logger.Log("info", "first admin token written", {{"file", token_file}});
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::Status RestoreBackup(const Settings& settings) {
  const std::string& from = settings.restore_from;
  const std::string& data_dir = settings.data_dir;
  std::error_code error;
  if (std::filesystem::exists(data_dir, error) && !std::filesystem::is_empty(data_dir, error)) {
    return Failure(
        absl::StrCat("--data-dir '", data_dir, "' is not empty; restore into a new directory"));
  }
  absl::StatusOr<uint64_t> position;
  if (std::filesystem::exists(std::filesystem::path(from) / "CURRENT", error)) {
    // A backup of an earlier version: a plain checkpoint directory.
    position = storage::EventStore::HeadPositionOf(from);
    if (!position.ok()) {
      return Failure(
          absl::StrCat("'", from, "' is not a leerlus backup: ", position.status().ToString()));
    }
    std::filesystem::create_directories(data_dir, error);
    std::filesystem::copy(from, data_dir, std::filesystem::copy_options::recursive, error);
    if (error) return Failure(absl::StrCat("copying the backup: ", error.message()));
  } else {
    position = storage::EventStore::RestoreBackup(from, data_dir);
    if (!position.ok()) return Failure(position.status().ToString());
  }
  std::cout << "restored the backup of log position " << *position << " into " << data_dir
            << std::endl;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<storage::EventStore>> OpenStore(
    const Settings& settings, std::unique_ptr<storage::KillAtFailpoint>& crash_point) {
  const std::string& data_dir = settings.data_dir;
  // A directory made by hand or by an older version may be open to others:
  // closing the directory closes every file in it.
  if (std::error_code error; std::filesystem::exists(data_dir, error)) {
    std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
    if (error) {
      return Failure(
          absl::StrCat("cannot make --data-dir '", data_dir, "' owner-only: ", error.message()));
    }
  }
  storage::StoreOptions store_options{.path = data_dir};
  if (!settings.crash_at.empty()) {
    std::pair<std::string, std::string> point =
        absl::StrSplit(settings.crash_at, absl::MaxSplits(':', 1));
    uint64_t hit = 0;
    if ((point.first != "before-write" && point.first != "after-write") ||
        !absl::SimpleAtoi(point.second, &hit) || hit == 0) {
      return Failure("--crash-at must be before-write:N or after-write:N (N >= 1)");
    }
    crash_point = std::make_unique<storage::KillAtFailpoint>(point.first, hit);
    store_options.failpoints = crash_point.get();
    std::cerr << "TEST CRASH POINT ARMED: the server will kill itself at " << settings.crash_at
              << std::endl;
  }
  absl::StatusOr<std::unique_ptr<storage::EventStore>> store = model::OpenStore(store_options);
  if (!store.ok()) return Failure(store.status().ToString());
  if (!(*store)->tree_status().ok() && !settings.verify && !settings.rebuild &&
      !settings.rebuild_tree) {
    return Failure(absl::StrCat("the log's Merkle tree cannot be loaded (",
                                (*store)->tree_status().message(),
                                "); run leerlusd --verify to see what is damaged, and "
                                "leerlusd --rebuild-tree --public-key to repair it"));
  }
  if ((*store)->projections_rebuilt_at_open()) {
    std::cerr << "projections were in an older layout and have been rebuilt from the log"
              << std::endl;
  }
  return store;
}

absl::Status GenerateLogKey(const Settings& settings) {
  absl::StatusOr<std::pair<std::string, std::string>> key =
      note::GenerateKey(settings.keygen_origin);
  if (!key.ok()) return Failure(absl::StrCat("--origin: ", key.status().message()));
  if (absl::Status written = note::WriteNewKeyFile(settings.keygen_out, key->first);
      !written.ok()) {
    return Failure(std::string(written.message()));
  }
  std::cout << "log key written to " << settings.keygen_out
            << " (start leerlusd with --signing-key " << settings.keygen_out << ")\n"
            << "verifier key, for partners and auditors to pin:\n"
            << key->second << std::endl;
  return absl::OkStatus();
}

namespace {

// FAILED_PRECONDITION if `path`, given as `flag`, lies inside --data-dir,
// where whoever holds the data, and every copy of it, holds it too: `why`
// says what follows.
absl::Status RefuseInsideDataDir(const Settings& settings, absl::string_view flag,
                                 const std::string& path, absl::string_view why) {
  // Compared as absolute paths with symbolic links resolved and no trailing
  // separator (whose empty last element would never match).
  std::error_code path_error, data_error;
  const std::filesystem::path resolved = std::filesystem::weakly_canonical(path, path_error);
  std::filesystem::path data = std::filesystem::weakly_canonical(settings.data_dir, data_error);
  if (data_error) {
    return Failure(absl::StrCat("cannot resolve --data-dir '", settings.data_dir,
                                "': ", data_error.message()));
  }
  if (!data.empty() && data.filename().empty()) data = data.parent_path();
  // A path that cannot be resolved fails where it is used, naming it.
  if (path_error) return absl::OkStatus();
  const auto [data_end, path_at] =
      std::mismatch(data.begin(), data.end(), resolved.begin(), resolved.end());
  if (data_end == data.end()) {
    return Failure(absl::StrCat(flag, " '", path, "' lies inside --data-dir: ", why));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<note::Signer>> LoadSigningKey(const Settings& settings) {
  if (settings.signing_key.empty()) {
    if (settings.checkpoint_state.empty()) return std::nullopt;
    return Failure(
        "--checkpoint-state keeps the latest checkpoint the --signing-key signed: give both");
  }
  if (absl::Status outside = RefuseInsideDataDir(
          settings, "--signing-key", settings.signing_key,
          "whoever holds the data could then sign a rewritten history; keep the key elsewhere");
      !outside.ok()) {
    return outside;
  }
  if (absl::Status outside = RefuseInsideDataDir(
          settings, "--checkpoint-state", settings.checkpoint_state,
          "restoring an older copy of the data would take it back too, and the server would "
          "sign a second history over what it signed; keep it elsewhere");
      !outside.ok()) {
    return outside;
  }
  // The first checkpoint signed would replace the key.
  if (std::error_code error;
      std::filesystem::equivalent(settings.signing_key, settings.checkpoint_state, error)) {
    return Failure("--checkpoint-state is the --signing-key file: give it a file of its own");
  }
  absl::StatusOr<note::Signer> signer = note::ReadSignerKeyFile(settings.signing_key);
  if (!signer.ok()) return Failure(absl::StrCat("--signing-key: ", signer.status().message()));
  return std::optional<note::Signer>(*std::move(signer));
}

absl::Status VerifyOrRebuild(storage::EventStore& store, const Settings& settings) {
  const bool verify = settings.verify;
  const bool rebuild = settings.rebuild;
  if (verify) {
    absl::Status files = store.VerifyFiles();
    if (!files.ok()) return Failure(absl::StrCat("file check failed: ", files.ToString()));
    std::cout << "files: every block of every data file matches its checksum" << std::endl;
  }
  if (settings.rebuild_tree) {
    // The tree holds nothing the events do not; whether the events are still
    // what was signed is for the checkpoints below (and at every start).
    if (settings.public_key.empty()) {
      return Failure(
          "--rebuild-tree needs --public-key: the rebuilt tree is checked against every "
          "checkpoint this log's key signed");
    }
    if (absl::Status rebuilt = store.RebuildTree(); !rebuilt.ok()) {
      return Failure(absl::StrCat("tree rebuild failed: ", rebuilt.ToString()));
    }
    std::cout << "Merkle tree: hashed again from the events" << std::endl;
  }
  absl::StatusOr<uint64_t> events = store.VerifyLog();
  if (!events.ok()) return Failure(absl::StrCat("log check failed: ", events.status().ToString()));
  std::cout << "log: " << *events << " events, gap-free, hash chain intact, every index entry "
            << "points at its event, Merkle tree as the events give it" << std::endl;
  if (!settings.public_key.empty()) {
    absl::StatusOr<note::VerifierKey> key = note::ReadVerifierKeyArgument(settings.public_key);
    if (!key.ok()) return Failure(absl::StrCat("--public-key: ", key.status().message()));
    absl::StatusOr<uint64_t> checkpoints = core::VerifyCheckpoints(store, *key);
    if (!checkpoints.ok()) {
      return Failure(absl::StrCat("checkpoint check failed: ", checkpoints.status().message()));
    }
    std::cout << "checkpoints: " << *checkpoints << " signed by " << key->name
              << ", every one matching the log" << std::endl;
    if (!settings.checkpoint_state.empty()) {
      absl::StatusOr<core::CheckpointState> state =
          core::CheckCheckpointState(store, *key, settings.checkpoint_state);
      if (!state.ok()) {
        return Failure(absl::StrCat("checkpoint state check failed: ", state.status().message()));
      }
      if (state->checkpoint.has_value()) {
        std::cout << "checkpoint state: the latest checkpoint signed (tree size "
                  << state->checkpoint->tree_size() << ", in " << settings.checkpoint_state
                  << ") matches the log" << std::endl;
      } else {
        std::cout << "checkpoint state: not checked: "
                  << (state->ignored.empty()
                          ? absl::StrCat("there is no ", settings.checkpoint_state)
                          : state->ignored)
                  << std::endl;
      }
    }
  }
  if (!verify && !rebuild) return absl::OkStatus();  // --rebuild-tree alone
  absl::StatusOr<std::string> before;
  if (verify) {
    before = store.ProjectionDigest();
    if (!before.ok()) return Failure(before.status().ToString());
  }
  const absl::Time rebuild_start = absl::Now();
  absl::Status rebuilt = store.RebuildProjections();
  if (!rebuilt.ok()) return Failure(absl::StrCat("rebuild failed: ", rebuilt.ToString()));
  const double rebuild_seconds = absl::ToDoubleSeconds(absl::Now() - rebuild_start);
  absl::StatusOr<std::string> after = store.ProjectionDigest();
  if (!after.ok()) return Failure(after.status().ToString());
  if (rebuild) {
    std::cout << absl::StrFormat(
                     "projections rebuilt from %d events in %.3f s (%.0f events/s), digest %s",
                     *events, rebuild_seconds, *events / std::max(rebuild_seconds, 1e-9), *after)
              << std::endl;
    return absl::OkStatus();
  }
  if (*before != *after) {
    return Failure("projections differed from a rebuild of the log; they have been rebuilt");
  }
  std::cout << "projections equal a rebuild of the log (digest " << *after << ")" << std::endl;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Authorizer>> MakeAuthorizer(const Settings& settings,
                                                           storage::EventStore& store,
                                                           Logger& logger) {
  if (settings.insecure_dev) {
    for (const std::string& listen : {settings.listen, settings.http_listen}) {
      if (!listen.empty() && !IsLoopback(listen)) {
        return Failure(absl::StrCat("--insecure-dev refuses to listen on ", listen,
                                    "; use a loopback address (127.0.0.1)"));
      }
    }
    logger.Log("warn", "INSECURE DEVELOPMENT MODE: no authentication, every caller is an admin",
               {{"listen", settings.listen}});
    return std::make_unique<DevelopmentAuthorizer>();
  }
  // A fresh store gets its first admin token, shown once.
  absl::StatusOr<bool> any = core::Queries(&store).AnyToken();
  if (!any.ok()) return Failure(any.status().ToString());
  if (!*any) {
    absl::Status created = CreateFirstAdminToken(store, settings.bootstrap_token_file, logger);
    if (!created.ok()) return created;
  }
  return std::make_unique<TokenAuthorizer>(&store);
}

absl::StatusOr<HttpGatewayOptions> HttpOptions(const Settings& settings) {
  HttpGatewayOptions options;
  options.listen = settings.http_listen;
  if (settings.tls_cert.empty()) {
    LEERLUS_RETURN_IF_ERROR(CheckPlaintextAllowed(settings, settings.http_listen));
  }
  options.tls_cert = settings.tls_cert;
  options.tls_key = settings.tls_key;
  options.tls_client_ca = settings.tls_client_ca;
  options.allowed_origins = settings.http_allowed_origins;
  options.web_root = settings.web_root;
  options.max_connections = settings.http_max_connections;
  options.request_timeout = absl::Seconds(settings.http_request_timeout_seconds);
  options.write_timeout = options.request_timeout;
  options.max_body_bytes = static_cast<size_t>(settings.max_message_mb) << 20;
  // Room for several of the largest bodies at once, never less than 64 MiB.
  options.body_budget_bytes = std::max<size_t>(4 * options.max_body_bytes, 64 << 20);
  return options;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportCredentials(
    const Settings& settings) {
  if (settings.tls_cert.empty() != settings.tls_key.empty()) {
    return Failure("--tls-cert and --tls-key go together");
  }
  if (!settings.tls_client_ca.empty() && settings.tls_cert.empty()) {
    return Failure("--tls-client-ca needs --tls-cert");
  }
  if (settings.tls_cert.empty()) {
    LEERLUS_RETURN_IF_ERROR(CheckPlaintextAllowed(settings, settings.listen));
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({ReadFile(settings.tls_key), ReadFile(settings.tls_cert)});
  if (ssl.pem_key_cert_pairs[0].private_key.empty() ||
      ssl.pem_key_cert_pairs[0].cert_chain.empty()) {
    return Failure("cannot read --tls-cert or --tls-key");
  }
  if (!settings.tls_client_ca.empty()) {
    ssl.pem_root_certs = ReadFile(settings.tls_client_ca);
    if (ssl.pem_root_certs.empty()) return Failure("cannot read --tls-client-ca");
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace leerlus::server
