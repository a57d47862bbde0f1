// The floors and ceilings leerlus is measured against, in the same run on
// the same machine: RocksDB alone on this disk (the cost of a synced write,
// and of exactly the writes one durable outcome makes), and a gRPC echo
// server with leerlus's threading and message size doing no work.
#ifndef LEERLUS_BENCH_FLOORS_H_
#define LEERLUS_BENCH_FLOORS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "bench/process.h"

namespace leerlus::bench {

// RocksDB alone, with its default options, in a new database at `path`:
// synced 300-byte writes in batches of each of `batch_sizes`, `span` each.
// Returns the writes/s of each batch size, in their order. Exits the
// benchmark if the database cannot be opened.
std::vector<double> SyncedWritesAlone(const std::string& path, const std::vector<int>& batch_sizes,
                                      std::chrono::milliseconds span);

struct OutcomeWriteRate {
  double outcomes_per_second = 0;
  double cpu_us_per_outcome = 0;
};

// The writes one durable outcome makes, with leerlus's key layout (its own
// key encoders) and value sizes but none of its work (no decision, no
// hashing, no gRPC): the floor of RocksDB's cost under any append. Synced
// groups of each of `group_sizes`, `span` each, in a new database at
// `path`; the rates in the order of `group_sizes`. Groups of 32 are what
// concurrent unary appends form at concurrency 64; groups of 1,000 what an
// import forms. CPU includes RocksDB's own flush and compaction threads.
// The options are RocksDB's defaults, whose memtables are larger than
// leerlus's bounded budget: if anything, this floor is generous.
std::vector<OutcomeWriteRate> OutcomeWritesAlone(const std::string& path,
                                                 const std::vector<int>& group_sizes,
                                                 std::chrono::milliseconds span);

// Starts the echo server `echo_binary`, its port file in `work`.
Process StartEcho(const std::string& echo_binary, const std::string& work);

// `concurrency` clients, each on its own channel, calling the echo's unary
// method back to back for `span` with an outcome-sized message.
Load EchoUnaryLoad(const Process& echo, int concurrency, std::chrono::milliseconds span);

// Seconds to stream `messages` outcome-sized messages to the echo, until it
// has answered the stream.
double EchoStreamSeconds(const Process& echo, uint64_t messages);

}  // namespace leerlus::bench

#endif  // LEERLUS_BENCH_FLOORS_H_
