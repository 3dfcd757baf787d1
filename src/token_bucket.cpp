#include "aegis/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace aegis {

std::string Policy::make(std::int64_t capacity, double refill_per_sec, Policy* out) {
  if (capacity < 1 || capacity > 1'000'000'000) {
    return "capacity must be an integer from 1 to 1000000000";
  }
  if (!std::isfinite(refill_per_sec) || refill_per_sec < 1e-6 || refill_per_sec > 1e6) {
    return "refill rate must be a number of tokens per second from 0.000001 to 1000000";
  }
  const auto interval = static_cast<std::int64_t>(std::llround(1e6 / refill_per_sec));
  constexpr std::int64_t kMaxWindowMicros = 30LL * 365 * 24 * 3600 * 1'000'000;
  if (interval > kMaxWindowMicros / capacity) {
    return "capacity / refill rate: an empty bucket would take more than 30 years to refill";
  }
  out->capacity = capacity;
  out->interval = Micros{std::max<std::int64_t>(interval, 1)};
  return {};
}

TakeResult take_token(std::int64_t full_at, std::int64_t now, const Policy& policy) {
  const std::int64_t interval = policy.interval.count();
  const std::int64_t window = policy.window().count();
  // Debt: how long until the bucket is full. 0 = full, window = empty.
  std::int64_t debt = std::clamp<std::int64_t>(full_at - now, 0, window);

  TakeResult r;
  r.allowed = debt + interval <= window;
  if (r.allowed) {
    debt += interval;
  }
  // Whole tokens = capacity - ceil(debt / interval).
  const std::int64_t missing = (debt + interval - 1) / interval;
  r.remaining = policy.capacity - missing;
  r.retry_after = Micros{debt == 0 ? 0 : debt - (missing - 1) * interval};
  r.reset_after = Micros{debt};
  r.full_at = now + debt;
  return r;
}

}  // namespace aegis
