#include "aegis/http_handler.hpp"

#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "aegis/version.hpp"

namespace aegis {
namespace {

constexpr std::string_view kServer = "aegis/" AEGIS_VERSION;
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kProblemJson = "application/problem+json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kAllow = "GET, HEAD";

// Wall-clock strings change once a second; format them once per second per
// thread instead of once per request.
struct TimeStrings {
  std::time_t second = -1;
  std::array<char, 32> rfc3339{};  // 2026-12-03T16:14:57Z
  std::array<char, 40> http_date{};  // Thu, 03 Dec 2026 16:14:57 GMT
};

const TimeStrings& now_strings() {
  thread_local TimeStrings cache;
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (t != cache.second) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(cache.rfc3339.data(), cache.rfc3339.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::strftime(cache.http_date.data(), cache.http_date.size(), "%a, %d %b %Y %H:%M:%S GMT",
                  &tm);
    cache.second = t;
  }
  return cache;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in` (with '+' as space) into `out`.
UserParam decode(std::string_view in, std::size_t max_bytes, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) {
        return UserParam::kBadEncoding;
      }
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) {
        return UserParam::kBadEncoding;
      }
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return UserParam::kControl;
    }
    if (out.size() == max_bytes) {
      return UserParam::kTooLong;
    }
    out.push_back(c);
  }
  return out.empty() ? UserParam::kMissing : UserParam::kFound;
}

void common_headers(Response& res, http::status status, std::string_view content_type) {
  res.result(status);
  res.set(http::field::server, kServer);
  res.set(http::field::date, now_strings().http_date.data());
  res.set(http::field::content_type, content_type);
}

// Sets the body; for HEAD, only its length.
void set_body(const Request& req, Response& res, std::string body) {
  if (req.method() == http::verb::head) {
    res.content_length(body.size());
    res.body().clear();
  } else {
    res.body() = std::move(body);
    res.prepare_payload();
  }
}

std::string json_error(std::string_view message) {
  // Messages are our own constants: no user input is reflected, so nothing to escape.
  return "{\"error\":\"" + std::string(message) + "\"}\n";
}

void respond_error(const Request& req, Response& res, http::status status,
                   std::string_view message) {
  common_headers(res, status, kJson);
  set_body(req, res, json_error(message));
}

constexpr std::string_view kUsage = "/ping?user=<your_name>";

}  // namespace

void split_target(std::string_view target, std::string_view& path, std::string_view& query) {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    const auto after_scheme = target.find("//") + 2;
    const auto slash = target.find_first_of("/?", after_scheme);
    target = slash == std::string_view::npos ? std::string_view{"/"} : target.substr(slash);
    if (target.front() == '?') {
      query = target.substr(1);
      path = "/";
      return;
    }
  }
  const auto hash = target.find('#');
  if (hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  const auto q = target.find('?');
  path = target.substr(0, q);
  query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

UserParam find_user(std::string_view query, std::size_t max_bytes, std::string& out) {
  UserParam result = UserParam::kMissing;
  bool seen = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair == "user" || pair.starts_with("user=")) {
      if (seen) {
        return UserParam::kDuplicate;
      }
      seen = true;
      result = decode(pair.substr(std::min<std::size_t>(pair.size(), 5)), max_bytes, out);
      if (result != UserParam::kFound && result != UserParam::kMissing) {
        return result;
      }
    }
  }
  return result;
}

std::string policy_header(const Policy& policy) {
  const long long window_s = (policy.window().count() + 999'999) / 1'000'000;
  return "\"default\";q=" + std::to_string(policy.capacity) + ";w=" + std::to_string(window_s);
}

Route route_request(const Request& req, const HandlerOptions& options, std::string& user,
                    Response& res, RouteId& route) {
  std::string_view path;
  std::string_view query;
  split_target({req.target().data(), req.target().size()}, path, query);
  const bool get_or_head = req.method() == http::verb::get || req.method() == http::verb::head;
  res.version(req.version());
  res.keep_alive(req.keep_alive());

  if (path == "/ping") {
    route = RouteId::kPing;
  } else if (path == "/") {
    route = RouteId::kRoot;
  } else if (path == "/healthz") {
    route = RouteId::kHealthz;
  } else if (path == "/readyz") {
    route = RouteId::kReadyz;
  } else if (path == "/metrics") {
    route = RouteId::kMetrics;
  } else {
    route = RouteId::kOther;
    respond_error(req, res, http::status::not_found,
                  "not found; try GET " + std::string(kUsage));
    return Route::kRespond;
  }
  if (!get_or_head) {
    respond_error(req, res, http::status::method_not_allowed,
                  "method not allowed; use GET or HEAD");
    res.set(http::field::allow, kAllow);
    return Route::kRespond;
  }

  switch (route) {
    case RouteId::kHealthz:
      // Liveness: the process is up and serving, whatever the backend's state.
      common_headers(res, http::status::ok, kJson);
      set_body(req, res, "{\"status\":\"ok\"}\n");
      return Route::kRespond;
    case RouteId::kReadyz:
      return Route::kReady;
    case RouteId::kMetrics:
      return Route::kMetrics;
    default:
      break;
  }

  if (route == RouteId::kRoot) {
    common_headers(res, http::status::ok, kText);
    set_body(req, res,
             "AegisAPI rate limiter.\n"
             "Ask for a token with: GET /ping?user=<your_name>\n"
             "Each user has a bucket of tokens that refills over time; 200 means your\n"
             "request was allowed, 429 means slow down (see the Retry-After header).\n");
    return Route::kRespond;
  }

  switch (find_user(query, options.max_key_bytes, user)) {
    case UserParam::kFound:
      return Route::kLimit;
    case UserParam::kMissing:
      respond_error(req, res, http::status::bad_request,
                    "missing query parameter 'user'. Usage: " + std::string(kUsage));
      break;
    case UserParam::kBadEncoding:
      respond_error(req, res, http::status::bad_request,
                    "invalid percent-encoding in 'user'. Usage: " + std::string(kUsage));
      break;
    case UserParam::kDuplicate:
      respond_error(req, res, http::status::bad_request,
                    "query parameter 'user' given more than once");
      break;
    case UserParam::kTooLong:
      respond_error(req, res, http::status::bad_request,
                    "'user' is longer than " + std::to_string(options.max_key_bytes) +
                        " bytes");
      break;
    case UserParam::kControl:
      respond_error(req, res, http::status::bad_request,
                    "'user' must not contain control characters");
      break;
  }
  return Route::kRespond;
}

void write_ping_response(const Request& req, const HandlerOptions& options,
                         const Decision& decision, bool keep_alive, std::string& out) {
  const bool head = req.method() == http::verb::head;
  const bool degraded = decision.degraded || decision.outcome == Decision::Outcome::kUnavailable;
  std::string_view status_line;
  std::string_view content_type;
  char body_buf[512];
  std::string_view body;
  long long retry = 0;
  if (decision.allowed()) {
    status_line = "200 OK";
    content_type = kText;
    const int n = std::snprintf(body_buf, sizeof body_buf,
                                "Hello! Your request was successful. Time : %s\n",
                                now_strings().rfc3339.data());
    body = {body_buf, static_cast<std::size_t>(n)};
  } else if (decision.outcome == Decision::Outcome::kLimited) {
    // Retry-After and t round the same wait up, so Retry-After is never earlier.
    retry = retry_after_seconds(decision.retry_after);
    status_line = "429 Too Many Requests";
    content_type = kProblemJson;
    // RFC 9457 problem details, with the problem type that the RateLimit
    // header draft registers; "error" keeps clients of the original working.
    const int n = std::snprintf(
        body_buf, sizeof body_buf,
        "{\"type\":\"https://iana.org/assignments/http-problem-types#quota-exceeded\","
        "\"title\":\"Too Many Requests\",\"status\":429,"
        "\"detail\":\"No tokens left; the next one comes in %lld s.\","
        "\"violated-policies\":[\"default\"],\"error\":\"Too many requests. Slow down!\"}\n",
        retry);
    body = {body_buf, static_cast<std::size_t>(n)};
  } else {
    // The backend could not decide and the service fails closed.
    retry = 1;
    status_line = "503 Service Unavailable";
    content_type = kJson;
    body = "{\"error\":\"rate limiter unavailable; try again shortly\"}\n";
  }

  char num[32];
  const auto append_int = [&](long long v) {
    const int n = std::snprintf(num, sizeof num, "%lld", v);
    out.append(num, static_cast<std::size_t>(n));
  };
  out += req.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += status_line;
  out += "\r\nServer: ";
  out += kServer;
  out += "\r\nDate: ";
  out += now_strings().http_date.data();
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nRateLimit-Policy: ";
  out += options.policy_header;
  if (degraded) {
    out += "\r\nAegis-Degraded: ?1";
  } else {
    // t: whole seconds until the next token, rounded up (0 only when full).
    out += "\r\nRateLimit: \"default\";r=";
    append_int(decision.remaining);
    out += ";t=";
    append_int((decision.retry_after.count() + 999'999) / 1'000'000);
  }
  if (retry > 0) {
    out += "\r\nRetry-After: ";
    append_int(retry);
  }
  if (!keep_alive && req.version() == 11) {
    out += "\r\nConnection: close";
  } else if (keep_alive && req.version() == 10) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\nContent-Length: ";
  append_int(static_cast<long long>(body.size()));
  out += "\r\n\r\n";
  if (!head) {
    out += body;
  }
}

void serialize_response(const Response& res, std::string& out) {
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.result_int());
  out += ' ';
  out += std::string_view(res.reason().data(), res.reason().size());
  out += "\r\n";
  for (const auto& field : res) {
    out += std::string_view(field.name_string().data(), field.name_string().size());
    out += ": ";
    out += std::string_view(field.value().data(), field.value().size());
    out += "\r\n";
  }
  out += "\r\n";
  out += res.body();
}

void make_ready_response(const Request& req, bool ready, std::string_view backend,
                         Response& res) {
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  common_headers(res, ready ? http::status::ok : http::status::service_unavailable, kJson);
  res.set(http::field::cache_control, "no-store");
  std::string body = "{\"status\":\"";
  body += ready ? "ready" : "not ready";
  body += "\",\"backend\":\"";
  body += backend;
  body += "\",\"reason\":\"";
  if (ready) {
    body += backend == "redis" ? "connected to Redis" : "in-memory buckets are always available";
  } else {
    body += "not connected to Redis (requests are answered per FAIL_MODE)";
  }
  body += "\"}\n";
  set_body(req, res, std::move(body));
}

void make_metrics_response(const Request& req, std::string body, Response& res) {
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  common_headers(res, http::status::ok, kPrometheus);
  res.set(http::field::cache_control, "no-store");
  set_body(req, res, std::move(body));
}

void make_error_response(http::status status, std::string_view message, Response& res) {
  res.version(11);
  res.keep_alive(false);
  common_headers(res, status, kJson);
  res.body() = json_error(message);
  res.prepare_payload();
}

long long retry_after_seconds(Micros wait) {
  const long long us = wait.count();
  return std::max(1LL, (us + 999'999) / 1'000'000);
}

}  // namespace aegis
