#include "bench/workloads.h"

#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"

namespace leerlus::bench {
namespace {

// An outcome of a two-group RCT on loneliness, its effect drawn from
// `random`; its request id unique to this process, thread and sequence.
v1::CreateOutcomeRequest OutcomeRequest(const std::string& experiment, std::mt19937& random,
                                        uint64_t sequence, int thread) {
  v1::CreateOutcomeRequest request;
  request.set_experiment_id(experiment);
  request.set_request_id(absl::StrFormat("bench-%d-%d-%d", getpid(), thread, sequence));
  v1::Outcome* o = request.mutable_outcome();
  o->set_indicator_id("loneliness");
  o->set_measured_on("2019-06-01");
  o->set_design(v1::STUDY_DESIGN_RCT);
  std::normal_distribution<double> effect(-0.3, 0.4);
  auto* s = o->mutable_two_group_continuous();
  s->set_treatment_mean(4.5 + effect(random));
  s->set_treatment_sd(1.2);
  s->set_treatment_n(40 + static_cast<int>(random() % 60));
  s->set_control_mean(4.8);
  s->set_control_sd(1.3);
  s->set_control_n(40 + static_cast<int>(random() % 60));
  return request;
}

// One durable append of an outcome to the append experiments, over gRPC.
bool AppendOneOutcome(client::Client& api, std::mt19937& random, std::atomic<uint64_t>& sequence,
                      int thread) {
  const uint64_t number = ++sequence;
  v1::CreateOutcomeRequest request =
      OutcomeRequest(absl::StrCat("x", number % kAppendExperiments), random, number, thread);
  v1::CreateOutcomeResponse response;
  return api
      .Call(&v1::ExperimentService::Stub::CreateOutcome, api.experiments(), request, &response)
      .ok();
}

void CreateIndicator(client::Client& api) {
  v1::CreateIndicatorRequest indicator;
  indicator.mutable_indicator()->set_id("loneliness");
  indicator.mutable_indicator()->set_display_name("Loneliness");
  indicator.mutable_indicator()->set_better_direction(v1::BETTER_DIRECTION_LOWER);
  indicator.mutable_indicator()->set_domain(v1::RESOURCE_DOMAIN_SOCIAL);
  indicator.set_request_id("indicator");
  v1::CreateIndicatorResponse created_indicator;
  api.Call(&v1::CatalogService::Stub::CreateIndicator, api.catalog(), indicator,
           &created_indicator);
}

void CreateWorkMethods(client::Client& api, int methods) {
  for (int m = 0; m < methods; ++m) {
    v1::CreateWorkMethodRequest method;
    method.mutable_work_method()->set_id(absl::StrCat("m", m));
    method.mutable_work_method()->set_display_name(absl::StrCat("Method ", m));
    method.set_request_id(absl::StrCat("method-", m));
    v1::CreateWorkMethodResponse created;
    api.Call(&v1::CatalogService::Stub::CreateWorkMethod, api.catalog(), method, &created);
  }
}

// Experiment x`e` of work method m`e % methods`, created and started.
void CreateRunningExperiment(client::Client& api, int e, int methods) {
  v1::CreateExperimentRequest create;
  v1::Experiment* x = create.mutable_experiment();
  x->set_id(absl::StrCat("x", e));
  x->set_kind(v1::EXPERIMENT_KIND_PROJECT);
  x->set_title(absl::StrCat("Experiment ", e));
  x->set_work_method_id(absl::StrCat("m", e % methods));
  x->set_line(v1::LINE_AREA_BASED);
  x->set_team_id("bench");
  (*x->mutable_context())["urbanity"].set_number_value(e % 6);
  (*x->mutable_context())["region"].set_text_value(absl::StrCat("region-", e % 6));
  create.set_request_id(absl::StrCat("create-", e));
  v1::CreateExperimentResponse created;
  api.Call(&v1::ExperimentService::Stub::CreateExperiment, api.experiments(), create, &created);
  v1::StartExperimentRequest start;
  start.set_id(x->id());
  start.set_request_id(absl::StrCat("start-", e));
  v1::StartExperimentResponse started;
  api.Call(&v1::ExperimentService::Stub::StartExperiment, api.experiments(), start, &started);
}

// Milliseconds of one call; exits the benchmark if it fails.
template <typename Method, typename Stub, typename Request, typename Response>
double TimedCall(client::Client& api, Method method, Stub* stub, const Request& request,
                 Response* response) {
  const Clock::time_point start = Clock::now();
  if (!api.Call(method, stub, request, response).ok()) std::exit(1);
  return Seconds(Clock::now() - start) * 1000;
}

}  // namespace

client::ClientOptions NoRetries() {
  client::ClientOptions once;
  once.max_attempts = 1;
  return once;
}

Process StartServer(const std::string& leerlusd, const std::string& data_dir, bool http) {
  std::vector<std::string> argv = {
      leerlusd,      "--data-dir",       data_dir,         "--listen",    "127.0.0.1:0",
      "--port-file", data_dir + ".port", "--insecure-dev", "--log-calls", "false"};
  if (http) {
    argv.insert(argv.end(),
                {"--http-listen", "127.0.0.1:0", "--http-port-file", data_dir + ".http-port"});
  }
  return Process(argv, data_dir + ".port");
}

int HttpPortOf(const std::string& data_dir) {
  // Written before the gRPC port file the Process waited for.
  std::ifstream file(data_dir + ".http-port");
  int port = 0;
  if (!(file >> port)) {
    std::fprintf(stderr, "no HTTP port in %s.http-port\n", data_dir.c_str());
    std::exit(1);
  }
  return port;
}

Load CallOverTransport(const std::string& address, int http_port, GatewayCall call, int concurrency,
                       std::chrono::milliseconds span, std::atomic<uint64_t>& sequence) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  namespace net = boost::asio;
  return RunClosedLoop(concurrency, span, [&](int thread) -> std::function<bool()> {
    auto random = std::make_shared<std::mt19937>(thread);
    auto next_experiment = [&sequence] {
      return absl::StrCat("x", ++sequence % kAppendExperiments);
    };
    if (http_port == 0) {
      auto api = std::make_shared<client::Client>(address, NoRetries());
      return [&, api, random, thread, next_experiment]() {
        if (call == GatewayCall::kGetExperiment) {
          v1::GetExperimentRequest request;
          request.set_id(next_experiment());
          v1::GetExperimentResponse response;
          return api
              ->Call(&v1::ExperimentService::Stub::GetExperiment, api->experiments(), request,
                     &response)
              .ok();
        }
        return AppendOneOutcome(*api, *random, sequence, thread);
      };
    }
    // One keep-alive connection per caller, as a partner system's HTTP
    // client pool would hold; the JSON is built per call, as it would be.
    struct Connection {
      net::io_context context;
      beast::tcp_stream stream{context};
      beast::flat_buffer buffer;
    };
    auto connection = std::make_shared<Connection>();
    connection->stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                                      static_cast<uint16_t>(http_port)));
    return [&, connection, random, thread, next_experiment]() {
      std::string path;
      std::string body;
      if (call == GatewayCall::kGetExperiment) {
        path = "/leerlus.v1.ExperimentService/GetExperiment";
        body = absl::StrCat(R"({"id":")", next_experiment(), R"("})");
      } else {
        path = "/leerlus.v1.ExperimentService/CreateOutcome";
        const uint64_t number = ++sequence;
        (void)google::protobuf::util::MessageToJsonString(
            OutcomeRequest(absl::StrCat("x", number % kAppendExperiments), *random, number, thread),
            &body);
      }
      http::request<http::string_body> request{http::verb::post, path, 11};
      request.set(http::field::host, absl::StrCat("127.0.0.1:", http_port));
      request.set(http::field::content_type, "application/json");
      request.body() = std::move(body);
      request.prepare_payload();
      beast::error_code error;
      http::write(connection->stream, request, error);
      if (error) return false;
      http::response<http::string_body> response;
      http::read(connection->stream, connection->buffer, response, error);
      return !error && response.result() == http::status::ok;
    };
  });
}

