// Early-return helpers for absl::Status and absl::StatusOr.
//
//   absl::StatusOr<Foo> MakeFoo();
//   absl::Status Use() {
//     LEERLUS_RETURN_IF_ERROR(Check());
//     LEERLUS_ASSIGN_OR_RETURN(Foo foo, MakeFoo());
//     ...
//   }
//
// Abseil 20220623 (Debian 12) ships neither macro.
#ifndef LEERLUS_COMMON_STATUS_MACROS_H_
#define LEERLUS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LEERLUS_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    const absl::Status leerlus_status_ = (expr);       \
    if (!leerlus_status_.ok()) return leerlus_status_; \
  } while (false)

#define LEERLUS_STATUS_CONCAT_INNER(a, b) a##b
#define LEERLUS_STATUS_CONCAT(a, b) LEERLUS_STATUS_CONCAT_INNER(a, b)

// Evaluates `rexpr` (a StatusOr) once; returns its status on error, else
// moves its value into `lhs` (which may be a declaration).
#define LEERLUS_ASSIGN_OR_RETURN(lhs, rexpr) \
  LEERLUS_ASSIGN_OR_RETURN_IMPL(LEERLUS_STATUS_CONCAT(leerlus_statusor_, __LINE__), lhs, rexpr)

#define LEERLUS_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // LEERLUS_COMMON_STATUS_MACROS_H_
