// The token-bucket arithmetic: one pure function over (state, policy, now).
//
// A bucket holds up to `capacity` tokens and gains one every `interval`. Rather
// than storing a fractional token count and a last-refill time, a bucket is
// stored as one integer: the instant `full_at` at which it will be full again.
// Tokens at time `now` are `capacity - (full_at - now) / interval`; taking a
// token moves `full_at` one interval later. This is the same continuous,
// lazily-refilled token bucket (it is also known as GCRA), but the state is a
// single exact integer, so the memory backend and lua/token_bucket.lua compute
// bit-identical answers, and "full" is simply `full_at <= now`, which is what
// lets both backends forget a full bucket (drop it / let the Redis key expire).
#pragma once

#include <cstdint>
#include <string>

#include "aegis/clock.hpp"

namespace aegis {

// What a bucket allows. Constant after construction; see Policy::make.
struct Policy {
  // Most tokens a bucket holds (the burst). At least 1.
  std::int64_t capacity = 4;
  // Time to gain one token, rounded to the microsecond. At least 1 us.
  Micros interval{5'000'000};

  // Time for an empty bucket to refill completely.
  [[nodiscard]] Micros window() const { return interval * capacity; }

  // Builds a policy from a refill rate in tokens per second. Returns an error
  // message (and leaves *out alone) when the values are out of range: capacity
  // must be in [1, 1e9], the rate in [1e-6, 1e6], and a full refill must take
  // less than 30 years (keeps every sum below 2^53, see clock.hpp).
  static std::string make(std::int64_t capacity, double refill_per_sec, Policy* out);
};

// The outcome of asking a bucket for one token.
struct TakeResult {
  bool allowed = false;
  // Whole tokens left after this request.
  std::int64_t remaining = 0;
  // Time until `remaining` grows by one (0 when the bucket is full).
  Micros retry_after{0};
  // Time until the bucket is full again; the state can be forgotten after it.
  Micros reset_after{0};
  // The new state to store: the instant the bucket is full again.
  std::int64_t full_at = 0;
};

// Asks the bucket whose state is `full_at` for one token at time `now`.
// A missing bucket is any `full_at <= now` (pass `now` or 0). A clock that went
// backwards makes `full_at - now` larger than a whole window; it is clamped to
// one window, so a backwards jump can deny at most one refill, never admit more.
[[nodiscard]] TakeResult take_token(std::int64_t full_at, std::int64_t now, const Policy& policy);

}  // namespace aegis
