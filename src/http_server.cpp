#include "aegis/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "aegis/log_throttle.hpp"

namespace aegis {

namespace beast = boost::beast;
using error_code = boost::system::error_code;

namespace detail {

using Strand = asio::strand<asio::io_context::executor_type>;
class Session;

// What sessions share with the server. Sessions hold it by shared_ptr, so it
// outlives the HttpServer object if the io_context is destroyed with sessions
// still queued in it.
struct ServerState {
  ServerState(RateLimitService& s, const ServerOptions& o) : service(s), options(o) {}

  // Constant after construction.
  RateLimitService& service;
  const ServerOptions options;

  HttpMetrics http_metrics;
  std::atomic<std::uint64_t> rejected{0};

  std::mutex mutex;
  // Guarded by mutex.
  std::unordered_set<Session*> sessions;
  bool shutting_down = false;
  std::function<void()> on_drained;

  // Requires mutex held. Runs on_drained once the last session is gone.
  void check_drained() {
    if (shutting_down && sessions.empty() && on_drained) {
      auto f = std::move(on_drained);
      on_drained = nullptr;
      f();
    }
  }
};

// One connection. Owns its socket, buffer and parser; every step runs on the
// connection's strand. Requests on a connection are answered in order, one at a
// time; pipelined requests wait in the buffer and are parsed without another read.
//
// Deadlines: one timer per connection, armed lazily. Starting to read a request
// (or to wait for the next one) moves `deadline_`; the timer only wakes at the
// old deadline, sees the new one and sleeps again, so a kept-alive connection
// costs no timer system call per request. Past the deadline the socket is
// closed, which ends whatever read or write is pending.
class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = asio::basic_stream_socket<tcp, Strand>;

  // Takes over an accepted socket's descriptor, re-homed on its own strand.
  Session(tcp protocol, tcp::socket::native_handle_type fd, Strand strand,
          std::shared_ptr<ServerState> state)
      : socket_(strand, protocol, fd),
        timer_(strand),
        buffer_(state->options.header_limit + state->options.body_limit + 64 * 1024),
        state_(std::move(state)) {}

