#include "aegis/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <cstdio>

namespace aegis {
namespace {

// %* in the JSON pattern: the message, escaped so that any text (a Redis error
// string, say) keeps each line a valid JSON object.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    append_json_escaped({msg.payload.data(), msg.payload.size()}, escaped);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void append_json_escaped(std::string_view in, std::string& out) {
  for (const char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

void configure_logging(std::string_view level, LogFormat format) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
  if (format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"aegis","pid":%P,"message":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  }
  // Every line is flushed: under Docker or Render stdout is a pipe, and a line
  // must not wait in a buffer. Cheap, as nothing is logged per request at info.
  spdlog::flush_on(spdlog::level::trace);
}

}  // namespace aegis
