#include "aegis/rate_limit_service.hpp"

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