  ~Session() {
    std::lock_guard lock(state_->mutex);
    state_->sessions.erase(this);
    state_->check_drained();
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    // So that the direct write in do_write never blocks the I/O thread.
    error_code ec;
    socket_.non_blocking(true, ec);
    {
      std::lock_guard lock(state_->mutex);
      if (state_->shutting_down) {
        return;  // accepted in the race with shutdown: just close
      }
      state_->sessions.insert(this);
    }
    asio::dispatch(socket_.get_executor(),
                   beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // Called on the strand when the server shuts down.
  void on_shutdown() {
    closing_ = true;
    const bool idle = reading_ && buffer_.size() == 0 && !(parser_ && parser_->got_some());
    if (idle) {
      close();
    }
  }

  Strand executor() { return socket_.get_executor(); }

 private:
  void set_deadline() {
    deadline_ = std::chrono::steady_clock::now() + state_->options.request_timeout;
    if (timer_armed_) return;
    timer_armed_ = true;
    timer_.expires_at(deadline_);
    timer_.async_wait(beast::bind_front_handler(&Session::on_timer, shared_from_this()));
  }

  void on_timer(error_code ec) {
    timer_armed_ = false;
    if (ec || !socket_.is_open()) return;
    if (!waiting_on_client_) return;  // busy with the backend: no client deadline
    if (std::chrono::steady_clock::now() < deadline_) {
      timer_armed_ = true;
      timer_.expires_at(deadline_);
      timer_.async_wait(beast::bind_front_handler(&Session::on_timer, shared_from_this()));
      return;
    }
    close();  // too slow: the pending read or write ends with an error
  }

  void do_read() {
    if (closing_) {
      return do_close();
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->options.header_limit));
    parser_->body_limit(state_->options.body_limit);
    set_deadline();
    reading_ = true;
    waiting_on_client_ = true;
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t /*bytes*/) {
    reading_ = false;
    waiting_on_client_ = false;
    if (ec == http::error::end_of_stream) {
      return do_close();
    }
    if (ec) {
      if (ec.category() == beast::http::make_error_code(http::error::bad_target).category() &&
          ec != http::error::partial_message && socket_.is_open()) {
        return reject(ec);
      }
      // Deadline, cancellation or a socket error: nothing can be written.
      return close();
    }
    handle_request();
  }

  // Answers a request that could not be parsed, then closes the connection.
  void reject(error_code ec) {
    http::status status = http::status::bad_request;
    std::string_view message = "malformed HTTP request";
    if (ec == http::error::header_limit || ec == beast::http::error::buffer_overflow) {
      // Beast keeps the unparsed header in the buffer: no CRLF in it at all
      // means the request line alone was too long.
      const auto data = buffer_.cdata();
      const std::string_view head(static_cast<const char*>(data.data()), data.size());
      if (head.find("\r\n") == std::string_view::npos) {
        status = http::status::uri_too_long;
        message = "request target too long";
      } else {
        status = http::status::request_header_fields_too_large;
        message = "request headers too large";
      }
    } else if (ec == http::error::body_limit) {
      status = http::status::payload_too_large;
      message = "request body too large";
    }
    closing_ = true;
    route_ = RouteId::kOther;
    respond_with(status, message);
  }

  void respond_with(http::status status, std::string_view message) {
    Response res;
    make_error_response(status, message, res);
    out_.clear();
    serialize_response(res, out_);
    do_write(static_cast<unsigned>(status));
  }

  void handle_request() {
    const Request& req = parser_->get();
    if (req.find(http::field::transfer_encoding) != req.end() && !req.chunked()) {
      // RFC 9112 6.3: a request whose final transfer coding is not chunked has
      // no knowable length; answer 400 and close (a request-smuggling vector).
      route_ = RouteId::kOther;
      closing_ = true;
      return respond_with(http::status::bad_request, "unsupported Transfer-Encoding");
    }
    if (!req.keep_alive()) {
      closing_ = true;
    }
    try {
      Response res;
      const Route what = route_request(req, state_->options.handler, user_, res, route_);
      if (what == Route::kLimit) {
        state_->service.check(user_, [self = shared_from_this()](const Decision& d) {
          // The memory backend answers inline, on this strand, and dispatch
          // then runs on_decision inline too; Redis answers later, on its
          // connection's strand, and dispatch hops back onto ours.
          asio::dispatch(self->socket_.get_executor(), [self, d] { self->on_decision(d); });
        });
        return;
      }
      if (what == Route::kReady) {
        make_ready_response(req, state_->service.ready(), state_->options.backend, res);
      } else if (what == Route::kMetrics) {
        make_metrics_response(
            req, state_->options.render_metrics ? state_->options.render_metrics() : std::string{},
            res);
      }
      if (closing_) res.keep_alive(false);
      out_.clear();
      serialize_response(res, out_);
      do_write(res.result_int());
    } catch (const std::exception& e) {
      fail(e);
    }
  }

  void on_decision(const Decision& d) {
    try {
      out_.clear();
      write_ping_response(parser_->get(), state_->options.handler, d, !closing_, out_);
      do_write(d.allowed() ? 200 : d.outcome == Decision::Outcome::kLimited ? 429 : 503);
    } catch (const std::exception& e) {
      fail(e);
    }
  }

  // The one catch at the session boundary: an unexpected exception becomes a 500.
  void fail(const std::exception& e) {
    spdlog::error("internal error while handling a request: {}", e.what());
    closing_ = true;
    respond_with(http::status::internal_server_error, "internal error");
  }

  void do_write(unsigned status) {
    state_->http_metrics.count(route_, status);
    // Most responses fit in the socket's send buffer: write them at once,
    // without an asynchronous operation or a timer.
    error_code ec;
    const std::size_t written = socket_.write_some(asio::buffer(out_), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      return close();
    }
    if (written == out_.size()) {
      return after_write();
    }
    // The client is not reading fast enough: finish asynchronously, under
    // the deadline, so that a client that never reads cannot hold us.
    set_deadline();
    waiting_on_client_ = true;
    asio::async_write(socket_, asio::buffer(out_.data() + written, out_.size() - written),
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(error_code ec, std::size_t /*bytes*/) {
    waiting_on_client_ = false;
    if (ec) {
      return close();
    }
    after_write();
  }

  void after_write() {
    if (closing_) {
      return do_close();
    }
    do_read();
  }

  void do_close() {
    // Half-close: the client reads everything we sent, then sees EOF.
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    timer_.cancel();
  }

  void close() {
    error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
  }

  Socket socket_;
  asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                             Strand>
      timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;   // the response being written; its capacity is reused
  std::string user_;  // reused across requests: no allocation per request
  RouteId route_ = RouteId::kOther;
  std::shared_ptr<ServerState> state_;
  std::chrono::steady_clock::time_point deadline_{};
  bool timer_armed_ = false;
  bool waiting_on_client_ = false;
  bool reading_ = false;
  bool closing_ = false;
};

}  // namespace detail

HttpServer::HttpServer(asio::io_context& ioc, const tcp::endpoint& endpoint,
                       RateLimitService& service, const ServerOptions& options)
    : ioc_(ioc),
      state_(std::make_shared<detail::ServerState>(service, options)),
      acceptor_(asio::make_strand(ioc)),
      retry_timer_(acceptor_.get_executor()) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

HttpServer::~HttpServer() {
  // Sessions still queued in a stopped io_context die after the server; their
  // destructors must not call back into whoever asked to hear about draining.
  std::lock_guard lock(state_->mutex);
  state_->on_drained = nullptr;
}

void HttpServer::start() {
  asio::dispatch(acceptor_.get_executor(), [this] { do_accept(); });
}

void HttpServer::do_accept() {
  acceptor_.async_accept(beast::bind_front_handler(&HttpServer::on_accept, this));
}

void HttpServer::on_accept(const error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) {
    return;
  }
  if (ec) {
    // Typically EMFILE: out of descriptors. Retrying at once would spin, so
    // pause briefly; existing connections keep being served meanwhile.
    static LogThrottle throttle(std::chrono::seconds(10));
    if (throttle.allow()) {
      spdlog::warn("accept failed: {} (retrying)", ec.message());
    }
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([this](error_code wait_ec) {
      if (!wait_ec && acceptor_.is_open()) {
        do_accept();
      }
    });
    return;
  }
  error_code ignored;
  bool full = false;
  {
    std::lock_guard lock(state_->mutex);
    full = state_->sessions.size() >= state_->options.max_connections;
  }
  if (full) {
    // Over the cap: close at once (an RST, no lingering), which costs the
    // existing connections nothing. Counted, and warned about once in a while.
    state_->rejected.fetch_add(1, std::memory_order_relaxed);
    static LogThrottle throttle(std::chrono::seconds(10));
    if (throttle.allow()) {
      spdlog::warn("MAX_CONNECTIONS ({}) reached: closing new connections",
                   state_->options.max_connections);
    }
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
    return do_accept();
  }
  socket.set_option(tcp::no_delay(true), ignored);
  const tcp protocol = socket.local_endpoint(ignored).protocol();
  const auto fd = socket.release(ignored);
  std::make_shared<detail::Session>(protocol, fd, asio::make_strand(ioc_), state_)->start();
  do_accept();
}

void HttpServer::shutdown(std::function<void()> on_drained) {
  asio::dispatch(acceptor_.get_executor(), [this] {
    error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
  });
  std::vector<std::shared_ptr<detail::Session>> live;
  {
    std::lock_guard lock(state_->mutex);
    state_->shutting_down = true;
    state_->on_drained = std::move(on_drained);
    state_->check_drained();
    live.reserve(state_->sessions.size());
    for (detail::Session* s : state_->sessions) {
      // A session whose last owner is gone is in its destructor: skip it.
      if (auto sp = s->weak_from_this().lock()) {
        live.push_back(std::move(sp));
      }
    }
  }
  for (auto& s : live) {
    asio::dispatch(s->executor(), [s] { s->on_shutdown(); });
  }
}

const HttpMetrics& HttpServer::http_metrics() const { return state_->http_metrics; }

std::uint64_t HttpServer::rejected_connections() const {
  return state_->rejected.load(std::memory_order_relaxed);
}

std::size_t HttpServer::connections() const {
  std::lock_guard lock(state_->mutex);
  return state_->sessions.size();
}

}  // namespace aegis
