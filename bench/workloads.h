// leerlus under the benchmark's load: a server on a fresh store, the
// catalogue and experiments the outcomes go to, durable appends, a
// streaming import, what-works questions and a rebuild of the projections.
// Each returns what it measured; the scenarios (bench/scenarios.h) record
// it. A failed call that should not fail exits the benchmark.
#ifndef LEERLUS_BENCH_WORKLOADS_H_
#define LEERLUS_BENCH_WORKLOADS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "bench/process.h"
#include "client/client.h"

namespace leerlus::bench {

// The experiments x0..x63 that durable appends go to.
inline constexpr int kAppendExperiments = 64;

// Clients that never retry: a call that fails counts as an error.
client::ClientOptions NoRetries();

// Starts `leerlusd` on a loopback port over `data_dir`; with `http`, its
// HTTP gateway too, on the port HttpPortOf(data_dir) then reads.
Process StartServer(const std::string& leerlusd, const std::string& data_dir, bool http = false);
int HttpPortOf(const std::string& data_dir);

// The two RPCs measured over both transports: a read of one experiment and
// a durable append of an outcome.
enum class GatewayCall { kGetExperiment, kCreateOutcome };

// `concurrency` callers of `call`, back to back for `span`, over gRPC
// (`http_port` 0) or as Connect JSON over HTTP/1.1 keep-alive connections.
Load CallOverTransport(const std::string& address, int http_port, GatewayCall call, int concurrency,
                       std::chrono::milliseconds span, std::atomic<uint64_t>& sequence);

// One indicator, `methods` work methods, `experiments` running experiments
// x0.. spread over the methods, with a 6-level condition.
void CreateCatalogue(client::Client& api, int methods, int experiments);

// `concurrency` clients that never retry, each creating outcomes on the
// append experiments back to back for `span`. `sequence` numbers the
// requests: every request id of the run is unique.
Load AppendOutcomes(const std::string& address, int concurrency, std::chrono::milliseconds span,
                    std::atomic<uint64_t>& sequence);

// Streams `outcomes` outcomes over experiments x0.. (repetition `rep`) and
// returns the seconds until the last is durable.
double ImportOutcomes(client::Client& api, int experiments, uint64_t outcomes, int rep,
                      std::atomic<uint64_t>& sequence);

// Milliseconds of each of `calls` what-works questions (REML, every method)
// and of the subgroup split by the 6-level condition asked after each.
struct QuestionTimes {
  std::vector<double> what_works_ms;
  std::vector<double> subgroups_ms;
};
QuestionTimes AskWhatWorks(client::Client& api, int calls);

// What-works as of `position`, asked twice: the first question replays the
// log up to there, the second reads what that replay kept.
struct AsOfTimes {
  double replayed_ms = 0;
  double kept_ms = 0;
};
AsOfTimes AskWhatWorksAsOf(client::Client& api, uint64_t position);

// Milliseconds of each of `calls` inclusion proofs (a random position in a
// tree of the whole log) and as many consistency proofs (from a random
// size to the whole log). The log's head is `head`. None from a server
// without proofs.
struct ProofTimes {
  std::vector<double> inclusion_ms;
  std::vector<double> consistency_ms;
};
ProofTimes AskProofs(client::Client& api, uint64_t head, int calls);

// Asks until the server answers.
void WaitUntilServing(client::Client& api);

struct RebuildTimes {
  unsigned long long events = 0;
  double rebuild_seconds = 0;  // As leerlusd times the rebuild itself.
  double command_seconds = 0;  // With the log check before and the digest after.
  double peak_rss_mib = 0;     // Of the whole command.
};

// Rebuilds every projection of the stopped store `data_dir` from its log
// with `leerlusd --rebuild-projections`, its output in `report`.
RebuildTimes RebuildProjections(const std::string& leerlusd, const std::string& data_dir,
                                const std::string& report);

}  // namespace leerlus::bench

#endif  // LEERLUS_BENCH_WORKLOADS_H_
