#include "aegis/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <thread>

namespace aegis {
namespace {

constexpr std::array kVariables{
    VariableInfo{"PORT", "8080", "TCP port to listen on (all interfaces), 1-65535."},
    VariableInfo{"THREADS", "", "I/O threads, 1-256. Default: the number of cores."},
    VariableInfo{"RATE_LIMIT_CAPACITY", "4", "Tokens per bucket (the burst), 1-1000000000."},
    VariableInfo{"RATE_LIMIT_REFILL_PER_SEC", "0.2",
                 "Tokens added per second, fractions allowed (0.2 = one every 5 s)."},
    VariableInfo{"MAX_KEY_BYTES", "256", "Longest accepted user name in bytes, after decoding."},
    VariableInfo{"MEMORY_MAX_KEYS", "1000000",
                 "Most buckets the memory backend holds; past it, the nearest-to-full is evicted."},
    VariableInfo{"REQUEST_TIMEOUT_MS", "10000",
                 "Time a client has to send a whole request, or the next one on a kept-alive "
                 "connection; slower clients are disconnected."},
    VariableInfo{"MAX_CONNECTIONS", "10000",
                 "Most HTTP connections open at once; past it new ones are closed at once."},
    VariableInfo{"LOG_LEVEL", "info", "trace, debug, info, warn, error, critical or off."},
    VariableInfo{"LOG_FORMAT", "text", "text, or json for one JSON object per line."},
    VariableInfo{"REDIS_ADDR", "",
                 "host:port of Redis. Set it (or REDIS_URL) for Redis mode; unset = memory mode."},
    VariableInfo{"REDIS_URL", "", "redis://[[user]:password@]host[:port][/db], instead of REDIS_ADDR."},
    VariableInfo{"REDIS_USERNAME", "", "ACL user for AUTH (Redis 6+); needs REDIS_PASSWORD."},
    VariableInfo{"REDIS_PASSWORD", "", "Password for AUTH; unset = no AUTH."},
    VariableInfo{"REDIS_DB", "0", "Database number, 0-15 (SELECT)."},
    VariableInfo{"REDIS_TIMEOUT_MS", "50",
                 "Deadline for one Redis check; past it the answer follows FAIL_MODE."},
    VariableInfo{"REDIS_KEY_PREFIX", "aegis:", "Prefix of every bucket key in Redis."},
    VariableInfo{"REDIS_CONNECTIONS", "1", "Connections to Redis per instance, 1-64; checks are pipelined on them."},
    VariableInfo{"FAIL_MODE", "open",
                 "When Redis is down or slow: open = allow (marked degraded), closed = answer 503."},
};

std::string_view trim(std::string_view s) {
  const auto* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

[[noreturn]] void reject(std::string_view name, std::string_view value, std::string_view expected) {
  throw ConfigError("invalid " + std::string(name) + "=\"" + std::string(value) +
                    "\": expected " + std::string(expected));
}

// Reads an integer in [lo, hi], or returns `fallback` when unset.
std::int64_t read_int(const Lookup& lookup, std::string_view name, std::int64_t fallback,
                      std::int64_t lo, std::int64_t hi, std::string_view expected) {
  const auto raw = lookup(name);
  if (!raw || trim(*raw).empty()) {
    return fallback;
  }
  const std::string_view v = trim(*raw);
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || end != v.data() + v.size() || out < lo || out > hi) {
    reject(name, *raw, expected);
  }
  return out;
}

double read_double(const Lookup& lookup, std::string_view name, double fallback,
                   std::string_view expected) {
  const auto raw = lookup(name);
  if (!raw || trim(*raw).empty()) {
    return fallback;
  }
  const std::string_view v = trim(*raw);
  double out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || end != v.data() + v.size()) {
    reject(name, *raw, expected);
  }
  return out;
}

}  // namespace

std::span<const VariableInfo> known_variables() { return kVariables; }

