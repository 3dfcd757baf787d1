#include "aegis/app.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/dispatch.hpp>

#include "aegis/memory_limiter.hpp"
#include "aegis/metrics.hpp"
#include "aegis/redis_limiter.hpp"
#include "aegis/version.hpp"

namespace aegis {

App::App(const Config& config, std::unique_ptr<Limiter> limiter, const std::string& bind_address)
    : config_(config),
      bind_address_(bind_address),
      ioc_(static_cast<int>(config.threads)),
      limiter_(std::move(limiter)),
      control_(boost::asio::make_strand(ioc_)),
      grace_timer_(control_) {
  if (!limiter_) {
    if (config_.redis) {
      limiter_ = std::make_unique<RedisLimiter>(ioc_, *config_.redis, config_.policy, clock_);
    } else {
      limiter_ = std::make_unique<MemoryLimiter>(config_.policy, config_.memory_max_keys, clock_);
    }
  }
  service_ = std::make_unique<RateLimitService>(*limiter_, config_.fail_mode);
  ServerOptions options;
  options.handler.max_key_bytes = config_.max_key_bytes;
  options.handler.policy_header = policy_header(config_.policy);
  options.backend = config_.redis ? "redis" : "memory";
  options.render_metrics = [this] { return render_metrics(); };
  options.request_timeout = config_.request_timeout;
  options.max_connections = config_.max_connections;
  const tcp::endpoint endpoint(boost::asio::ip::make_address(bind_address), config_.port);
  server_ = std::make_unique<HttpServer>(ioc_, endpoint, *service_, options);
}

App::~App() {
  shutdown();
  wait();
}

std::string App::describe() const {
  std::string mode;
  if (config_.redis) {
    const RedisSettings& r = *config_.redis;
    mode = fmt::format(
        "mode redis at {}:{} (db {}, {}, key prefix '{}', timeout {} ms, {} connections, fail {})",
        r.host, r.port, r.db,
        r.password.empty() ? std::string("no auth")
                           : r.username.empty() ? std::string("password auth")
                                                : "user '" + r.username + "'",
        r.key_prefix, r.timeout.count(), r.connections,
        config_.fail_mode == FailMode::kOpen ? "open" : "closed");
  } else {
    mode = fmt::format("mode memory (max {} keys; set REDIS_ADDR or REDIS_URL for Redis mode)",
                       config_.memory_max_keys);
  }
  return fmt::format(
      "aegis {} listening on {}:{} with {} I/O threads; {}; policy {} tokens, {} per second (one "
      "every {} ms)",
      AEGIS_VERSION, bind_address_, port(), config_.threads, mode, config_.policy.capacity,
      config_.refill_per_sec, static_cast<double>(config_.policy.interval.count()) / 1000.0);
}

std::string App::render_metrics() const {
  std::string out;
  out.reserve(4096);
  write_family(out, "aegis_build_info", "gauge", "Build and mode of this instance; always 1.");
  write_sample(out, "aegis_build_info",
               fmt::format("version=\"{}\",mode=\"{}\"", AEGIS_VERSION,
                           config_.redis ? "redis" : "memory"),
               1);
  server_->http_metrics().write(out);
  const RateLimitService::Counters c = service_->counters();
  write_family(out, "aegis_decisions_total", "counter",
               "Rate-limit decisions: allowed and limited by the backend; failed_open = allowed "
               "because the backend failed; failed_closed = refused (503) because it failed.");
  write_sample(out, "aegis_decisions_total", "decision=\"allowed\"",
               static_cast<double>(c.allowed - c.degraded));
  write_sample(out, "aegis_decisions_total", "decision=\"limited\"", static_cast<double>(c.limited));
  write_sample(out, "aegis_decisions_total", "decision=\"failed_open\"",
               static_cast<double>(c.degraded));
  write_sample(out, "aegis_decisions_total", "decision=\"failed_closed\"",
               static_cast<double>(c.unavailable));
  service_->latency().write(out, "aegis_backend_latency_seconds",
                            "Time from asking the rate-limit backend to its answer.");
  limiter_->write_metrics(out);
  write_family(out, "aegis_open_connections", "gauge", "HTTP connections currently open.");
  write_sample(out, "aegis_open_connections", "", static_cast<double>(server_->connections()));
  write_family(out, "aegis_rejected_connections_total", "counter",
               "Connections closed at once because MAX_CONNECTIONS were open.");
  write_sample(out, "aegis_rejected_connections_total", "",
               static_cast<double>(server_->rejected_connections()));
  return out;
}

void App::handle_signals() {
  signals_ = std::make_unique<boost::asio::signal_set>(control_, SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) {
      spdlog::info("signal {} received: draining connections", sig);
      shutdown();
    }
  });
}

void App::start() {
  server_->start();
  std::lock_guard lock(mutex_);
  for (unsigned i = 0; i < config_.threads; ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
}

void App::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  boost::asio::dispatch(control_, [this] {
    if (signals_) {
      boost::system::error_code ignored;
      signals_->cancel(ignored);
    }
    if (drained_) {
      return;
    }
    // Once the last connection is done, nothing keeps run() going but this
    // timer; it stops the loop if a connection takes longer than the grace.
    grace_timer_.expires_after(kShutdownGrace);
    grace_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        spdlog::warn("connections still open after {} ms: stopping anyway",
                     kShutdownGrace.count());
        ioc_.stop();
      }
    });
  });
  server_->shutdown([this] {
    boost::asio::dispatch(control_, [this] {
      drained_ = true;
      grace_timer_.cancel();
      // No request can need the backend any more: let its connections go.
      limiter_->shutdown();
    });
  });
}

void App::wait() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    t.join();
  }
}

}  // namespace aegis
