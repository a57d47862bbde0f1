#include "server/stalled_streams.h"

#include <algorithm>

namespace leerlus::server {

StalledStreams::Watch::~Watch() {
  absl::MutexLock lock(&owner_->mutex_);
  owner_->watches_.erase(this);
}

StalledStreams::StalledStreams(absl::Duration limit) : limit_(limit) {
  if (limit_ > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
}

StalledStreams::~StalledStreams() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<StalledStreams::Watch> StalledStreams::Track(grpc::ServerContext* context) {
  std::unique_ptr<Watch> watch(new Watch(this, context));
  absl::MutexLock lock(&mutex_);
  watches_.insert(watch.get());
  return watch;
}

void StalledStreams::Loop() {
  const absl::Duration period = std::min(limit_ / 4, absl::Seconds(1));
  absl::MutexLock lock(&mutex_);
  while (!stopping_) {
    mutex_.AwaitWithTimeout(absl::Condition(&stopping_), period);
    const int64_t now = absl::GetCurrentTimeNanos();
    for (Watch* watch : watches_) {
      const int64_t since = watch->writing_since_ns_.load();
      if (since != 0 && absl::Nanoseconds(now - since) > limit_) {
        // Held under the mutex: the watch (and its call) cannot end meanwhile.
        watch->context_->TryCancel();
        watch->writing_since_ns_ = 0;
        ++cancelled_;
      }
    }
  }
}

}  // namespace leerlus::server
