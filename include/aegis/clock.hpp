// Time for the limiter, injected so tests drive it exactly and never sleep.
#pragma once

#include <chrono>
#include <cstdint>

namespace aegis {

// All limiter arithmetic is in whole microseconds: fine enough for any refill rate
// we accept, and exact as an integer (also inside Redis's Lua, whose numbers are
// doubles and stay exact below 2^53).
using Micros = std::chrono::microseconds;

// A source of monotonic time. Implementations are safe for concurrent use
// without external synchronization.
class Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // Microseconds since an arbitrary epoch fixed for the life of the process.
  [[nodiscard]] virtual Micros now() const noexcept = 0;
};

// std::chrono::steady_clock: never jumps with wall-clock changes.
class SteadyClock final : public Clock {
 public:
  [[nodiscard]] Micros now() const noexcept override {
    return std::chrono::duration_cast<Micros>(
        std::chrono::steady_clock::now().time_since_epoch());
  }
};

}  // namespace aegis
