// Prometheus metrics: lock-free counters and a histogram, and the text
// exposition format (version 0.0.4) they are written in.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace aegis {

// Appends "# HELP" and "# TYPE" lines for a metric family.
void write_family(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help);
// Appends one sample: name{labels} value. `labels` is the inside of the braces
// (already escaped) or empty.
void write_sample(std::string& out, std::string_view name, std::string_view labels, double value);

// A latency histogram in seconds with fixed buckets. observe() is wait-free
// and safe for concurrent use.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                  0.0025,  0.005,  0.01,    0.025,  0.05,
                                                  0.1,     0.25,   0.5,     1.0};
  void observe(double seconds);
  void write(std::string& out, std::string_view name, std::string_view help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_nanos_{0};
};

// Which handler answered: the route label of aegis_http_requests_total.
enum class RouteId : std::uint8_t { kRoot, kPing, kHealthz, kReadyz, kMetrics, kOther, kCount };

// HTTP requests by route and status code. count() is wait-free.
class HttpMetrics {
 public:
  void count(RouteId route, unsigned status);
  void write(std::string& out) const;

 private:
  static constexpr std::array<unsigned, 12> kCodes{200, 400, 404, 405, 408, 413,
                                                   414, 429, 431, 500, 503, 0};  // 0: other
  static std::size_t code_index(unsigned status);
  std::array<std::array<std::atomic<std::uint64_t>, kCodes.size()>,
             static_cast<std::size_t>(RouteId::kCount)>
      counts_{};
};

}  // namespace aegis
