// Routing and responses: a plain function of (request, decision) -> response,
// testable without sockets. Knows nothing of connections or backends.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "aegis/decision.hpp"
#include "aegis/metrics.hpp"
#include "aegis/token_bucket.hpp"

namespace aegis {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// What a request target's query says about `user`.
enum class UserParam : std::uint8_t {
  kFound,        // decoded into the output string
  kMissing,      // absent or empty
  kBadEncoding,  // a '%' not followed by two hex digits
  kDuplicate,    // given more than once (ambiguous: rejected, see README)
  kTooLong,      // longer than the limit after decoding
  kControl,      // contains a control byte (NUL, CR, LF, ...)
};

// Splits an origin-form ("/p?q") or absolute-form ("http://h/p?q") target into
// its path and query (without the '?'). Never fails; an odd target just yields
// a path that matches no route.
void split_target(std::string_view target, std::string_view& path, std::string_view& query);

// Finds the `user` parameter in a query string and percent-decodes it into
// `out` ('+' is a space, as in HTML forms). `out` is reused to avoid allocation.
UserParam find_user(std::string_view query, std::size_t max_bytes, std::string& out);

// What to do with a request.
enum class Route : std::uint8_t {
  kRespond,  // `res` is complete
  kLimit,    // ask the limiter about `user`, then call write_ping_response
  kReady,    // answer with make_ready_response
  kMetrics,  // answer with make_metrics_response
};

struct HandlerOptions {
  std::size_t max_key_bytes = 256;
  // The RateLimit-Policy header value, formatted once (see policy_header).
  std::string policy_header = "\"default\";q=4;w=20";
};

// The RateLimit-Policy field for a policy: "default";q=<capacity>;w=<seconds
// for an empty bucket to refill, rounded up>.
std::string policy_header(const Policy& policy);

// Routes a request. On kLimit, `user` holds the decoded user name; on
// kRespond, `res` holds the whole response (404, 405, 400, the welcome page,
// /healthz...). `route` says which handler answered, for metrics.
Route route_request(const Request& req, const HandlerOptions& options, std::string& user,
                    Response& res, RouteId& route);

// Appends to `out` the whole answer (status line, headers, body) to a /ping
// request given the limiter's decision: 200, 429 (an RFC 9457 problem
// document), or 503 when the backend failed and the service fails closed.
// Every answer carries RateLimit-Policy; a decision made by the backend carries
// RateLimit; a degraded one says so instead with `Aegis-Degraded: ?1`, as its
// remaining quota is unknown. `keep_alive` false adds Connection: close.
// Written as bytes, not a Response: this is the hot path (see bench/README.md).
void write_ping_response(const Request& req, const HandlerOptions& options,
                         const Decision& decision, bool keep_alive, std::string& out);

// Appends `res` to `out` in HTTP/1.1 wire format (for the other, rare routes).
void serialize_response(const Response& res, std::string& out);

// /readyz: 200 when the backend can decide, else 503; a short JSON body says why.
void make_ready_response(const Request& req, bool ready, std::string_view backend,
                         Response& res);

// /metrics: the Prometheus text exposition format.
void make_metrics_response(const Request& req, std::string body, Response& res);

// Fills `res` with an error for a request that could not be parsed or handled:
// 400, 413, 414, 431 or 500. The connection is to be closed after it.
void make_error_response(http::status status, std::string_view message, Response& res);

// Retry-After in whole seconds for a wait: rounded up, at least 1.
long long retry_after_seconds(Micros wait);

}  // namespace aegis
