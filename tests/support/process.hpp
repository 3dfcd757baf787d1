// Runs a real program (aegis, redis-server) as a child process, for tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aegis::test {

// A port on 127.0.0.1 that was free a moment ago (bound to 0, then released).
std::uint16_t free_port();

// True once something accepts TCP connections on 127.0.0.1:port.
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);

// A child process. Its stdout and stderr go to a temporary file (output()).
// The destructor kills it (SIGKILL) if it is still running.
class Process {
 public:
  // `env` entries are added to (or replace those of) the current environment;
  // an entry with an empty value is removed. `cwd` empty = the current one.
  Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          const std::string& cwd = {});
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  [[nodiscard]] pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // The exit status (as from waitpid) once it exits, nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();
  // Everything it wrote so far.
  [[nodiscard]] std::string output() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// The path of the aegis binary under test.
std::string aegis_binary();

}  // namespace aegis::test
