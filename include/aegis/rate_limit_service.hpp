// The service: asks the backend about a user and applies the failure policy.
// Backends report "unavailable"; only this layer decides what that means.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>

#include "aegis/decision.hpp"
#include "aegis/limiter.hpp"
#include "aegis/log_throttle.hpp"
#include "aegis/metrics.hpp"

namespace aegis {

// Safe for concurrent use without external synchronization.
class RateLimitService {
 public:
  struct Counters {
    std::uint64_t allowed = 0;
    std::uint64_t limited = 0;
    std::uint64_t degraded = 0;     // allowed without the backend (fail-open)
    std::uint64_t unavailable = 0;  // refused without the backend (fail-closed)
  };

  // `limiter` must outlive the service.
  RateLimitService(Limiter& limiter, FailMode fail_mode)
      : limiter_(limiter), fail_mode_(fail_mode) {}

  // Asks for a token for `user`; calls `handler(const Decision&)` exactly once,
  // inline or later on another thread (see Limiter::acquire).
  template <typename Handler>
  void check(std::string_view user, Handler&& handler) {
    const auto start = std::chrono::steady_clock::now();
    limiter_.acquire(user, [this, start, h = std::forward<Handler>(handler)](
                               const Decision& d) mutable {
      latency_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                           .count());
      h(resolve(d));
    });
  }

  [[nodiscard]] bool ready() const { return limiter_.ready(); }
  [[nodiscard]] FailMode fail_mode() const { return fail_mode_; }
  [[nodiscard]] Counters counters() const;
  // Time from asking the backend to its answer.
  [[nodiscard]] const LatencyHistogram& latency() const { return latency_; }

 private:
  // Applies the failure policy to a backend answer and counts it.
  Decision resolve(Decision d);

  // Constant after construction.
  Limiter& limiter_;
  const FailMode fail_mode_;

  std::atomic<std::uint64_t> allowed_{0};
  std::atomic<std::uint64_t> limited_{0};
  std::atomic<std::uint64_t> degraded_{0};
  std::atomic<std::uint64_t> unavailable_{0};
  LatencyHistogram latency_;
  // One warning per interval while the backend is failing, not one per request.
  LogThrottle outage_log_{std::chrono::seconds(10)};
};

}  // namespace aegis
