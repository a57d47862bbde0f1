// What the gRPC services share: the store, the authorizer, telemetry and
// the server's limits.
#ifndef LEERLUS_SERVER_SERVICE_CONTEXT_H_
#define LEERLUS_SERVER_SERVICE_CONTEXT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/answer_budget.h"
#include "core/transparency.h"
#include "server/authorizer.h"
#include "server/stalled_streams.h"
#include "server/telemetry.h"
#include "storage/event_store.h"

namespace leerlus::server {

struct ServiceContext {
  storage::EventStore* store;
  const Authorizer* authorizer;
  // Set when the server starts draining: long-lived streams end.
  std::atomic<bool>* draining;
  // Counts, times and logs every call.
  Telemetry* telemetry;
  // Most open Subscribe streams (each holds a server thread); 0: no limit.
  int max_subscribers = 0;
  // Most rows one ImportOutcomes stream may carry (--max-import-rows).
  uint64_t max_import_rows = 1'000'000;
  // Cancels Subscribe streams whose client stopped reading.
  StalledStreams* stalled_streams = nullptr;
  // Largest answer a unary call may send (--max-message-mb); a larger one
  // is RESOURCE_EXHAUSTED with reason RESPONSE_TOO_LARGE. 0: no limit.
  size_t max_message_bytes = 0;
  // Bounds the answers being built, alone and together.
  core::AnswerMemory* answer_memory = nullptr;
  // Most open Subscribe streams of one principal; 0: no limit.
  int max_subscribers_per_principal = 0;
  // Checkpoints, receipts and proofs of the log's tree.
  core::Transparency* transparency = nullptr;
};

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_SERVICE_CONTEXT_H_
