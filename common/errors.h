// Building absl::Status errors that carry google.rpc details.
//
// Details travel as absl::Status payloads keyed by their type URL; the
// server's one status-mapping function turns them into a google.rpc.Status
// on the wire, so every layer can say which field was wrong without
// knowing gRPC.
//
//   return FieldError("experiment.title", "must not be empty");
//   return WithErrorInfo(absl::AbortedError("..."), "VERSION_MISMATCH",
//                        {{"current_version", "7"}});
#ifndef LEERLUS_COMMON_ERRORS_H_
#define LEERLUS_COMMON_ERRORS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"

namespace leerlus {

// Type URLs under which details are attached as payloads.
inline constexpr absl::string_view kBadRequestUrl = "type.googleapis.com/google.rpc.BadRequest";
inline constexpr absl::string_view kErrorInfoUrl = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr absl::string_view kPreconditionFailureUrl =
    "type.googleapis.com/google.rpc.PreconditionFailure";
inline constexpr absl::string_view kRetryInfoUrl = "type.googleapis.com/google.rpc.RetryInfo";

// The ErrorInfo domain of every leerlus error.
inline constexpr absl::string_view kErrorDomain = "leerlus.v1";

// Collects field violations; one INVALID_ARGUMENT names them all.
class FieldViolations {
 public:
  void Add(std::string field, std::string description);
  bool empty() const { return violations_.empty(); }
  // OK if there were no violations, else INVALID_ARGUMENT whose message
  // lists them and whose BadRequest detail holds them.
  absl::Status ToStatus() const;

 private:
  std::vector<std::pair<std::string, std::string>> violations_;
};

// INVALID_ARGUMENT for one field.
absl::Status FieldError(std::string field, std::string description);

// Attaches an ErrorInfo with `reason` and metadata.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           std::vector<std::pair<std::string, std::string>> metadata = {});

// FAILED_PRECONDITION with a PreconditionFailure violation.
absl::Status PreconditionError(absl::string_view type, absl::string_view subject,
                               std::string message);

// The ErrorInfo reason attached to `status`, empty if none.
std::string ErrorReason(const absl::Status& status);

}  // namespace leerlus

#endif  // LEERLUS_COMMON_ERRORS_H_
