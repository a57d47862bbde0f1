// Failure injection for tests: the write path reports the points it passes
// to a Failpoints the store was opened with (none in production), and a
// test's implementation decides what happens there.
#ifndef LEERLUS_STORAGE_FAILPOINTS_H_
#define LEERLUS_STORAGE_FAILPOINTS_H_

#include <atomic>
#include <csignal>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace leerlus::storage {

class Failpoints {
 public:
  virtual ~Failpoints() = default;
  // Points: "before-write" (a group decided, nothing written) and
  // "after-write" (durable, nobody answered yet). Called on the committer.
  virtual void Reached(absl::string_view point) = 0;
};

// Dies as by kill -9 (no cleanup at all, as a power cut) the `hit`-th time
// `point` is reached: what `leerlusd --crash-at` arms for crash tests.
class KillAtFailpoint : public Failpoints {
 public:
  KillAtFailpoint(std::string point, uint64_t hit) : point_(std::move(point)), hit_(hit) {}
  void Reached(absl::string_view point) override {
    if (point == point_ && ++hits_ == hit_) raise(SIGKILL);
  }

 private:
  std::string point_;
  uint64_t hit_;
  std::atomic<uint64_t> hits_{0};
};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_FAILPOINTS_H_