Config load_config(const Lookup& lookup) {
  Config c;
  c.port = static_cast<std::uint16_t>(
      read_int(lookup, "PORT", 8080, 1, 65535, "a TCP port from 1 to 65535"));
  const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
  c.threads = static_cast<unsigned>(
      read_int(lookup, "THREADS", std::min(cores, 256U), 1, 256, "an integer from 1 to 256"));

  const auto capacity = read_int(lookup, "RATE_LIMIT_CAPACITY", 4, 1, 1'000'000'000,
                                 "an integer from 1 to 1000000000");
  c.refill_per_sec = read_double(lookup, "RATE_LIMIT_REFILL_PER_SEC", 0.2,
                                 "a number of tokens per second from 0.000001 to 1000000");
  if (std::string err = Policy::make(capacity, c.refill_per_sec, &c.policy); !err.empty()) {
    const auto raw = lookup("RATE_LIMIT_REFILL_PER_SEC").value_or("0.2");
    reject("RATE_LIMIT_REFILL_PER_SEC", raw, err + " (RATE_LIMIT_CAPACITY=" +
                                                 std::to_string(capacity) + ")");
  }

  c.max_key_bytes = static_cast<std::size_t>(
      read_int(lookup, "MAX_KEY_BYTES", 256, 1, 4096, "an integer from 1 to 4096"));
  c.memory_max_keys = static_cast<std::size_t>(read_int(
      lookup, "MEMORY_MAX_KEYS", 1'000'000, 1, 1'000'000'000, "an integer from 1 to 1000000000"));
  c.max_connections = static_cast<std::size_t>(read_int(
      lookup, "MAX_CONNECTIONS", 10'000, 1, 1'000'000, "an integer from 1 to 1000000"));
  c.request_timeout = std::chrono::milliseconds(read_int(
      lookup, "REQUEST_TIMEOUT_MS", 10'000, 100, 600'000, "milliseconds from 100 to 600000"));

  if (const auto level = lookup("LOG_LEVEL"); level && !trim(*level).empty()) {
    std::string v(trim(*level));
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    constexpr std::array<std::string_view, 7> kLevels{"trace", "debug", "info",    "warn",
                                                      "error", "critical", "off"};
    if (std::find(kLevels.begin(), kLevels.end(), v) == kLevels.end()) {
      reject("LOG_LEVEL", *level, "one of trace, debug, info, warn, error, critical, off");
    }
    c.log_level = v;
  }

  const auto present = [&](std::string_view name) -> std::optional<std::string> {
    auto v = lookup(name);
    if (!v || trim(*v).empty()) return std::nullopt;
    return std::string(trim(*v));
  };
  if (auto format = present("LOG_FORMAT")) {
    if (*format == "json" || *format == "JSON") {
      c.log_format = LogFormat::kJson;
    } else if (*format != "text" && *format != "TEXT") {
      reject("LOG_FORMAT", *format, "text or json");
    }
  }
  const auto url = present("REDIS_URL");
  const auto addr = present("REDIS_ADDR");
  if (url && addr) {
    reject("REDIS_ADDR", *addr, "REDIS_ADDR or REDIS_URL, not both (REDIS_URL is set too)");
  }
  if (url || addr) {
    RedisSettings r = url ? parse_redis_url(*url) : RedisSettings{};
    if (addr) parse_redis_addr(*addr, r);
    if (auto user = present("REDIS_USERNAME")) r.username = *user;
    if (auto password = lookup("REDIS_PASSWORD"); password && !password->empty()) {
      r.password = *password;  // not trimmed: a password may contain anything
    }
    if (!r.username.empty() && r.password.empty()) {
      throw ConfigError("invalid REDIS_USERNAME=\"" + r.username +
                        "\": expected REDIS_PASSWORD too (AUTH needs both)");
    }
    if (present("REDIS_DB")) {
      r.db = static_cast<int>(read_int(lookup, "REDIS_DB", 0, 0, 15, "a database from 0 to 15"));
    }
    r.timeout = std::chrono::milliseconds(
        read_int(lookup, "REDIS_TIMEOUT_MS", 50, 1, 60'000, "milliseconds from 1 to 60000"));
    if (auto prefix = present("REDIS_KEY_PREFIX")) r.key_prefix = *prefix;
    r.connections = static_cast<unsigned>(
        read_int(lookup, "REDIS_CONNECTIONS", 1, 1, 64, "an integer from 1 to 64"));
    c.redis = std::move(r);
  }

  if (auto mode = present("FAIL_MODE")) {
    std::string v = *mode;
    std::transform(v.begin(), v.end(), v.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (v == "open") {
      c.fail_mode = FailMode::kOpen;
    } else if (v == "closed") {
      c.fail_mode = FailMode::kClosed;
    } else {
      reject("FAIL_MODE", *mode, "open or closed");
    }
  }
  return c;
}

void parse_redis_addr(std::string_view addr, RedisSettings& out) {
  const std::string original(addr);
  const auto bad = [&](std::string_view why) { reject("REDIS_ADDR", original, why); };
  std::string_view host = addr;
  std::string_view port;
  if (addr.starts_with('[')) {
    const auto close = addr.find(']');
    if (close == std::string_view::npos) bad("host:port, with an IPv6 address in [brackets]");
    host = addr.substr(1, close - 1);
    const std::string_view rest = addr.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad("host:port, with an IPv6 address in [brackets]");
      port = rest.substr(1);
    }
  } else if (const auto colon = addr.rfind(':'); colon != std::string_view::npos) {
    host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) bad("host:port, with an IPv6 address in [brackets]");
  }
  if (host.empty() || host.find_first_of(" /@") != std::string_view::npos) {
    bad("host:port, e.g. redis-12345.c1.us-east-1.ec2.cloud.redislabs.com:12345");
  }
  out.host = std::string(host);
  if (!port.empty() || addr.ends_with(':')) {
    int p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p < 1 || p > 65535) {
      bad("host:port with a port from 1 to 65535");
    }
    out.port = static_cast<std::uint16_t>(p);
  }
}

namespace {

std::string percent_decode(std::string_view s, bool& ok) {
  std::string out;
  ok = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int v = 0;
      if (i + 2 >= s.size() ||
          std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3) {
        ok = false;
        return {};
      }
      out.push_back(static_cast<char>(v));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

RedisSettings parse_redis_url(std::string_view url) {
  RedisSettings r;
  std::string masked(url);
  std::string_view rest = url;
  const auto bad = [&](std::string_view why) { reject("REDIS_URL", masked, why); };
  constexpr std::string_view kScheme = "redis://";
  const auto at = url.rfind('@');
  if (at != std::string_view::npos && url.starts_with(kScheme)) {
    // Mask the password in any error message: it ends up in logs.
    const auto userinfo = url.substr(kScheme.size(), at - kScheme.size());
    if (const auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      masked = std::string(url.substr(0, kScheme.size() + colon + 1)) + "****" +
               std::string(url.substr(at));
    }
  }
  if (url.starts_with("rediss://")) {
    bad("redis://...: TLS (rediss://) is not supported by this build");
  }
  if (!url.starts_with(kScheme)) {
    bad("redis://[[user]:password@]host[:port][/db]");
  }
  rest.remove_prefix(kScheme.size());
  if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at - kScheme.size());
    rest = url.substr(at + 1);
    const auto colon = userinfo.find(':');
    bool ok_user = true;
    bool ok_pass = true;
    if (colon == std::string_view::npos) {
      r.password = percent_decode(userinfo, ok_pass);  // redis://password@host, as redis-cli takes
    } else {
      r.username = percent_decode(userinfo.substr(0, colon), ok_user);
      r.password = percent_decode(userinfo.substr(colon + 1), ok_pass);
    }
    if (!ok_user || !ok_pass) bad("redis://... with valid percent-encoding in user and password");
  }
  const auto slash = rest.find('/');
  const std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      int v = -1;
      const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), v);
      if (ec != std::errc{} || end != db.data() + db.size() || v < 0 || v > 15) {
        bad("redis://host:port/db with a database from 0 to 15");
      }
      r.db = v;
    }
  }
  try {
    parse_redis_addr(hostport, r);
  } catch (const ConfigError&) {
    bad("redis://[[user]:password@]host[:port][/db]");
  }
  return r;
}

