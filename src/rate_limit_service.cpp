#include "aegis/rate_limit_service.hpp"

#include <spdlog/spdlog.h>

namespace aegis {

Decision RateLimitService::resolve(Decision d) {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  switch (d.outcome) {
    case Decision::Outcome::kAllowed:
      allowed_.fetch_add(1, kRelaxed);
      if (d.degraded) {
        degraded_.fetch_add(1, kRelaxed);
      }
      break;
    case Decision::Outcome::kLimited:
      limited_.fetch_add(1, kRelaxed);
      break;
    case Decision::Outcome::kUnavailable:
      if (outage_log_.allow()) {
        spdlog::warn("rate-limit backend unavailable: failing {} ({} such answers since the last "
                     "warning)",
                     fail_mode_ == FailMode::kOpen ? "open (allowing, degraded)" : "closed (503)",
                     outage_log_.take_suppressed() + 1);
      }
      if (fail_mode_ == FailMode::kOpen) {
        // Fail open: the promise is that a limiter outage is never an API outage.
        d.outcome = Decision::Outcome::kAllowed;
        d.degraded = true;
        allowed_.fetch_add(1, kRelaxed);
        degraded_.fetch_add(1, kRelaxed);
      } else {
        unavailable_.fetch_add(1, kRelaxed);
      }
      break;
  }
  return d;
}

RateLimitService::Counters RateLimitService::counters() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  return {allowed_.load(kRelaxed), limited_.load(kRelaxed), degraded_.load(kRelaxed),
          unavailable_.load(kRelaxed)};
}

}  // namespace aegis
