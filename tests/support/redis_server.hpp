// A real redis-server on a free loopback port, for tests, plus a blocking
// admin client to inspect and disturb it.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace aegis::test {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisServer {
 public:
  // Starts redis-server (no persistence) with `extra_args` appended, on
  // `port` (0: a free one).
  explicit RedisServer(std::vector<std::string> extra_args = {}, std::uint16_t port = 0);
  ~RedisServer();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }

  // SIGKILL, as a crash would.
  void kill();
  // Starts it again on the same port (empty: no persistence).
  void restart();
  void pause();   // SIGSTOP
  void resume();  // SIGCONT

  // Runs a command on a blocking admin connection (reconnects as needed).
  // `auth` args are sent first on a new connection when set.
  ReplyPtr command(const std::vector<std::string>& args);
  void set_admin_auth(std::vector<std::string> auth_args) { auth_ = std::move(auth_args); }

 private:
  void start();

  std::uint16_t port_;
  std::vector<std::string> extra_args_;
  std::unique_ptr<Process> process_;
  redisContext* admin_ = nullptr;
  std::vector<std::string> auth_;
};

}  // namespace aegis::test