std::map<std::string, std::string, std::less<>> parse_dotenv(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    if (line.starts_with("export ")) {
      line = trim(line.substr(7));
    }
    const auto bad = [&](std::string_view why) {
      throw ConfigError(".env line " + std::to_string(line_no) + ": " + std::string(why));
    };
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      bad("expected KEY=VALUE");
    }
    const std::string_view key = trim(line.substr(0, eq));
    const bool key_ok = !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char ch) {
      return std::isalnum(ch) != 0 || ch == '_';
    }) && std::isdigit(static_cast<unsigned char>(key.front())) == 0;
    if (!key_ok) {
      bad("expected a variable name of letters, digits and _ before '='");
    }
    std::string_view value = trim(line.substr(eq + 1));
    if (!value.empty() && (value.front() == '"' || value.front() == '\'')) {
      const char q = value.front();
      const auto close = value.find(q, 1);
      if (close == std::string_view::npos) {
        bad("unterminated quoted value");
      }
      const std::string_view rest = trim(value.substr(close + 1));
      if (!rest.empty() && rest.front() != '#') {
        bad("unexpected text after the closing quote");
      }
      value = value.substr(1, close - 1);
    } else if (const auto hash = value.find(" #"); hash != std::string_view::npos) {
      value = trim(value.substr(0, hash));
    }
    out.insert_or_assign(std::string(key), std::string(value));
  }
  return out;
}

Lookup environment_with(std::map<std::string, std::string, std::less<>> dotenv) {
  return [dotenv = std::move(dotenv)](std::string_view name) -> std::optional<std::string> {
    if (const char* v = std::getenv(std::string(name).c_str()); v != nullptr) {
      return std::string(v);
    }
    if (auto it = dotenv.find(name); it != dotenv.end()) {
      return it->second;
    }
    return std::nullopt;
  };
}

std::string help_text() {
  std::string out =
      "Usage: aegis [--help] [--version]\n"
      "\n"
      "AegisAPI: an HTTP rate limiter. GET /ping?user=NAME answers 200 while NAME's token\n"
      "bucket has a token and 429 when it is empty.\n"
      "\n"
      "Configuration comes from environment variables, then from a .env file in the\n"
      "working directory (a real environment variable wins; an empty value means unset):\n"
      "\n";
  for (const auto& v : kVariables) {
    std::string line = "  " + std::string(v.name);
    line.resize(std::max<std::size_t>(line.size() + 1, 30), ' ');
    out += line + std::string(v.meaning);
    out += v.default_value.empty() ? "\n" : " Default: " + std::string(v.default_value) + "\n";
  }
  return out;
}

}  // namespace aegis
