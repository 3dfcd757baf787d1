// Fuzzes configuration parsing: .env text, every variable's value, REDIS_URL
// and REDIS_ADDR. Bad input must be a ConfigError, never a crash.
#include <cstdint>
#include <string>
#include <string_view>

#include "aegis/config.hpp"

using namespace aegis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    const auto vars = parse_dotenv(input);
    const Lookup lookup = [&vars](std::string_view name) -> std::optional<std::string> {
      if (auto it = vars.find(name); it != vars.end()) return it->second;
      return std::nullopt;
    };
    load_config(lookup);
  } catch (const ConfigError&) {
  }
  // The same bytes as the value of every variable.
  for (const VariableInfo& v : known_variables()) {
    const Lookup one = [&](std::string_view name) -> std::optional<std::string> {
      if (name == v.name) return std::string(input);
      return std::nullopt;
    };
    try {
      load_config(one);
    } catch (const ConfigError&) {
    }
  }
  try {
    parse_redis_url(input);
  } catch (const ConfigError&) {
  }
  try {
    RedisSettings r;
    parse_redis_addr(input, r);
  } catch (const ConfigError&) {
  }
  return 0;
}
