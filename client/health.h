// The standard gRPC health service (grpc.health.v1.Health) that leerlusd
// serves for load balancers and probes. Debian ships no generated code for
// it, so its two tiny messages are written and read as raw bytes here, in
// one place for the CLI's `leerlus health` and the tests.
//
//   leerlus::client::ServingStatus serving;
//   grpc::Status status = leerlus::client::CheckHealth(client, &serving);
//   if (status.ok() && serving == leerlus::client::ServingStatus::kServing) ...
#ifndef LEERLUS_CLIENT_HEALTH_H_
#define LEERLUS_CLIENT_HEALTH_H_

#include <grpcpp/grpcpp.h>

#include "client/client.h"

namespace leerlus::client {

// HealthCheckResponse.ServingStatus, by its wire numbers.
enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// Asks Health/Check about the whole server (service ""), once (a probe wants
// the answer of now, not after retries), with the client's deadline and
// token. `serving` is set when the call succeeds.
grpc::Status CheckHealth(Client& api, ServingStatus* serving);

// The status in a serialized HealthCheckResponse (as Check and each message
// of Watch carry it); kUnknown for anything else.
ServingStatus ParseServingStatus(const grpc::ByteBuffer& response);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_HEALTH_H_
