// Ends server streams whose client stopped reading. A Subscribe write blocks
// while the client's flow-control window is full; memory stays bounded (one
// batch), but the call would hold a server thread and a subscription slot
// forever. A write blocked longer than the stall limit gets its call
// cancelled, which frees both; the client sees CANCELLED and resubscribes
// from the last position it read.
//
//   StalledStreams stalled(absl::Seconds(60));
//   auto watch = stalled.Track(context);
//   watch->Writing(); bool ok = writer->Write(message); watch->Written();
#ifndef LEERLUS_SERVER_STALLED_STREAMS_H_
#define LEERLUS_SERVER_STALLED_STREAMS_H_

#include <grpcpp/server_context.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace leerlus::server {

class StalledStreams {
 public:
  // One watched call; unregisters itself when destroyed.
  class Watch {
   public:
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // Around each blocking write.
    void Writing() { writing_since_ns_ = absl::GetCurrentTimeNanos(); }
    void Written() { writing_since_ns_ = 0; }

   private:
    friend class StalledStreams;
    Watch(StalledStreams* owner, grpc::ServerContext* context) : owner_(owner), context_(context) {}
    StalledStreams* owner_;
    grpc::ServerContext* context_;
    std::atomic<int64_t> writing_since_ns_{0};
  };

  // `limit` 0: never cancel.
  explicit StalledStreams(absl::Duration limit);
  ~StalledStreams();
  StalledStreams(const StalledStreams&) = delete;
  StalledStreams& operator=(const StalledStreams&) = delete;

  std::unique_ptr<Watch> Track(grpc::ServerContext* context);

  // Calls cancelled for stalling so far.
  uint64_t cancelled() const { return cancelled_.load(); }

 private:
  void Loop();

  const absl::Duration limit_;
  absl::Mutex mutex_;
  std::set<Watch*> watches_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::atomic<uint64_t> cancelled_{0};
  std::thread thread_;
};

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_STALLED_STREAMS_H_
