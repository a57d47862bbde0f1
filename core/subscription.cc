#include "core/subscription.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "common/status_macros.h"
#include "core/access.h"
#include "core/model/events.h"
#include "core/personal_data.h"
#include "core/queries.h"

namespace leerlus::core {

Subscription::Subscription(storage::EventStore* store, Caller caller, v1::SubscribeRequest request,
                           std::string stream)
    : store_(store),
      caller_(std::move(caller)),
      request_(std::move(request)),
      stream_(std::move(stream)),
      next_(std::max<uint64_t>(request_.from_position(), 1)) {}

absl::StatusOr<Subscription> Subscription::Open(storage::EventStore* store, const Caller& caller,
                                                const v1::SubscribeRequest& request) {
  LEERLUS_ASSIGN_OR_RETURN(std::string stream, SubscriptionStream(request));
  // Opened only on an experiment the caller may read now: the answer a
  // GetExperiment would get.
  LEERLUS_RETURN_IF_ERROR(CheckSubscription(caller, request, *store->OpenReadView()));
  return Subscription(store, caller, request, std::move(stream));
}

absl::StatusOr<SubscriptionBatch> Subscription::Next() {
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_RETURN_IF_ERROR(CheckSubscription(caller_, request_, *view));
  LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                           model::ReadEvents(*view, next_, kBatchEvents, stream_, kBatchBytes));
  SubscriptionBatch batch;
  batch.head_position = view->head_position();
  size_t bytes = 0;
  for (v1::Event& event : events) {
    bytes += event.ByteSizeLong();
    // The next batch starts after the last event read, whether or not the
    // caller may see it.
    next_ = event.position() + 1;
    LEERLUS_ASSIGN_OR_RETURN(bool visible, MayReadEvent(caller_, event, *view));
    if (!visible) continue;
    if (!request_.as_stored()) LEERLUS_RETURN_IF_ERROR(RevealPersonalTexts(*store_, event));
    batch.events.push_back(std::move(event));
  }
  batch.caught_up = events.size() < kBatchEvents && bytes < kBatchBytes;
  if (batch.caught_up) next_ = std::max(next_, batch.head_position + 1);
  return batch;
}

void Subscription::WaitForMore(absl::Time deadline) const {
  store_->WaitForHeadAbove(next_ - 1, deadline);
}

}  // namespace leerlus::core
