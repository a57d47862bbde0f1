#include "core/answer_budget.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/errors.h"

namespace leerlus::core {
namespace {

// The call the current thread works on, whom it is for, and the memory
// that marked it.
thread_local const void* current_call = nullptr;
thread_local const std::string* current_principal = nullptr;
thread_local const AnswerMemory* current_memory = nullptr;

}  // namespace

AnswerMemory::CallScope::CallScope(AnswerMemory* memory, const void* call, std::string principal)
    : principal_(std::move(principal)) {
  current_call = call;
  current_principal = &principal_;
  current_memory = memory;
}

AnswerMemory::CallScope::~CallScope() {
  current_call = nullptr;
  current_principal = nullptr;
  current_memory = nullptr;
}

bool AnswerMemory::Reserve(size_t bytes, absl::Time deadline, bool* kept_for_call) {
  absl::MutexLock lock(&mutex_);
  ExpireWaitingAnswers();
  auto room = [this, bytes]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return available_bytes_ >= bytes; };
  if (!mutex_.AwaitWithDeadline(absl::Condition(&room), deadline)) return false;
  available_bytes_ -= bytes;
  *kept_for_call = current_memory == this && current_call != nullptr;
  if (*kept_for_call) {
    CallReservation& reservation = reserved_by_calls_[current_call];
    reservation.principal = *current_principal;
    reservation.bytes += bytes;
  }
  return true;
}

void AnswerMemory::Return(size_t bytes) {
  absl::MutexLock lock(&mutex_);
  available_bytes_ += bytes;
}

void AnswerMemory::ExpireWaitingAnswers() {
  const absl::Time now = absl::Now();
  for (auto& [call, reservation] : reserved_by_calls_) {
    if (reservation.counted && reservation.answered != absl::InfinitePast() &&
        now - reservation.answered > kHoldAfterAnswer) {
      available_bytes_ += reservation.bytes;
      reservation.counted = false;
    }
  }
}

absl::Status AnswerMemory::Answered(const void* call) {
  absl::MutexLock lock(&mutex_);
  ExpireWaitingAnswers();
  auto it = reserved_by_calls_.find(call);
  if (it == reserved_by_calls_.end()) return absl::OkStatus();  // A small answer.
  size_t waiting = 0;
  for (const auto& [other, reservation] : reserved_by_calls_) {
    if (other != call && reservation.principal == it->second.principal &&
        reservation.answered != absl::InfinitePast()) {
      waiting += reservation.bytes;
    }
  }
  if (waiting > max_answer_bytes_ / 4) {
    if (it->second.counted) available_bytes_ += it->second.bytes;
    reserved_by_calls_.erase(it);
    // RESOURCE_EXHAUSTED carries RetryInfo on the wire (ToGrpcStatus).
    return WithErrorInfo(absl::ResourceExhaustedError(
                             "earlier large answers of yours are still waiting to be read; read "
                             "them, or retry later"),
                         "SERVER_BUSY");
  }
  it->second.answered = absl::Now();
  return absl::OkStatus();
}

void AnswerMemory::CallDone(const void* call) {
  absl::MutexLock lock(&mutex_);
  auto it = reserved_by_calls_.find(call);
  if (it == reserved_by_calls_.end()) return;
  if (it->second.counted) available_bytes_ += it->second.bytes;
  reserved_by_calls_.erase(it);
}

AnswerBudget::~AnswerBudget() {
  if (returned_by_budget_ > 0) memory_->Return(returned_by_budget_);
}

absl::Status AnswerBudget::Add(size_t bytes) {
  bytes_ += bytes;
  if (memory_ == nullptr || memory_->max_answer_bytes() == 0) return absl::OkStatus();
  if (bytes_ > memory_->max_answer_bytes()) {
    return TooLargeAnswer(rpc_, memory_->max_answer_bytes());
  }
  if (bytes_ <= AnswerMemory::kFreeBytes + reserved_) return absl::OkStatus();
  // Reserve whole chunks, never more than the pool holds.
  const size_t needed = bytes_ - AnswerMemory::kFreeBytes - reserved_;
  const size_t chunk = std::min(memory_->max_answer_bytes() - reserved_,
                                (needed + AnswerMemory::kChunkBytes - 1) /
                                    AnswerMemory::kChunkBytes * AnswerMemory::kChunkBytes);
  // Only an answer that holds nothing yet waits for room: one that waited
  // while holding some could wait for another that waits for it.
  const absl::Time until =
      reserved_ > 0 ? absl::Now() : std::min(deadline_, absl::Now() + AnswerMemory::kReserveWait);
  bool kept_for_call = false;
  if (!memory_->Reserve(chunk, until, &kept_for_call)) {
    // RESOURCE_EXHAUSTED carries RetryInfo on the wire (ToGrpcStatus).
    return WithErrorInfo(absl::ResourceExhaustedError(
                             absl::StrCat("the server is building other large answers; retry ",
                                          rpc_, " in a few seconds, or ask for less")),
                         "SERVER_BUSY", {{"rpc", std::string(rpc_)}});
  }
  reserved_ += chunk;
  if (!kept_for_call) returned_by_budget_ += chunk;
  return absl::OkStatus();
}

absl::Status TooLargeAnswer(absl::string_view rpc, size_t limit) {
  const absl::string_view remedy =
      rpc == "GetExperiment"
          ? "ask for view BASIC and page the outcomes with ListOutcomes (and the history, if "
            "asked for, with ReadEvents)"
          : "ask for less: a smaller page or a narrower question";
  return WithErrorInfo(absl::ResourceExhaustedError(absl::StrFormat(
                           "the answer is more than the server's %.1f MiB message limit "
                           "(--max-message-mb); %s",
                           limit / 1048576.0, remedy)),
                       "RESPONSE_TOO_LARGE", {{"limit_bytes", absl::StrCat(limit)}});
}

}  // namespace leerlus::core
