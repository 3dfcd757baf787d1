// Log setup: spdlog's default logger, as plain text (default) or one JSON
// object per line (LOG_FORMAT=json, what log collectors expect).
#pragma once

#include <string>
#include <string_view>

namespace aegis {

enum class LogFormat : std::uint8_t { kText, kJson };

// Sets the level (trace ... off) and format of the default logger.
void configure_logging(std::string_view level, LogFormat format);

// Appends `in` to `out` escaped for a JSON string (quotes, backslashes,
// control bytes as \u00XX). Other bytes pass through unchanged.
void append_json_escaped(std::string_view in, std::string& out);

}  // namespace aegis
