// The one function that turns an absl::Status into a grpc::Status, with its
// google.rpc details (BadRequest, ErrorInfo, PreconditionFailure, RetryInfo)
// carried in the standard `grpc-status-details-bin` trailer.
#ifndef LEERLUS_SERVER_STATUS_MAPPING_H_
#define LEERLUS_SERVER_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace leerlus::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_STATUS_MAPPING_H_
