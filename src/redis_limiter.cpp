#include "aegis/redis_limiter.hpp"

#include "aegis/metrics.hpp"
#include "redis_connection.hpp"

namespace aegis {

namespace {
// Room for this many denied users; an abusive crowd larger than this just
// reaches Redis, as it would without the cache.
constexpr std::size_t kDenyCacheKeys = 100'000;
}  // namespace

RedisLimiter::RedisLimiter(boost::asio::io_context& ioc, const RedisSettings& settings,
                           const Policy& policy, const Clock& clock)
    : clock_(clock),
      shared_(std::make_shared<detail::RedisShared>()),
      deny_cache_(std::make_shared<DenyCache>(kDenyCacheKeys, clock)) {
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
  if (auto denied = deny_cache_->lookup(key)) {
    handler(*denied);
    return;
  }
  const std::size_t n = connections_.size();
  const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    auto& c = connections_[(first + i) % n];
    if (c->ready()) {
      const Micros sent = clock_.now();
      c->submit(key, [cache = deny_cache_, sent, user = std::string(key),
                      h = std::move(handler)](const Decision& d) mutable {
        if (d.outcome == Decision::Outcome::kLimited) cache->remember(user, d, sent);
        h(d);
      });
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

void RedisLimiter::write_metrics(std::string& out) const {
  const RedisStats s = stats();
  const auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    write_family(out, name, "counter", help);
    write_sample(out, name, "", static_cast<double>(v));
  };
  counter("aegis_redis_errors_total",
          "Checks that failed on an error reply, a malformed reply or a lost connection.",
          s.errors);
  counter("aegis_redis_timeouts_total", "Checks answered unavailable at REDIS_TIMEOUT_MS.",
          s.timeouts);
  counter("aegis_redis_reconnects_total", "Successful reconnections to Redis after the first.",
          s.reconnects);
  counter("aegis_redis_deny_cache_hits_total",
          "Denials answered locally until Redis's retry time, without asking Redis.",
          s.deny_cache_hits);
  write_family(out, "aegis_redis_connections", "gauge",
               "Connections to Redis that are connected and authenticated.");
  write_sample(out, "aegis_redis_connections", "", static_cast<double>(s.connected));
  write_family(out, "aegis_redis_connections_configured", "gauge",
               "Connections to Redis this instance keeps (REDIS_CONNECTIONS).");
  write_sample(out, "aegis_redis_connections_configured", "",
               static_cast<double>(connections_.size()));
}

RedisStats RedisLimiter::stats() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  return {shared_->errors.load(kRelaxed), shared_->timeouts.load(kRelaxed),
          shared_->reconnects.load(kRelaxed), shared_->connected.load(kRelaxed),
          deny_cache_->hits()};
}

}  // namespace aegis
