// The transport: accepts connections, parses requests under deadlines and size
// limits, and writes responses. Knows nothing of buckets: it hands each request
// to route_request and, for /ping, to the RateLimitService.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "aegis/http_handler.hpp"
#include "aegis/metrics.hpp"
#include "aegis/rate_limit_service.hpp"

namespace aegis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct ServerOptions {
  HandlerOptions handler;
  // Time a client has to send a whole request (or, when idle on a kept-alive
  // connection, to start the next one), and to read a response. One deadline per
  // request, not per byte, so a slowloris client that trickles bytes is cut off.
  std::chrono::milliseconds request_timeout{10'000};
  // Request line plus headers. Past it: 414 when the request line alone is too
  // long, 431 otherwise.
  std::size_t header_limit = 8 * 1024;
  // A GET needs no body; a small one is read and ignored, a larger one gets 413.
  std::size_t body_limit = 4 * 1024;
  // Most connections open at once. Past it a new connection is closed as soon
  // as it is accepted, so the ones already open keep their service.
  std::size_t max_connections = 10'000;
  // Renders /metrics. Called on an I/O thread; must be safe for concurrent use.
  std::function<std::string()> render_metrics;
  // Backend name for /readyz.
  std::string backend = "memory";
};

namespace detail {
struct ServerState;
}

// An HTTP/1.1 server. Sessions run on strands of the io_context it is given, so
// the caller may run that io_context on any number of threads. start() and
// shutdown() are safe to call from any thread.
class HttpServer {
 public:
  // Binds and listens at once; throws boost::system::system_error on failure.
  // `service` must outlive every connection (in practice: the io_context's run).
  HttpServer(asio::io_context& ioc, const tcp::endpoint& endpoint, RateLimitService& service,
             const ServerOptions& options);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Starts accepting.
  void start();
  // Stops accepting, closes idle connections and lets each request in flight
  // finish (its response says Connection: close). `on_drained` runs once, on
  // whichever thread closes the last connection (or at once if none is open).
  void shutdown(std::function<void()> on_drained = {});

  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Connections currently open.
  [[nodiscard]] std::size_t connections() const;
  // Connections closed at once because MAX_CONNECTIONS were open.
  [[nodiscard]] std::uint64_t rejected_connections() const;
  // Requests answered, by route and status.
  [[nodiscard]] const HttpMetrics& http_metrics() const;

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);

  asio::io_context& ioc_;
  std::shared_ptr<detail::ServerState> state_;
  // Used on the acceptor's strand only.
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  std::uint16_t port_ = 0;
};

}  // namespace aegis
