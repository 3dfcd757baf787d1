// Settings, read once at startup from the environment and an optional .env file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "aegis/decision.hpp"
#include "aegis/logging.hpp"
#include "aegis/token_bucket.hpp"

namespace aegis {

// Thrown at startup for a bad setting. what() is one line that names the
// variable, the value and what was expected.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One documented setting: the source of --help and of .env.example's contents.
struct VariableInfo {
  std::string_view name;
  std::string_view default_value;  // as written in .env.example; empty = unset
  std::string_view meaning;
};

// Every variable the service reads, in the order --help shows them.
std::span<const VariableInfo> known_variables();

// How to reach Redis (Redis mode). From REDIS_URL, or REDIS_ADDR plus
// REDIS_USERNAME / REDIS_PASSWORD / REDIS_DB; the separate variables win over
// the parts of REDIS_URL.
struct RedisSettings {
  std::string host;
  std::uint16_t port = 6379;
  // Both set: AUTH username password (Redis 6+ ACL users, as Redis Cloud has).
  // Password only: AUTH password. Neither: no AUTH.
  std::string username;
  std::string password;
  int db = 0;
  // REDIS_TIMEOUT_MS: deadline for one check; past it the answer is degraded.
  std::chrono::milliseconds timeout{50};
  // REDIS_KEY_PREFIX: prepended to the user name to form the key.
  std::string key_prefix = "aegis:";
  // REDIS_CONNECTIONS: connections per instance; checks are pipelined on them.
  // One is the default: deeper pipelines mean fewer system calls on both
  // sides (measured: 1.8x the throughput of 2 on 2 cores, bench/README.md).
  unsigned connections = 1;
};

// Where the service keeps its buckets.
enum class Mode : std::uint8_t { kMemory, kRedis };

struct Config {
  // PORT: TCP port to listen on, on all interfaces.
  std::uint16_t port = 8080;
  // THREADS: I/O threads. Default: the number of cores.
  unsigned threads = 1;
  // RATE_LIMIT_CAPACITY and RATE_LIMIT_REFILL_PER_SEC.
  Policy policy;
  double refill_per_sec = 0.2;
  // MAX_KEY_BYTES: longest accepted user name, after percent-decoding.
  std::size_t max_key_bytes = 256;
  // MEMORY_MAX_KEYS: hard cap on buckets held by the memory backend.
  std::size_t memory_max_keys = 1'000'000;
  // REQUEST_TIMEOUT_MS: time a client has to send a whole request (or to send
  // the next one on a kept-alive connection) and to read the response.
  std::chrono::milliseconds request_timeout{10'000};
  // MAX_CONNECTIONS: most HTTP connections open at once.
  std::size_t max_connections = 10'000;
  // LOG_LEVEL: trace, debug, info, warn, error, critical or off.
  std::string log_level = "info";
  // LOG_FORMAT: text (default) or json (one object per line).
  LogFormat log_format = LogFormat::kText;
  // Set when REDIS_ADDR or REDIS_URL is: Redis mode.
  std::optional<RedisSettings> redis;
  // FAIL_MODE: open (allow, degraded) or closed (503) when the backend fails.
  FailMode fail_mode = FailMode::kOpen;

  [[nodiscard]] Mode mode() const { return redis ? Mode::kRedis : Mode::kMemory; }
};

// Looks up one variable; nullopt when unset.
using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Builds and validates a Config. An empty value counts as unset. Throws ConfigError.
Config load_config(const Lookup& lookup);

// Parses .env text: KEY=VALUE lines, optional `export `, # comments, blank
// lines, values optionally in single or double quotes. Throws ConfigError
// naming the line for anything else.
std::map<std::string, std::string, std::less<>> parse_dotenv(std::string_view text);

// The process environment, falling back to `dotenv` (a real variable wins).
Lookup environment_with(std::map<std::string, std::string, std::less<>> dotenv);

// Parses REDIS_URL: redis://[[user]:password@]host[:port][/db]. Throws
// ConfigError naming REDIS_URL (the password is masked in the message).
RedisSettings parse_redis_url(std::string_view url);

// Parses REDIS_ADDR: host[:port] or [ipv6][:port]. Throws ConfigError.
void parse_redis_addr(std::string_view addr, RedisSettings& out);

// Text of `aegis --help`.
std::string help_text();

}  // namespace aegis
