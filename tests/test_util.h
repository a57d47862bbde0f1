// Shared test helpers: status assertions that print the message, a
// temporary directory per test, a real leerlusd process on a free loopback
// port, and running the real leerlus binary.
#ifndef LEERLUS_TESTS_TEST_UTIL_H_
#define LEERLUS_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "rocksdb/db.h"

#define EXPECT_OK(expr)                                                  \
  do {                                                                   \
    const auto& leerlus_test_status_ = (expr);                           \
    EXPECT_TRUE(::leerlus::testing::StatusOf(leerlus_test_status_).ok()) \
        << ::leerlus::testing::StatusOf(leerlus_test_status_);           \
  } while (false)

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const auto& leerlus_test_status_ = (expr);                           \
    ASSERT_TRUE(::leerlus::testing::StatusOf(leerlus_test_status_).ok()) \
        << ::leerlus::testing::StatusOf(leerlus_test_status_);           \
  } while (false)

namespace leerlus::testing {

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// A fresh directory under $TMPDIR, removed with its contents at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A real leerlusd on 127.0.0.1 with a port chosen by the kernel.
class ServerProcess {
 public:
  // `authenticated`: require tokens (the first admin token is written to
  // admin_token_file()); otherwise the server runs with --insecure-dev.
  explicit ServerProcess(std::string data_dir, std::vector<std::string> extra_args = {},
                         bool authenticated = false);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts and waits until the port file appears (fails the test if not).
  void Start();
  // For a start that must fail: the exit code of a server that exits by
  // itself within 6 s, or 0 (after killing it) if it serves instead.
  int StartAndWaitForExit();
  // SIGTERM and wait; returns the exit status as from waitpid.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string admin_token_file() const { return data_dir_ + ".admin-token"; }
  // What every leerlusd on this data directory wrote to stdout and stderr.
  std::string log() const;

 private:
  void Spawn();

  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string port_file_;
  std::string log_file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the real leerlus binary with `args`.
CommandResult RunCli(const std::vector<std::string>& args);
// Runs the real leerlusd with `args`, for the runs that exit by themselves
// (keygen, --verify).
CommandResult RunLeerlusd(const std::vector<std::string>& args);
CommandResult RunProgram(const std::string& program, const std::vector<std::string>& args);

// Every RPC of leerlus's five services, from the generated descriptors, so
// that a new RPC is covered by the tests that walk them.
inline std::vector<const google::protobuf::MethodDescriptor*> AllRpcs() {
  std::vector<const google::protobuf::MethodDescriptor*> rpcs;
  for (const char* name :
       {"leerlus.v1.CatalogService", "leerlus.v1.ExperimentService", "leerlus.v1.EventLogService",
        "leerlus.v1.InsightService", "leerlus.v1.AdminService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
      rpcs.push_back(service->method(i));
    }
  }
  return rpcs;
}

// A loopback port free at the moment of asking.
int FreePort();
// GET http://127.0.0.1:port/path: the whole response, "" if none.
std::string HttpGet(int port, const std::string& path);

// Opens a closed store's RocksDB directly, with every column family it
// holds, for `edit` to damage or rewrite it as someone holding the disk
// would; `family` gives a family's handle by name.
using FamilyByName = std::function<rocksdb::ColumnFamilyHandle*(absl::string_view name)>;
void EditRocksDb(const std::string& path,
                 const std::function<void(rocksdb::DB* db, const FamilyByName& family)>& edit);

// Reads a whole file.
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace leerlus::testing

#endif  // LEERLUS_TESTS_TEST_UTIL_H_
