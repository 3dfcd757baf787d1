// Fuzzes request parsing and routing: raw bytes through Beast's parser with
// the server's limits, then our target splitting, query decoding and routing.
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "aegis/http_handler.hpp"

using namespace aegis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The query decoder on its own, with its invariants.
  std::string user;
  const UserParam p = find_user(input, 64, user);
  if (p == UserParam::kFound) {
    if (user.empty() || user.size() > 64) std::abort();
    for (const char c : user) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) std::abort();  // control bytes must never pass
    }
  }
  std::string_view path, query;
  split_target(input, path, query);
  if (path.size() + query.size() > input.size()) std::abort();

  // A whole request, as the session parses it.
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(4 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  const Request& req = parser.get();
  HandlerOptions options;
  Response res;
  RouteId route = RouteId::kOther;
  if (route_request(req, options, user, res, route) == Route::kLimit) {
    Decision d;
    d.outcome = size % 2 == 0 ? Decision::Outcome::kAllowed : Decision::Outcome::kLimited;
    d.retry_after = Micros{static_cast<long long>(size) * 12345};
    std::string out;
    write_ping_response(req, options, d, req.keep_alive(), out);
    if (out.find("\r\n\r\n") == std::string::npos) std::abort();
  } else if (res.result_int() >= 500) {
    std::abort();  // bad input is never a 5xx
  }
  return 0;
}
