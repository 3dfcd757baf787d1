// The whole service assembled from a Config: backend, service, server and I/O
// threads. main() is this plus argument parsing; tests run it in-process.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aegis/clock.hpp"
#include "aegis/config.hpp"
#include "aegis/http_server.hpp"
#include "aegis/limiter.hpp"
#include "aegis/rate_limit_service.hpp"

namespace aegis {

// Owns everything the service runs on. start(), shutdown() and wait() are safe
// to call from any thread; the constructor throws on bind failure.
class App {
 public:
  // Requests in flight get this long to finish after shutdown() before the
  // I/O threads are stopped regardless (orchestrators kill soon after).
  static constexpr std::chrono::milliseconds kShutdownGrace{4'000};

  // `limiter`, when given, replaces the backend chosen by `config` (tests).
  explicit App(const Config& config, std::unique_ptr<Limiter> limiter = nullptr,
               const std::string& bind_address = "0.0.0.0");
  App(const App&) = delete;
  App& operator=(const App&) = delete;
  ~App();

  // Starts the I/O threads and begins accepting.
  void start();
  // Begins a graceful shutdown (see HttpServer::shutdown); returns at once.
  void shutdown();
  // Blocks until the I/O threads have finished.
  void wait();
  // Stops on SIGINT or SIGTERM.
  void handle_signals();

  [[nodiscard]] std::uint16_t port() const { return server_->port(); }
  [[nodiscard]] const HttpServer& server() const { return *server_; }
  [[nodiscard]] const RateLimitService& service() const { return *service_; }
  [[nodiscard]] std::string describe() const;
  // The /metrics page.
  [[nodiscard]] std::string render_metrics() const;

 private:
  // Constant after construction.
  Config config_;
  std::string bind_address_;
  SteadyClock clock_;
  boost::asio::io_context ioc_;
  std::unique_ptr<Limiter> limiter_;
  std::unique_ptr<RateLimitService> service_;
  std::unique_ptr<HttpServer> server_;
  // Shutdown bookkeeping runs on this strand: the grace timer, the signal set
  // and drained_ are only touched there.
  boost::asio::strand<boost::asio::io_context::executor_type> control_;
  boost::asio::steady_timer grace_timer_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  bool drained_ = false;

  std::mutex mutex_;
  // Guarded by mutex_.
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace aegis
