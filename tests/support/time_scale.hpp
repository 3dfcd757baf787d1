// Latency bounds in tests are for a normal build. Sanitizer builds run the
// same code several times slower, so tools/sanitize.sh sets
// AEGIS_TEST_TIME_SCALE and bounds are multiplied by it (documented there).
#pragma once

#include <chrono>
#include <cstdlib>

namespace aegis::test {

inline double time_scale() {
  const char* v = std::getenv("AEGIS_TEST_TIME_SCALE");
  const double s = v != nullptr ? std::atof(v) : 1.0;
  return s >= 1.0 ? s : 1.0;
}

inline std::chrono::milliseconds scaled(std::chrono::milliseconds bound) {
  return std::chrono::milliseconds(static_cast<long>(static_cast<double>(bound.count()) * time_scale()));
}

}  // namespace aegis::test
