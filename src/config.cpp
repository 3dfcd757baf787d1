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
    VariableInfo{"LOG_LEVEL", "info", "trace, debug, info, warn, error, critical or off."},
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
  return c;
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