void CreateCatalogue(client::Client& api, int methods, int experiments) {
  CreateIndicator(api);
  CreateWorkMethods(api, methods);
  // The experiments from 16 threads: a large store's catalogue takes a
  // while one at a time.
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 16; ++t) {
    workers.emplace_back([&] {
      for (int e = next++; e < experiments; e = next++) CreateRunningExperiment(api, e, methods);
    });
  }
  for (std::thread& worker : workers) worker.join();
}

Load AppendOutcomes(const std::string& address, int concurrency, std::chrono::milliseconds span,
                    std::atomic<uint64_t>& sequence) {
  return RunClosedLoop(concurrency, span, [&](int thread) {
    auto api = std::make_shared<client::Client>(address, NoRetries());
    auto random = std::make_shared<std::mt19937>(thread);
    return [&, api, random, thread]() { return AppendOneOutcome(*api, *random, sequence, thread); };
  });
}

double ImportOutcomes(client::Client& api, int experiments, uint64_t outcomes, int rep,
                      std::atomic<uint64_t>& sequence) {
  grpc::ClientContext context;
  v1::ImportOutcomesResponse imported;
  auto stream = api.experiments()->ImportOutcomes(&context, &imported);
  std::mt19937 random(rep);
  const Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < outcomes; ++i) {
    v1::ImportOutcomesRequest row;
    *row.mutable_row() = OutcomeRequest(absl::StrCat("x", i % experiments), random, ++sequence, -1);
    stream->Write(row);
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok() || imported.written() != outcomes) {
    std::fprintf(stderr, "import failed: %s (%llu written)\n", status.error_message().c_str(),
                 static_cast<unsigned long long>(imported.written()));
    std::exit(1);
  }
  return Seconds(Clock::now() - start);
}

