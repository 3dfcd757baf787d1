// Private to the Redis backend: one hiredis asynchronous connection driven by
// Asio, with its handshake, deadlines and reconnection.
#pragma once

#include <hiredis/async.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "aegis/config.hpp"
#include "aegis/limiter.hpp"
#include "aegis/log_throttle.hpp"
#include "aegis/token_bucket.hpp"

namespace aegis::detail {

using SteadyTime = std::chrono::steady_clock::time_point;

// What all connections of one limiter share. Constant after construction but
// for the atomic counters and the (thread-safe) log throttles.
struct RedisShared {
  RedisSettings settings;
  Policy policy;
  std::string capacity_arg;  // ARGV[1], formatted once
  std::string interval_arg;  // ARGV[2], formatted once
  std::string endpoint;      // host:port for log lines

  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> connected{0};

  LogThrottle connect_log{std::chrono::seconds(30)};
  LogThrottle error_log{std::chrono::seconds(10)};
};

// One connection. Every member is touched only on strand_ (except ready_).
//
// hiredis contexts are not thread-safe and a context that reported an error is
// dead; so a connection owns at most one context at a time, and any failure
// frees it and starts a fresh one after a backoff.
//
// Checks are pipelined: each is sent at once and waits in `pending_`, in the
// order Redis will answer. Each has a deadline; at the deadline it is answered
// unavailable and marked done, and its late reply, when it comes, is dropped.
// If Redis has answered nothing for kStuckAfter, the connection is treated as
// dead (Redis paused or the network gone) and replaced, so that the pipeline
// and memory cannot grow while Redis is away and callers get answers at once.
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  RedisConnection(boost::asio::io_context& ioc, std::shared_ptr<RedisShared> shared);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  void start();
  void stop();
  [[nodiscard]] bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Sends one check; `handler` is called exactly once, on this connection's strand.
  void submit(std::string_view key, DecisionHandler handler);

 private:
  struct Pending {
    SteadyTime deadline;
    SteadyTime sent;
    DecisionHandler handler;
    bool done = false;
    std::string key;  // kept only to resend after NOSCRIPT
  };

  // Connection lifecycle.
  void resolve();
  void connect(const boost::asio::ip::tcp::endpoint& endpoint);
  void on_connect(int status);
  void on_handshake_reply(redisReply* reply, std::intptr_t step);
  void on_disconnect();
  void drop(std::string_view why);
  void schedule_reconnect();

  // Checks.
  void send(std::string_view key, SteadyTime deadline, SteadyTime sent, DecisionHandler handler,
            bool full_script);
  void on_reply(redisReply* reply, Pending* p);
  // Makes sure the deadline timer fires no later than the earliest deadline
  // (or stuck check) of the checks in flight.
  void arm_timer();
  void on_timer();
  static void answer_unavailable(Pending& p);

  // The hiredis event-loop adapter (ac_->ev).
  static void ev_add_read(void* self);
  static void ev_del_read(void* self);
  static void ev_add_write(void* self);
  static void ev_del_write(void* self);
  static void ev_cleanup(void* self);
  void wait_read();
  void wait_write();
  void release_fd();

  static void connect_cb(const redisAsyncContext* ac, int status);
  static void disconnect_cb(const redisAsyncContext* ac, int status);
  static void reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
  static void handshake_cb(redisAsyncContext* ac, void* reply, void* privdata);

  const std::shared_ptr<RedisShared> shared_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::posix::stream_descriptor fd_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer retry_timer_;

  redisAsyncContext* ac_ = nullptr;
  // Bumped whenever ac_ changes, so that stale fd waits do nothing.
  std::uint64_t generation_ = 0;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_waiting_ = false;
  bool write_waiting_ = false;
  bool timer_armed_ = false;
  SteadyTime timer_expiry_{};
  std::uint64_t timer_generation_ = 0;  // a re-armed timer's old wait does nothing
  bool stopped_ = false;
  bool ever_ready_ = false;
  int failures_ = 0;  // consecutive failed attempts, for the backoff
  std::uint64_t rng_;
  std::string sha_;  // of the script, from SCRIPT LOAD
  std::deque<Pending> pending_;  // references stay valid across push_back/pop_front
  std::atomic<bool> ready_{false};
};

}  // namespace aegis::detail
