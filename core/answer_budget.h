// Bounds the memory of answers while they are built, so that no reader can
// exhaust the server by asking for a huge answer, or for many at once.
//
// Every answer may grow to the message limit. The first kFreeBytes of it
// are free; past them it reserves its bytes from one server-wide pool, as
// large as one answer at the message limit, a chunk at a time. Its first
// chunk may wait up to its deadline (at most kReserveWait) for room; a
// later one that finds none ends the answer with SERVER_BUSY at once (a
// waiter holding a reservation could wait for one that waits for it, and
// giving up frees the room for the others). Inside a server call
// (see CallScope) the reservation is held until the call is done and the
// answer sent: the answer's memory lives that long. So the memory of all
// answers together stays near one largest answer, whatever the number of
// callers. A caller that asks for large answers and never reads them
// pins at most one: while a principal has answers waiting to be read that
// hold more than a quarter of the pool, its next large answer is refused
// (SERVER_BUSY), and an answer waiting longer than kHoldAfterAnswer stops
// counting against the pool (it still counts against its principal).
//
//   AnswerBudget budget(memory, "GetExperiment", deadline);
//   for (...) LEERLUS_RETURN_IF_ERROR(budget.Add(outcome.ByteSizeLong()));
#ifndef LEERLUS_CORE_ANSWER_BUDGET_H_
#define LEERLUS_CORE_ANSWER_BUDGET_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace leerlus::core {

// The server-wide pool, shared by every answer.
class AnswerMemory {
 public:
  static constexpr size_t kFreeBytes = 64 << 10;
  static constexpr size_t kChunkBytes = 256 << 10;
  static constexpr absl::Duration kReserveWait = absl::Seconds(10);
  static constexpr absl::Duration kHoldAfterAnswer = absl::Seconds(30);

  // `max_answer_bytes`: the message limit, and the pool's size (0: no
  // limit, no pool).
  explicit AnswerMemory(size_t max_answer_bytes)
      : max_answer_bytes_(max_answer_bytes), available_bytes_(max_answer_bytes) {}

  size_t max_answer_bytes() const { return max_answer_bytes_; }

  // Marks the call the current thread works on while it lives: what its
  // answers reserve is held until CallDone(call), not given back when their
  // budget goes. The server opens one per call whose end it sees.
  class CallScope {
   public:
    // `principal`: who the call is for.
    CallScope(AnswerMemory* memory, const void* call, std::string principal);
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

   private:
    std::string principal_;
  };
  // The call's answer is built and about to be sent. SERVER_BUSY (and its
  // reservation given back) if its principal's other answers still waiting
  // to be read hold more than a quarter of the pool.
  absl::Status Answered(const void* call);
  // The call is over: what it reserved comes free.
  void CallDone(const void* call);

 private:
  friend class AnswerBudget;
  // Reserves `bytes`, waiting until `deadline` at most; held for the
  // current thread's call if it has one (then `*kept_for_call`).
  bool Reserve(size_t bytes, absl::Time deadline, bool* kept_for_call);
  void Return(size_t bytes);

  struct CallReservation {
    std::string principal;
    size_t bytes = 0;
    // When its answer was built (InfinitePast: not yet).
    absl::Time answered = absl::InfinitePast();
    // Whether `bytes` still count against the pool.
    bool counted = true;
  };
  // Stops counting the answers that have waited past kHoldAfterAnswer.
  void ExpireWaitingAnswers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const size_t max_answer_bytes_;
  absl::Mutex mutex_;
  size_t available_bytes_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<const void*, CallReservation> reserved_by_calls_ ABSL_GUARDED_BY(mutex_);
};

// One answer's share; gives back what it reserved when it goes (or, in a
// call, when the call is done).
class AnswerBudget {
 public:
  // `memory` may be null: no bound (tools and tests of the core alone).
  // `rpc` names the way out in the error (see TooLargeAnswer).
  AnswerBudget(AnswerMemory* memory, absl::string_view rpc, absl::Time deadline)
      : memory_(memory), rpc_(rpc), deadline_(deadline) {}
  ~AnswerBudget();
  AnswerBudget(const AnswerBudget&) = delete;
  AnswerBudget& operator=(const AnswerBudget&) = delete;

  // Counts `bytes` more of the answer (its encoded size). RESOURCE_EXHAUSTED
  // with reason RESPONSE_TOO_LARGE once the answer passes the message
  // limit, or SERVER_BUSY (with RetryInfo) when the pool had no room for it
  // in time.
  absl::Status Add(size_t bytes);

 private:
  AnswerMemory* memory_;
  absl::string_view rpc_;
  absl::Time deadline_;
  size_t bytes_ = 0;
  // Reserved from the pool; of it, what this budget gives back (the rest
  // is its call's).
  size_t reserved_ = 0;
  size_t returned_by_budget_ = 0;
};

// RESOURCE_EXHAUSTED (RESPONSE_TOO_LARGE) for an answer over `limit`,
// naming the way out for `rpc`.
absl::Status TooLargeAnswer(absl::string_view rpc, size_t limit);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_ANSWER_BUDGET_H_
