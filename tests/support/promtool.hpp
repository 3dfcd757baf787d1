// Runs `promtool check metrics` on a /metrics page.
#pragma once

#include <cstdio>
#include <fstream>
#include <string>

namespace aegis::test {

struct PromtoolResult {
  int status = -1;
  std::string output;  // problems found (errors and lint warnings)
};

inline PromtoolResult promtool_check(const std::string& metrics) {
  char path[] = "/tmp/aegis-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ::close(fd);
  std::ofstream(path) << metrics;
  PromtoolResult r;
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.output += buf;
  r.status = ::pclose(p);
  ::unlink(path);
  return r;
}

}  // namespace aegis::test
