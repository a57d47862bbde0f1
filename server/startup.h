// The steps of leerlusd's start before it serves, each returning an error
// whose message is what the operator reads: restoring a backup, opening the
// store, the runs that verify or rebuild and exit, the authorizer (with the
// first admin token of a fresh store) and the transport's credentials.
#ifndef LEERLUS_SERVER_STARTUP_H_
#define LEERLUS_SERVER_STARTUP_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/signed_note.h"
#include "server/authorizer.h"
#include "server/http_gateway.h"
#include "server/settings.h"
#include "server/telemetry.h"
#include "storage/event_store.h"
#include "storage/failpoints.h"

namespace leerlus::server {

// Copies the backup in settings.restore_from into settings.data_dir (new or
// empty) and says what it restored.
absl::Status RestoreBackup(const Settings& settings);

// The data directory made owner-only, and the store opened on it; with
// settings.crash_at, `crash_point` is armed.
absl::StatusOr<std::unique_ptr<storage::EventStore>> OpenStore(
    const Settings& settings, std::unique_ptr<storage::KillAtFailpoint>& crash_point);

// --verify, --rebuild-projections and --rebuild-tree: checks the files,
// the log (its Merkle tree included, first rebuilt with --rebuild-tree),
// with settings.public_key every checkpoint the server signed and the
// checkpoint state file, and the projections against a rebuild; or
// rebuilds them.
// Says what it found.
absl::Status VerifyOrRebuild(storage::EventStore& store, const Settings& settings);

// `leerlusd keygen`: creates the key file and prints the verifier key.
absl::Status GenerateLogKey(const Settings& settings);

// The log key of --signing-key (none without it); refused inside the data
// directory, where whoever holds the data could sign checkpoints of a
// rewritten history. So is --checkpoint-state, which a restored copy of the
// data would take back with it; without a key it is refused.
absl::StatusOr<std::optional<note::Signer>> LoadSigningKey(const Settings& settings);

// Who the callers are: no one checked (--insecure-dev, loopback only), or
// tokens; a store without any token gets its first admin token.
absl::StatusOr<std::unique_ptr<Authorizer>> MakeAuthorizer(const Settings& settings,
                                                           storage::EventStore& store,
                                                           Logger& logger);

// TLS when given a certificate; plaintext only on loopback unless the
// operator says otherwise.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportCredentials(
    const Settings& settings);

// The HTTP gateway's options from the settings: the same certificates,
// and the same refusal of plaintext off loopback, as the gRPC listener.
absl::StatusOr<HttpGatewayOptions> HttpOptions(const Settings& settings);

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_STARTUP_H_
