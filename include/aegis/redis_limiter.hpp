// The Redis backend: lua/token_bucket.lua run atomically in Redis, so every
// instance shares one bucket per user, over hiredis's asynchronous API driven
// by Asio. Fails fast: while Redis is down, slow or refusing, checks answer
// kUnavailable within REDIS_TIMEOUT_MS (the service turns that into fail-open
// or fail-closed).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "aegis/clock.hpp"
#include "aegis/config.hpp"
#include "aegis/deny_cache.hpp"
#include "aegis/limiter.hpp"
#include "aegis/token_bucket.hpp"

namespace aegis {

namespace detail {
class RedisConnection;
struct RedisShared;
}  // namespace detail

// Counters for observability. All monotonic except `connected`.
struct RedisStats {
  std::uint64_t errors = 0;      // error replies, malformed replies, lost replies
  std::uint64_t timeouts = 0;    // checks answered unavailable at the deadline
  std::uint64_t reconnects = 0;  // successful (re)connections after the first
  std::uint64_t connected = 0;   // connections currently usable
  std::uint64_t deny_cache_hits = 0;  // denials answered locally, without Redis
};

// Safe for concurrent use without external synchronization. Never blocks:
// acquire() hands the check to one of a few connections (round robin), where it
// is pipelined with others; each connection lives on its own strand.
class RedisLimiter final : public Limiter {
 public:
  // Starts connecting at once, in the background: the service serves (degraded)
  // while Redis is unreachable. `ioc` and `clock` must outlive the limiter;
  // `clock` times the deny cache (see deny_cache.hpp).
  RedisLimiter(boost::asio::io_context& ioc, const RedisSettings& settings, const Policy& policy,
               const Clock& clock);
  ~RedisLimiter() override;

  void acquire(std::string_view key, DecisionHandler handler) override;
  // True while at least one connection is connected and authenticated.
  [[nodiscard]] bool ready() const override;
  // Closes the connections and stops reconnecting; pending checks complete
  // as unavailable.
  void shutdown() override;
  void write_metrics(std::string& out) const override;

  [[nodiscard]] RedisStats stats() const;

 private:
  const Clock& clock_;
  std::shared_ptr<detail::RedisShared> shared_;
  std::shared_ptr<DenyCache> deny_cache_;
  std::vector<std::shared_ptr<detail::RedisConnection>> connections_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace aegis
