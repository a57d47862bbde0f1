// leerlus-bench-echo: a gRPC server that answers at once, with the same
// server threading and settings as leerlusd (unary calls on the callback
// API, as leerlusd's CreateOutcome; the client stream on the synchronous
// API, as its ImportOutcomes), so that leerlus's throughput can be read as
// a fraction of what this machine's gRPC can do at all.
//
//   leerlus-bench-echo --port-file FILE
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "leerlus/bench/echo.grpc.pb.h"

namespace {

class Echo final : public leerlus::bench::EchoService::WithCallbackMethod_Unary<
                       leerlus::bench::EchoService::Service> {
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const leerlus::bench::EchoMessage* request,
                                  leerlus::bench::EchoMessage* response) override {
    *response = *request;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::Status Stream(grpc::ServerContext*, grpc::ServerReader<leerlus::bench::EchoMessage>* reader,
                      leerlus::bench::EchoCount* response) override {
    leerlus::bench::EchoMessage message;
    uint64_t count = 0;
    while (reader->Read(&message)) ++count;
    response->set_count(count);
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--port-file") {
    std::cerr << "usage: leerlus-bench-echo --port-file FILE\n";
    return 2;
  }
  // As leerlusd does (server/main.cc): Debian's Abseil leaves the mutex
  // deadlock detector on, and gRPC's locks are Abseil's.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Echo service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The same thread settings as leerlusd (server/main.cc).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 128);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  std::ofstream(argv[2]) << port << "\n";
  server->Wait();
  return 0;
}
