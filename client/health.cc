#include "client/health.h"

#include <grpcpp/generic/generic_stub.h>

#include <future>
#include <string>
#include <vector>

namespace leerlus::client {

grpc::Status CheckHealth(Client& api, ServingStatus* serving) {
  grpc::GenericStub generic(api.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + api.options().timeout);
  api.Authorize(context);
  // HealthCheckRequest{service: ""} serializes to no bytes at all.
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  if (status.ok()) *serving = ParseServingStatus(response);
  return status;
}

ServingStatus ParseServingStatus(const grpc::ByteBuffer& response) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (response.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  // HealthCheckResponse{status} is field 1 as a varint: 0x08, then the value.
  if (bytes.size() == 2 && bytes[0] == '\x08' && bytes[1] >= 1 && bytes[1] <= 3) {
    return static_cast<ServingStatus>(bytes[1]);
  }
  return ServingStatus::kUnknown;
}

}  // namespace leerlus::client
