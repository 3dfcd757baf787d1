#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <stdexcept>

namespace aegis::test {

RedisServer::RedisServer(std::vector<std::string> extra_args, std::uint16_t port)
    : port_(port != 0 ? port : free_port()), extra_args_(std::move(extra_args)) {
  start();
}

RedisServer::~RedisServer() {
  if (admin_ != nullptr) redisFree(admin_);
  if (process_) {
    process_->signal(SIGCONT);
  }
}

void RedisServer::start() {
  std::vector<std::string> argv = {"/usr/bin/redis-server", "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                   "--protected-mode", "no"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{});
  if (!wait_for_port(port_, std::chrono::milliseconds(5000))) {
    throw std::runtime_error("redis-server did not start: " + process_->output());
  }
}

void RedisServer::kill() {
  if (admin_ != nullptr) {
    redisFree(admin_);
    admin_ = nullptr;
  }
  process_->signal(SIGCONT);
  process_->signal(SIGKILL);
  process_->wait(std::chrono::milliseconds(5000));
}

void RedisServer::restart() { start(); }

void RedisServer::pause() { process_->signal(SIGSTOP); }

void RedisServer::resume() { process_->signal(SIGCONT); }

ReplyPtr RedisServer::command(const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (admin_ == nullptr || admin_->err != 0) {
      if (admin_ != nullptr) redisFree(admin_);
      timeval tv{5, 0};
      admin_ = redisConnectWithTimeout("127.0.0.1", port_, tv);
      if (admin_ == nullptr || admin_->err != 0) continue;
      redisSetTimeout(admin_, tv);
      if (!auth_.empty()) {
        auth_.insert(auth_.begin(), "AUTH");
        ReplyPtr r = command(auth_);
        auth_.erase(auth_.begin());
      }
    }
    std::vector<const char*> argv;
    std::vector<size_t> len;
    for (const auto& a : args) {
      argv.push_back(a.data());
      len.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(admin_, static_cast<int>(argv.size()), argv.data(), len.data()));
    if (reply != nullptr) return ReplyPtr(reply);
  }
  ADD_FAILURE() << "admin command failed on redis port " << port_;
  return nullptr;
}

}  // namespace aegis::test
