// The child processes leerlus-bench measures: servers that announce their
// port in a file and run until the benchmark is done with them, and
// commands run to their end.
//
//   Process server({"build/server/leerlusd", "--port-file", "x.port", ...}, "x.port");
//   grpc::CreateChannel(server.address(), ...);
//   double cpu = server.CpuSeconds();
#ifndef LEERLUS_BENCH_PROCESS_H_
#define LEERLUS_BENCH_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "bench/measure.h"

namespace leerlus::bench {

// Runs `argv` to its end, its output (both streams) into `output`; exits
// the benchmark if it fails. Returns its peak resident memory, MiB.
double RunToEnd(std::vector<std::string> argv, const std::string& output);

// A child process started with a port file; killed when destroyed. Exits
// the benchmark if it does not write its port within about 6 seconds.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& port_file);
  ~Process() { Stop(); }
  void Stop();
  std::string address() const;
  pid_t pid() const { return pid_; }
  Clock::time_point started() const { return started_; }
  // User plus system CPU time the process has used so far, in seconds.
  double CpuSeconds() const;
  // Peak resident memory so far, MiB (VmHWM).
  double PeakRssMib() const;

 private:
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
  Clock::time_point started_;
};

}  // namespace leerlus::bench

#endif  // LEERLUS_BENCH_PROCESS_H_
