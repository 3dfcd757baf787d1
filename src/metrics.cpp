#include "aegis/metrics.hpp"

#include <fmt/format.h>

#include <cmath>

namespace aegis {

void write_family(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void write_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  if (labels.empty()) {
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  } else {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
  }
}

void LatencyHistogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e9)),
                       std::memory_order_relaxed);
}

void LatencyHistogram::write(std::string& out, std::string_view name, std::string_view help) const {
  write_family(out, name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    write_sample(out, bucket, fmt::format("le=\"{}\"", kBounds[i]), static_cast<double>(cumulative));
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  write_sample(out, bucket, "le=\"+Inf\"", static_cast<double>(cumulative));
  write_sample(out, std::string(name) + "_sum", "",
               static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9);
  // _count equals the +Inf bucket by construction (read once, so they agree).
  write_sample(out, std::string(name) + "_count", "", static_cast<double>(cumulative));
}

std::size_t HttpMetrics::code_index(unsigned status) {
  for (std::size_t i = 0; i + 1 < kCodes.size(); ++i) {
    if (kCodes[i] == status) return i;
  }
  return kCodes.size() - 1;
}

void HttpMetrics::count(RouteId route, unsigned status) {
  counts_[static_cast<std::size_t>(route)][code_index(status)].fetch_add(1,
                                                                         std::memory_order_relaxed);
}

void HttpMetrics::write(std::string& out) const {
  static constexpr std::array<std::string_view, static_cast<std::size_t>(RouteId::kCount)> kRoutes{
      "/", "/ping", "/healthz", "/readyz", "/metrics", "other"};
  write_family(out, "aegis_http_requests_total", "counter",
               "HTTP requests answered, by route and status code.");
  for (std::size_t r = 0; r < kRoutes.size(); ++r) {
    for (std::size_t c = 0; c < kCodes.size(); ++c) {
      const auto n = counts_[r][c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      const std::string code = kCodes[c] == 0 ? std::string("other") : std::to_string(kCodes[c]);
      write_sample(out, "aegis_http_requests_total",
                   fmt::format("route=\"{}\",code=\"{}\"", kRoutes[r], code),
                   static_cast<double>(n));
    }
  }
}

}  // namespace aegis
