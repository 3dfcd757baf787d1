// A clock that moves only when the test says so.
#pragma once

#include <atomic>

#include "aegis/clock.hpp"

namespace aegis::test {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(Micros start = Micros{1'000'000'000}) : now_(start.count()) {}
  [[nodiscard]] Micros now() const noexcept override { return Micros{now_.load()}; }
  void advance(Micros d) { now_.fetch_add(d.count()); }
  void set(Micros t) { now_.store(t.count()); }

 private:
  std::atomic<Micros::rep> now_;
};

}  // namespace aegis::test
