#include "bench/process.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace leerlus::bench {
namespace {

// In the child after fork: replaces it with `argv`.
[[noreturn]] void Exec(std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

}  // namespace

double RunToEnd(std::vector<std::string> argv, const std::string& output) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (freopen(output.c_str(), "w", stdout) == nullptr || dup2(fileno(stdout), 2) < 0) _exit(126);
    Exec(argv);
  }
  int status = 0;
  struct rusage usage {};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed; its output is in %s\n", argv[0].c_str(), output.c_str());
    std::exit(1);
  }
  return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux.
}

Process::Process(std::vector<std::string> argv, const std::string& port_file)
    : port_file_(port_file) {
  std::filesystem::remove(port_file_);
  started_ = Clock::now();
  pid_ = fork();
  if (pid_ == 0) {
    freopen("/dev/null", "w", stderr);
    Exec(argv);
  }
  for (int i = 0; i < 3000 && port_ == 0; ++i) {
    std::ifstream in(port_file_);
    in >> port_;
    if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (port_ == 0) {
    std::fprintf(stderr, "%s did not start\n", argv[0].c_str());
    std::exit(1);
  }
}

void Process::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Process::address() const { return absl::StrCat("127.0.0.1:", port_); }

double Process::CpuSeconds() const {
  std::ifstream stat(absl::StrCat("/proc/", pid_, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses: utime and
  // stime are the 12th and 13th of them.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && fields >> field; ++i) {
    if (i >= 12) ticks += std::atof(field.c_str());
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

double Process::PeakRssMib() const {
  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024;
  }
  return 0;
}

}  // namespace leerlus::bench
