// Rate-limits a log line, so an outage logs one warning per interval instead
// of one per request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace aegis {

// Safe for concurrent use without external synchronization.
class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // True at most once per interval. Calls that return false are counted.
  bool allow() {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto next = next_.load(std::memory_order_relaxed);
    if (now >= next &&
        next_.compare_exchange_strong(next, now + interval_.count(), std::memory_order_relaxed)) {
      return true;
    }
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // Calls suppressed since the last one that was allowed, and resets the count.
  std::uint64_t take_suppressed() { return suppressed_.exchange(0, std::memory_order_relaxed); }

 private:
  const std::chrono::steady_clock::duration interval_;
  std::atomic<std::chrono::steady_clock::rep> next_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace aegis
