// Routing and responses: a plain function of (request, decision) -> response,
// testable without sockets. Knows nothing of connections or backends.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "aegis/decision.hpp"

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
  kLimit,    // ask the limiter about `user`, then call make_ping_response
};

struct HandlerOptions {
  std::size_t max_key_bytes = 256;
};

// Routes a request. On kLimit, `user` holds the decoded user name; otherwise
// `res` holds the whole response (404, 405, 400, the welcome page, ...).
Route route_request(const Request& req, const HandlerOptions& options, std::string& user,
                    Response& res);

// Fills `res` with the answer to a /ping request given the limiter's decision.
void make_ping_response(const Request& req, const Decision& decision, Response& res);

// Fills `res` with an error for a request that could not be parsed or handled:
// 400, 413, 414, 431 or 500. The connection is to be closed after it.
void make_error_response(http::status status, std::string_view message, Response& res);

// Retry-After in whole seconds for a wait: rounded up, at least 1.
long long retry_after_seconds(Micros wait);

}  // namespace aegis
