// The limiter interface: the one verb every backend implements.
#pragma once

#include <string>
#include <string_view>

#include "aegis/decision.hpp"
#include "aegis/unique_function.hpp"

namespace aegis {

// Receives a limiter's answer. Called exactly once.
using DecisionHandler = UniqueFunction<void(const Decision&)>;

// A rate limiter backend. Implementations are safe for concurrent use without
// external synchronization and never block the calling thread.
class Limiter {
 public:
  Limiter() = default;
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;
  virtual ~Limiter() = default;

  // Asks for one token for `key` and calls `handler` with the answer exactly once.
  // The handler may run inline, before acquire returns (memory), or later on
  // another thread (Redis): callers must be ready for both. `key` need only stay
  // valid until acquire returns.
  virtual void acquire(std::string_view key, DecisionHandler handler) = 0;

  // True when the backend can currently make decisions (readiness).
  [[nodiscard]] virtual bool ready() const = 0;

  // Releases background work (connections, timers) so the event loop can end.
  // Called once, after the server has drained; later acquires answer unavailable.
  virtual void shutdown() {}

  // Appends the backend's own metrics in the Prometheus text format.
  virtual void write_metrics(std::string& /*out*/) const {}
};

}  // namespace aegis