QuestionTimes AskWhatWorks(client::Client& api, int calls) {
  QuestionTimes times;
  for (int i = 0; i < calls; ++i) {
    v1::WhatWorksRequest request;
    request.set_indicator_id("loneliness");
    request.set_model(v1::POOLING_MODEL_REML);
    v1::WhatWorksResponse response;
    times.what_works_ms.push_back(
        TimedCall(api, &v1::InsightService::Stub::WhatWorks, api.insights(), request, &response));
    v1::CompareConditionsRequest compare;
    compare.set_indicator_id("loneliness");
    compare.set_work_method_id("m0");
    compare.set_condition("context.region");
    v1::CompareConditionsResponse compared;
    times.subgroups_ms.push_back(TimedCall(api, &v1::InsightService::Stub::CompareConditions,
                                           api.insights(), compare, &compared));
  }
  return times;
}

AsOfTimes AskWhatWorksAsOf(client::Client& api, uint64_t position) {
  v1::WhatWorksRequest request;
  request.set_indicator_id("loneliness");
  request.set_model(v1::POOLING_MODEL_REML);
  request.set_as_of_position(position);
  auto ask = [&] {
    v1::WhatWorksResponse response;
    const Clock::time_point start = Clock::now();
    if (!api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), request, &response).ok() ||
        response.read_position() != request.as_of_position()) {
      std::fprintf(stderr, "what-works as of %llu failed\n",
                   static_cast<unsigned long long>(request.as_of_position()));
      std::exit(1);
    }
    return Seconds(Clock::now() - start) * 1000;
  };
  AsOfTimes times;
  times.replayed_ms = ask();
  times.kept_ms = ask();
  return times;
}

ProofTimes AskProofs(client::Client& api, uint64_t head, int calls) {
  std::mt19937_64 random(head);
  std::uniform_int_distribution<uint64_t> position(1, head);
  bool unimplemented = false;
  auto timed = [&api, &unimplemented](auto method, const auto& request, auto* response) {
    const Clock::time_point start = Clock::now();
    const grpc::Status status = api.Call(method, api.event_log(), request, response);
    unimplemented = status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
    if (!status.ok() && !unimplemented) {
      std::fprintf(stderr, "a proof failed: %s\n", status.error_message().c_str());
      std::exit(1);
    }
    return Seconds(Clock::now() - start) * 1000;
  };
  ProofTimes times;
  for (int i = 0; i < calls && !unimplemented; ++i) {
    v1::GetInclusionProofRequest inclusion;
    inclusion.set_position(position(random));
    inclusion.set_tree_size(head);
    v1::GetInclusionProofResponse included;
    times.inclusion_ms.push_back(
        timed(&v1::EventLogService::Stub::GetInclusionProof, inclusion, &included));
    v1::GetConsistencyProofRequest consistency;
    consistency.set_from_tree_size(position(random));
    consistency.set_to_tree_size(head);
    v1::GetConsistencyProofResponse consistent;
    times.consistency_ms.push_back(
        timed(&v1::EventLogService::Stub::GetConsistencyProof, consistency, &consistent));
  }
  // A leerlusd older than the tree (bench/paired.sh): no figures.
  if (unimplemented) return ProofTimes{};
  return times;
}

void WaitUntilServing(client::Client& api) {
  v1::ListWorkMethodsRequest ping;
  v1::ListWorkMethodsResponse pong;
  while (!api.Call(&v1::CatalogService::Stub::ListWorkMethods, api.catalog(), ping, &pong).ok()) {
  }
}

RebuildTimes RebuildProjections(const std::string& leerlusd, const std::string& data_dir,
                                const std::string& report) {
  RebuildTimes times;
  const Clock::time_point start = Clock::now();
  times.peak_rss_mib =
      RunToEnd({leerlusd, "--data-dir", data_dir, "--rebuild-projections"}, report);
  times.command_seconds = Seconds(Clock::now() - start);
  std::ifstream out(report);
  const std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  const size_t line = text.find("projections rebuilt from ");
  if (line == std::string::npos ||
      std::sscanf(text.c_str() + line, "projections rebuilt from %llu events in %lf s",
                  &times.events, &times.rebuild_seconds) != 2 ||
      times.rebuild_seconds <= 0) {
    std::fprintf(stderr, "rebuild printed no timing:\n%s\n", text.c_str());
    std::exit(1);
  }
  return times;
}

}  // namespace leerlus::bench
