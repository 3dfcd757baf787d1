#include "aegis/http_handler.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>
#include <regex>

namespace aegis {
namespace {

// The bytes write_ping_response produces, parsed back by Beast's own parser:
// also proves they are a well-formed HTTP response.
Response ping_response(const Request& req, const HandlerOptions& options, const Decision& d,
                       bool keep_alive = true) {
  std::string bytes;
  write_ping_response(req, options, d, keep_alive, bytes);
  http::response_parser<http::string_body> parser;
  parser.skip(req.method() == http::verb::head);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (!parser.is_done() && !ec && used < bytes.size()) {
    used += parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
  }
  EXPECT_FALSE(ec) << ec.message() << "\n" << bytes;
  EXPECT_EQ(used, bytes.size()) << "nothing may follow the response";
  EXPECT_TRUE(parser.is_done()) << bytes;
  return parser.release();
}

Request make_request(http::verb verb, std::string_view target) {
  Request req{verb, target, 11};
  req.set(http::field::host, "localhost");
  return req;
}

struct Routed {
  Route route;
  std::string user;
  Response res;
  RouteId id = RouteId::kOther;
};

Routed route(http::verb verb, std::string_view target, std::size_t max_key_bytes = 256) {
  Routed r;
  HandlerOptions options;
  options.max_key_bytes = max_key_bytes;
  r.route = route_request(make_request(verb, target), options, r.user, r.res, r.id);
  return r;
}

TEST(FindUser, DecodesPercentAndPlus) {
  std::string out;
  EXPECT_EQ(find_user("user=%61lice", 256, out), UserParam::kFound);
  EXPECT_EQ(out, "alice");
  EXPECT_EQ(find_user("x=1&user=john+doe&y=2", 256, out), UserParam::kFound);
  EXPECT_EQ(out, "john doe");
  EXPECT_EQ(find_user("user=%C3%A9t%C3%A9", 256, out), UserParam::kFound);
  EXPECT_EQ(out, "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(find_user("user=a%2Bb%26c", 256, out), UserParam::kFound);
  EXPECT_EQ(out, "a+b&c");
}

TEST(FindUser, MissingAndEmpty) {
  std::string out;
  EXPECT_EQ(find_user("", 256, out), UserParam::kMissing);
  EXPECT_EQ(find_user("name=alice", 256, out), UserParam::kMissing);
  EXPECT_EQ(find_user("username=alice", 256, out), UserParam::kMissing);
  EXPECT_EQ(find_user("user=", 256, out), UserParam::kMissing);
  EXPECT_EQ(find_user("user", 256, out), UserParam::kMissing);
}

TEST(FindUser, RejectsBadEncodingDuplicatesControlsAndLength) {
  std::string out;
  EXPECT_EQ(find_user("user=%", 256, out), UserParam::kBadEncoding);
  EXPECT_EQ(find_user("user=a%4", 256, out), UserParam::kBadEncoding);
  EXPECT_EQ(find_user("user=%zz", 256, out), UserParam::kBadEncoding);
  EXPECT_EQ(find_user("user=a&user=b", 256, out), UserParam::kDuplicate);
  EXPECT_EQ(find_user("user=&user=b", 256, out), UserParam::kDuplicate);
  EXPECT_EQ(find_user("user=a%00b", 256, out), UserParam::kControl);
  EXPECT_EQ(find_user("user=a%0D%0Ab", 256, out), UserParam::kControl);
  EXPECT_EQ(find_user("user=a%7F", 256, out), UserParam::kControl);
  EXPECT_EQ(find_user("user=abcd", 4, out), UserParam::kFound);
  EXPECT_EQ(find_user("user=abcde", 4, out), UserParam::kTooLong);
  EXPECT_EQ(find_user("user=%61%61%61%61", 4, out), UserParam::kFound) << "limit is on decoded bytes";
}

TEST(SplitTarget, OriginAndAbsoluteForms) {
  std::string_view path;
  std::string_view query;
  split_target("/ping?user=a", path, query);
  EXPECT_EQ(path, "/ping");
  EXPECT_EQ(query, "user=a");
  split_target("http://example.com:8080/ping?user=b", path, query);
  EXPECT_EQ(path, "/ping");
  EXPECT_EQ(query, "user=b");
  split_target("http://example.com", path, query);
  EXPECT_EQ(path, "/");
  split_target("/ping#frag", path, query);
  EXPECT_EQ(path, "/ping");
  EXPECT_EQ(query, "");
  split_target("*", path, query);
  EXPECT_EQ(path, "*");
}

TEST(Route, PingWithUserAsksTheLimiter) {
  const Routed r = route(http::verb::get, "/ping?user=alice");
  EXPECT_EQ(r.route, Route::kLimit);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(route(http::verb::head, "/ping?user=bob").route, Route::kLimit);
}

TEST(Route, ErrorsAreJsonWithANewline) {
  const Routed missing = route(http::verb::get, "/ping");
  EXPECT_EQ(missing.route, Route::kRespond);
  EXPECT_EQ(missing.res.result(), http::status::bad_request);
  EXPECT_NE(missing.res.body().find("/ping?user=<your_name>"), std::string::npos);
  EXPECT_EQ(missing.res.body().back(), '\n');
  EXPECT_EQ(missing.res[http::field::content_type], "application/json");

  const Routed too_long = route(http::verb::get, "/ping?user=abcdefghi", 8);
  EXPECT_EQ(too_long.res.result(), http::status::bad_request);
  EXPECT_NE(too_long.res.body().find("longer than 8 bytes"), std::string::npos);

  EXPECT_EQ(route(http::verb::get, "/ping?user=%G1").res.result(), http::status::bad_request);
  EXPECT_EQ(route(http::verb::get, "/nope").res.result(), http::status::not_found);
  EXPECT_EQ(route(http::verb::get, "/ping/").res.result(), http::status::not_found);

  const Routed post = route(http::verb::post, "/ping?user=a");
  EXPECT_EQ(post.res.result(), http::status::method_not_allowed);
  EXPECT_EQ(post.res[http::field::allow], "GET, HEAD");
  EXPECT_EQ(route(http::verb::delete_, "/").res.result(), http::status::method_not_allowed);
}

TEST(Route, WelcomePageExplainsPing) {
  const Routed r = route(http::verb::get, "/");
  EXPECT_EQ(r.res.result(), http::status::ok);
  EXPECT_NE(r.res.body().find("/ping?user="), std::string::npos);
  EXPECT_EQ(r.res.body().back(), '\n');
}

TEST(PingResponse, AllowedIsAGreetingWithAnRfc3339Time) {
  Decision d;
  d.outcome = Decision::Outcome::kAllowed;
  const Response res = ping_response(make_request(http::verb::get, "/ping?user=a"), HandlerOptions{}, d);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(std::regex_match(
      res.body(), std::regex("Hello! Your request was successful\\. Time : "
                             "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\n")))
      << res.body();
  EXPECT_EQ(res[http::field::content_type], "text/plain; charset=utf-8");
  EXPECT_FALSE(res[http::field::date].empty());
}

TEST(PingResponse, LimitedIs429WithRetryAfterRoundedUp) {
  Decision d;
  d.outcome = Decision::Outcome::kLimited;
  d.retry_after = Micros{4'000'001};
  const Response res = ping_response(make_request(http::verb::get, "/ping?user=a"), HandlerOptions{}, d);
  EXPECT_EQ(res.result(), http::status::too_many_requests);
  EXPECT_EQ(res[http::field::retry_after], "5");
  EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  const std::string& body = res.body();
  EXPECT_NE(body.find("\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\""),
            std::string::npos) << body;
  EXPECT_NE(body.find("\"status\":429"), std::string::npos);
  EXPECT_NE(body.find("\"title\":"), std::string::npos);
  EXPECT_NE(body.find("\"violated-policies\":[\"default\"]"), std::string::npos);
  EXPECT_NE(body.find("\"error\":\"Too many requests. Slow down!\""), std::string::npos)
      << "clients of the original read 'error'";
  EXPECT_EQ(body.back(), '\n');
}

TEST(PingResponse, RateLimitHeadersFollowTheDraft) {
  Policy p;
  ASSERT_EQ(Policy::make(4, 0.2, &p), "");
  HandlerOptions options;
  options.policy_header = policy_header(p);
  EXPECT_EQ(options.policy_header, "\"default\";q=4;w=20");

  Decision allowed;
  allowed.outcome = Decision::Outcome::kAllowed;
  allowed.remaining = 2;
  allowed.retry_after = Micros{4'200'000};
  const Response res = ping_response(make_request(http::verb::get, "/ping?user=a"), options, allowed);
  EXPECT_EQ(res["RateLimit-Policy"], "\"default\";q=4;w=20");
  EXPECT_EQ(res["RateLimit"], "\"default\";r=2;t=5");
  EXPECT_TRUE(res["Aegis-Degraded"].empty());

  Decision limited;
  limited.outcome = Decision::Outcome::kLimited;
  limited.retry_after = Micros{3'000'000};
  const Response res429 = ping_response(make_request(http::verb::get, "/ping?user=a"), options, limited);
  EXPECT_EQ(res429["RateLimit"], "\"default\";r=0;t=3");
  EXPECT_EQ(res429[http::field::retry_after], "3") << "never earlier than t";
}

TEST(PingResponse, DegradedAnswersSaySoInsteadOfAQuota) {
  Decision d;
  d.outcome = Decision::Outcome::kAllowed;
  d.degraded = true;
  const Response res = ping_response(make_request(http::verb::get, "/ping?user=a"), HandlerOptions{}, d);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res["Aegis-Degraded"], "?1");
  EXPECT_TRUE(res["RateLimit"].empty()) << "the remaining quota is unknown";
  EXPECT_FALSE(res["RateLimit-Policy"].empty());
}

TEST(Route, HealthReadinessAndMetrics) {
  const Routed health = route(http::verb::get, "/healthz");
  EXPECT_EQ(health.route, Route::kRespond);
  EXPECT_EQ(health.id, RouteId::kHealthz);
  EXPECT_EQ(health.res.result(), http::status::ok);
  EXPECT_EQ(health.res.body(), "{\"status\":\"ok\"}\n");
  EXPECT_EQ(route(http::verb::get, "/readyz").route, Route::kReady);
  EXPECT_EQ(route(http::verb::get, "/metrics").route, Route::kMetrics);
  EXPECT_EQ(route(http::verb::post, "/metrics").res.result(), http::status::method_not_allowed);
  EXPECT_EQ(route(http::verb::get, "/ping?user=x").id, RouteId::kPing);
  EXPECT_EQ(route(http::verb::get, "/x").id, RouteId::kOther);

  Response ready;
  make_ready_response(make_request(http::verb::get, "/readyz"), true, "redis", ready);
  EXPECT_EQ(ready.result(), http::status::ok);
  EXPECT_NE(ready.body().find("\"status\":\"ready\""), std::string::npos);
  Response not_ready;
  make_ready_response(make_request(http::verb::get, "/readyz"), false, "redis", not_ready);
  EXPECT_EQ(not_ready.result(), http::status::service_unavailable);
  EXPECT_NE(not_ready.body().find("not connected to Redis"), std::string::npos);
}

TEST(PingResponse, HeadHasTheLengthButNoBody) {
  Decision d;
  d.outcome = Decision::Outcome::kLimited;
  const Response res = ping_response(make_request(http::verb::head, "/ping?user=a"), HandlerOptions{}, d);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(res[http::field::content_length], std::to_string(std::string_view(
      "{\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\",\"title\":"
      "\"Too Many Requests\",\"status\":429,\"detail\":\"No tokens left; the next one comes in 1 "
      "s.\",\"violated-policies\":[\"default\"],\"error\":\"Too many requests. Slow down!\"}\n").size()));
}

TEST(PingResponse, UnavailableIs503) {
  Decision d;
  d.outcome = Decision::Outcome::kUnavailable;
  const Response res = ping_response(make_request(http::verb::get, "/ping?user=a"), HandlerOptions{}, d);
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res[http::field::retry_after], "1");

  const Response closing =
      ping_response(make_request(http::verb::get, "/ping?user=a"), HandlerOptions{}, d, false);
  EXPECT_EQ(closing[http::field::connection], "close");
}

TEST(SerializeResponse, WritesStatusFieldsAndBody) {
  Response res{http::status::not_found, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = "{}\n";
  res.prepare_payload();
  std::string out;
  serialize_response(res, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{}\n");
}

TEST(RetryAfter, WholeSecondsRoundedUpAtLeastOne) {
  EXPECT_EQ(retry_after_seconds(Micros{0}), 1);
  EXPECT_EQ(retry_after_seconds(Micros{1}), 1);
  EXPECT_EQ(retry_after_seconds(Micros{1'000'000}), 1);
  EXPECT_EQ(retry_after_seconds(Micros{1'000'001}), 2);
  EXPECT_EQ(retry_after_seconds(Micros{5'000'000}), 5);
}

}  // namespace
}  // namespace aegis
