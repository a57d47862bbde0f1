// A Subscribe stream's reads (docs/API.md, item 15). It opens only on what
// the caller may read now, and every batch passes the same rule again on
// the view it is read from, so a revoked or expired token, or a partner
// taken off the experiment, gets nothing more. Its events come with their
// personal texts revealed, as every answer of the core does.
//
//   LEERLUS_ASSIGN_OR_RETURN(Subscription subscription,
//                            Subscription::Open(store, caller, request));
//   while (...) {
//     LEERLUS_ASSIGN_OR_RETURN(SubscriptionBatch batch, subscription.Next());
//     ... send batch.events ...
//     if (batch.caught_up) subscription.WaitForMore(absl::Now() + absl::Seconds(1));
//   }
#ifndef LEERLUS_CORE_SUBSCRIPTION_H_
#define LEERLUS_CORE_SUBSCRIPTION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/caller.h"
#include "leerlus/v1/event_log_service.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

struct SubscriptionBatch {
  // The events the caller may see, in log order, revealed.
  std::vector<v1::Event> events;
  // The head of the view the batch was read from.
  uint64_t head_position = 0;
  // The batch reached that head: there is nothing more to read for now.
  bool caught_up = false;
};

class Subscription {
 public:
  // A batch is bounded in events and in bytes of the log read: a slow
  // subscriber holds one batch, never more than about kBatchBytes.
  static constexpr size_t kBatchEvents = 256;
  static constexpr size_t kBatchBytes = 1 << 20;

  // INVALID_ARGUMENT for a bad request; PERMISSION_DENIED or NOT_FOUND
  // unless `caller` may follow what it asks for now (CheckSubscription).
  static absl::StatusOr<Subscription> Open(storage::EventStore* store, const Caller& caller,
                                           const v1::SubscribeRequest& request);

  // The next batch, from where the last one ended.
  absl::StatusOr<SubscriptionBatch> Next();
  // Waits until the log holds more than the batches read so far, or until
  // `deadline`.
  void WaitForMore(absl::Time deadline) const;
  // Where the next batch starts.
  uint64_t next_position() const { return next_; }

 private:
  Subscription(storage::EventStore* store, Caller caller, v1::SubscribeRequest request,
               std::string stream);

  storage::EventStore* store_;
  Caller caller_;
  v1::SubscribeRequest request_;
  // The stream followed ("" for the whole log).
  std::string stream_;
  uint64_t next_;
};

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_SUBSCRIPTION_H_
