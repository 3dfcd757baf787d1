// A limiter's answer for one request.
#pragma once

#include <cstdint>

#include "aegis/clock.hpp"

namespace aegis {

struct Decision {
  enum class Outcome : std::uint8_t {
    kAllowed,      // a token was taken
    kLimited,      // the bucket is empty
    kUnavailable,  // the backend could not decide (Redis down or slow)
  };

  Outcome outcome = Outcome::kUnavailable;
  // The policy's capacity.
  std::int64_t limit = 0;
  // Whole tokens left after this request.
  std::int64_t remaining = 0;
  // Time until the next token (0 when the bucket is full).
  Micros retry_after{0};
  // Time until the bucket is full again.
  Micros reset_after{0};
  // True when the answer was not made by the backend (fail-open).
  bool degraded = false;

  [[nodiscard]] bool allowed() const { return outcome == Outcome::kAllowed; }
};

// What to answer when the backend cannot decide.
enum class FailMode : std::uint8_t {
  kOpen,    // allow, marked degraded: a limiter outage is never an API outage (default)
  kClosed,  // refuse with 503: nobody gets past an unknown limit
};

}  // namespace aegis
