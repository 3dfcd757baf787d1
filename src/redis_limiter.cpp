#include "aegis/redis_limiter.hpp"

#include "redis_connection.hpp"

namespace aegis {

RedisLimiter::RedisLimiter(boost::asio::io_context& ioc, const RedisSettings& settings,
                           const Policy& policy)
    : shared_(std::make_shared<detail::RedisShared>()) {
  shared_->settings = settings;
  shared_->policy = policy;
  shared_->capacity_arg = std::to_string(policy.capacity);
  shared_->interval_arg = std::to_string(policy.interval.count());
  shared_->endpoint = settings.host.find(':') != std::string::npos
                          ? "[" + settings.host + "]:" + std::to_string(settings.port)
                          : settings.host + ":" + std::to_string(settings.port);
  const unsigned n = std::max(1U, settings.connections);
  for (unsigned i = 0; i < n; ++i) {
    connections_.push_back(std::make_shared<detail::RedisConnection>(ioc, shared_));
    connections_.back()->start();
  }
}

RedisLimiter::~RedisLimiter() = default;

void RedisLimiter::acquire(std::string_view key, DecisionHandler handler) {
  const std::size_t n = connections_.size();
  const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    auto& c = connections_[(first + i) % n];
    if (c->ready()) {
      c->submit(key, std::move(handler));
      return;
    }
  }
  // No usable connection: answer at once instead of making every request wait
  // for a deadline while Redis is known to be down.
  Decision d;
  d.outcome = Decision::Outcome::kUnavailable;
  d.limit = shared_->policy.capacity;
  handler(d);
}

bool RedisLimiter::ready() const {
  for (const auto& c : connections_) {
    if (c->ready()) return true;
  }
  return false;
}

void RedisLimiter::shutdown() {
  for (auto& c : connections_) c->stop();
}

RedisStats RedisLimiter::stats() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  return {shared_->errors.load(kRelaxed), shared_->timeouts.load(kRelaxed),
          shared_->reconnects.load(kRelaxed), shared_->connected.load(kRelaxed)};
}

}  // namespace aegis
