#include "bench/floors.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/model/families.h"
#include "core/model/keys.h"
#include "core/model/streams.h"
#include "leerlus/bench/echo.grpc.pb.h"
#include "rocksdb/db.h"
#include "storage/column_families.h"
#include "storage/log_keys.h"

namespace leerlus::bench {
namespace {

using storage::ColumnFamily;

// The size of an outcome's message, as the echo and RocksDB alone carry it.
std::string Payload() { return std::string(300, 'x'); }

// The column families an outcome writes to, opened by their leerlus names
// in a new database with RocksDB's default options.
class OutcomeFamilies {
 public:
  explicit OutcomeFamilies(const std::string& path) {
    const storage::LogSchema schema = model::Schema();
    auto name_of = [&](ColumnFamily family) {
      const size_t index = static_cast<size_t>(family);
      return index < storage::kLogFamilyCount
                 ? std::string(storage::kLogFamilyNames[index])
                 : schema.families[index - storage::kLogFamilyCount].name;
    };
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (ColumnFamily family : kFamilies) descriptors.push_back({name_of(family), options});
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::Open(options, path, descriptors, &handles_, &raw).ok()) std::exit(1);
    db_.reset(raw);
  }
  ~OutcomeFamilies() {
    for (rocksdb::ColumnFamilyHandle* opened : handles_) db_->DestroyColumnFamilyHandle(opened);
  }

  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* handle(ColumnFamily family) const {
    return handles_[std::find(std::begin(kFamilies), std::end(kFamilies), family) -
                    std::begin(kFamilies)];
  }

 private:
  static constexpr ColumnFamily kFamilies[] = {
      ColumnFamily::kMeta,     ColumnFamily::kEvents,      ColumnFamily::kStreams,
      ColumnFamily::kRequests, model::families::kOutcomes, model::families::kAnalysis};
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

// Adds outcomes' writes to batches as leerlus's appends would make them,
// for random experiments among 10,000 over 50 work methods.
class OutcomeWrites {
 public:
  explicit OutcomeWrites(const OutcomeFamilies& families) : families_(families) {}

  // An outcome's 6 writes: its event, the stream's index entry and head,
  // the request record, the outcome and the analysis row.
  void AddOutcome(rocksdb::WriteBatch& batch) {
    const int e = static_cast<int>(random_() % kExperiments);
    const std::string id = absl::StrCat("x", e);
    const std::string stream = model::ExperimentStream(id);
    const uint64_t version = ++versions_[e];
    const std::string stored_at = storage::EncodeFixed64BigEndian(++position_);
    batch.Put(handle(ColumnFamily::kEvents), storage::EventKey(position_), event_);
    batch.Put(handle(ColumnFamily::kStreams), storage::StreamEventKey(stream, version), stored_at);
    batch.Put(handle(ColumnFamily::kStreams), storage::StreamHeadKey(stream),
              storage::EncodeFixed64BigEndian(version));
    batch.Put(handle(ColumnFamily::kRequests), absl::StrCat("req-", random_(), "-", random_()),
              request_);
    batch.Put(handle(model::families::kOutcomes),
              model::ExperimentChildKey(id, absl::StrCat("o", version)), outcome_);
    batch.Put(handle(model::families::kAnalysis),
              model::AnalysisKey("loneliness", absl::StrCat("m", e % 50), id), outcome_);
  }

  // Once a group: the log's head position.
  void AddHead(rocksdb::WriteBatch& batch) {
    batch.Put(handle(ColumnFamily::kMeta), std::string(storage::kHeadPositionKey),
              storage::EncodeFixed64BigEndian(position_));
  }

 private:
  static constexpr int kExperiments = 10000;
  rocksdb::ColumnFamilyHandle* handle(ColumnFamily family) const {
    return families_.handle(family);
  }

  const OutcomeFamilies& families_;
  // leerlus's value sizes: an event, a request record, an outcome.
  const std::string event_ = std::string(450, 'v');
  const std::string request_ = std::string(360, 'v');
  const std::string outcome_ = std::string(300, 'v');
  std::vector<uint64_t> versions_ = std::vector<uint64_t>(kExperiments, 0);
  std::mt19937 random_{7};
  uint64_t position_ = 0;
};

}  // namespace

std::vector<double> SyncedWritesAlone(const std::string& path, const std::vector<int>& batch_sizes,
                                      std::chrono::milliseconds span) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, path, &raw).ok()) std::exit(1);
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions synced;
  synced.sync = true;
  const std::string value = Payload();
  std::vector<double> rates;
  for (int batch_size : batch_sizes) {
    uint64_t writes = 0;
    const Clock::time_point start = Clock::now();
    while (Clock::now() - start < span) {
      rocksdb::WriteBatch batch;
      for (int i = 0; i < batch_size; ++i) batch.Put(absl::StrCat("k", writes++), value);
      db->Write(synced, &batch);
    }
    rates.push_back(writes / Seconds(Clock::now() - start));
  }
  return rates;
}

std::vector<OutcomeWriteRate> OutcomeWritesAlone(const std::string& path,
                                                 const std::vector<int>& group_sizes,
                                                 std::chrono::milliseconds span) {
  OutcomeFamilies families(path);
  OutcomeWrites outcomes(families);
  rocksdb::WriteOptions synced;
  synced.sync = true;
  std::vector<OutcomeWriteRate> rates;
  for (int group_size : group_sizes) {
    uint64_t written = 0;
    const double cpu_start = OwnCpuSeconds();
    const Clock::time_point start = Clock::now();
    while (Clock::now() - start < span) {
      rocksdb::WriteBatch batch;
      for (int i = 0; i < group_size; ++i, ++written) outcomes.AddOutcome(batch);
      outcomes.AddHead(batch);
      if (!families.db().Write(synced, &batch).ok()) std::exit(1);
    }
    rates.push_back(
        {written / Seconds(Clock::now() - start), (OwnCpuSeconds() - cpu_start) * 1e6 / written});
  }
  return rates;
}

Process StartEcho(const std::string& echo_binary, const std::string& work) {
  return Process({echo_binary, "--port-file", work + "/echo.port"}, work + "/echo.port");
}

Load EchoUnaryLoad(const Process& echo, int concurrency, std::chrono::milliseconds span) {
  return RunClosedLoop(concurrency, span, [&](int) {
    auto channel = grpc::CreateChannel(echo.address(), grpc::InsecureChannelCredentials());
    auto stub = std::make_shared<EchoService::Stub>(channel);
    EchoMessage message;
    message.set_payload(Payload());
    return [stub, message]() {
      grpc::ClientContext context;
      EchoMessage answer;
      return stub->Unary(&context, message, &answer).ok();
    };
  });
}

double EchoStreamSeconds(const Process& echo, uint64_t messages) {
  auto channel = grpc::CreateChannel(echo.address(), grpc::InsecureChannelCredentials());
  EchoService::Stub stub(channel);
  grpc::ClientContext context;
  EchoCount count;
  auto stream = stub.Stream(&context, &count);
  EchoMessage message;
  message.set_payload(Payload());
  const Clock::time_point start = Clock::now();
  for (uint64_t i = 0; i < messages; ++i) stream->Write(message);
  stream->WritesDone();
  stream->Finish();
  return Seconds(Clock::now() - start);
}

}  // namespace leerlus::bench
