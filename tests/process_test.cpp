// The aegis binary as users run it: arguments, configuration errors, .env,
// startup log and signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/http_client.hpp"
#include "support/process.hpp"

namespace aegis::test {
namespace {

using std::chrono::milliseconds;

int exit_code(Process& p) {
  auto status = p.wait(milliseconds(10'000));
  EXPECT_TRUE(status) << "did not exit";
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(Process, HelpListsTheVariables) {
  Process p({aegis_binary(), "--help"}, {});
  EXPECT_EQ(exit_code(p), 0);
  const std::string out = p.output();
  for (const char* name : {"PORT", "THREADS", "RATE_LIMIT_CAPACITY", "RATE_LIMIT_REFILL_PER_SEC",
                           "MAX_KEY_BYTES", "MEMORY_MAX_KEYS", "LOG_LEVEL"}) {
    EXPECT_NE(out.find(name), std::string::npos) << name;
  }
}

TEST(Process, UnknownArgumentIsRejected) {
  Process p({aegis_binary(), "--frobnicate"}, {});
  EXPECT_EQ(exit_code(p), 2);
  EXPECT_NE(p.output().find("--frobnicate"), std::string::npos);
}

TEST(Process, BadConfigurationStopsStartupNamingVariableAndValue) {
  Process p({aegis_binary()}, {{"PORT", std::to_string(free_port())},
                               {"RATE_LIMIT_REFILL_PER_SEC", "often"}});
  EXPECT_EQ(exit_code(p), 2);
  const std::string out = p.output();
  EXPECT_NE(out.find("RATE_LIMIT_REFILL_PER_SEC=\"often\""), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
}

TEST(Process, PortInUseIsReportedAndExitsNonZero) {
  const auto port = free_port();
  Process first({aegis_binary()}, {{"PORT", std::to_string(port)}, {"THREADS", "1"}});
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000)));
  Process second({aegis_binary()}, {{"PORT", std::to_string(port)}, {"THREADS", "1"}});
  EXPECT_EQ(exit_code(second), 1);
  EXPECT_NE(second.output().find("cannot start"), std::string::npos) << second.output();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/aegis-test-dir-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Process, ReadsDotEnvButTheEnvironmentWins) {
  TempDir dir;
  const auto port = free_port();
  {
    std::ofstream env(dir.path() + "/.env");
    env << "# local settings\nPORT=" << port << "\nRATE_LIMIT_CAPACITY=2\nTHREADS=9\n";
  }
  Process p({aegis_binary()}, {{"THREADS", "1"}, {"PORT", ""}}, dir.path());
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000))) << p.output();
  EXPECT_EQ(http_get(port, "/ping?user=a")->status, 200);
  EXPECT_EQ(http_get(port, "/ping?user=a")->status, 200);
  EXPECT_EQ(http_get(port, "/ping?user=a")->status, 429) << "capacity 2 from .env";
  p.signal(SIGTERM);
  EXPECT_EQ(exit_code(p), 0);
  EXPECT_NE(p.output().find("with 1 I/O threads"), std::string::npos) << p.output();
}

TEST(Process, StartupLineAndGracefulSigterm) {
  const auto port = free_port();
  Process p({aegis_binary()}, {{"PORT", std::to_string(port)}, {"THREADS", "2"}});
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000))) << p.output();
  Connection idle(port);
  ASSERT_TRUE(idle.get("/ping?user=z"));
  const std::string startup = p.output();
  EXPECT_NE(startup.find("aegis 0."), std::string::npos) << startup;
  EXPECT_NE(startup.find("mode memory"), std::string::npos) << startup;
  EXPECT_NE(startup.find(":" + std::to_string(port)), std::string::npos) << startup;
  EXPECT_NE(startup.find("4 tokens"), std::string::npos) << startup;

  const auto start = std::chrono::steady_clock::now();
  p.signal(SIGTERM);
  EXPECT_EQ(exit_code(p), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(idle.closed_by_peer());
}

// A strict check that a line is one flat JSON object of string/number values.
bool is_flat_json_object(std::string_view line) {
  std::size_t i = 0;
  auto ws = [&] { while (i < line.size() && line[i] == ' ') ++i; };
  auto string = [&]() -> bool {
    if (i >= line.size() || line[i] != '"') return false;
    for (++i; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      if (c < 0x20) return false;
      if (c == '\\') { ++i; continue; }
      if (c == '"') { ++i; return true; }
    }
    return false;
  };
  if (line.empty() || line[i++] != '{') return false;
  for (;;) {
    ws();
    if (!string()) return false;
    ws();
    if (i >= line.size() || line[i++] != ':') return false;
    ws();
    if (i < line.size() && line[i] == '"') {
      if (!string()) return false;
    } else {
      const auto start = i;
      while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
      if (i == start) return false;
    }
    ws();
    if (i < line.size() && line[i] == ',') { ++i; continue; }
    return i + 1 == line.size() && line[i] == '}';
  }
}

TEST(Process, JsonLogsAreOneObjectPerLine) {
  const auto port = free_port();
  Process p({aegis_binary()}, {{"PORT", std::to_string(port)},
                               {"LOG_FORMAT", "json"},
                               {"REDIS_ADDR", "127.0.0.1:" + std::to_string(free_port())}});
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000)));
  EXPECT_EQ(http_get(port, "/ping?user=a")->status, 200);  // degraded: logs a warning
  p.signal(SIGTERM);
  EXPECT_EQ(exit_code(p), 0);
  const std::string out = p.output();
  std::size_t lines = 0;
  for (std::size_t start = 0; start < out.size();) {
    const auto end = out.find('\n', start);
    const std::string_view line(out.data() + start, end - start);
    EXPECT_TRUE(is_flat_json_object(line)) << line;
    ++lines;
    start = end + 1;
  }
  EXPECT_GE(lines, 3U) << out;
  EXPECT_NE(out.find("\"level\":\"warning\""), std::string::npos) << out;
  EXPECT_NE(out.find("mode redis at 127.0.0.1:"), std::string::npos);
}

TEST(Process, OddUserBytesNeverReachTheLog) {
  const auto port = free_port();
  Process p({aegis_binary()}, {{"PORT", std::to_string(port)}, {"LOG_LEVEL", "trace"}});
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000)));
  for (const char* target : {"/ping?user=%00%0D%0Ainjected", "/ping?user=%FF%FE%1B[31m",
                             "/ping?user=\xff\xfe", "/ping?user=a%0Ab", "/ping?user=ok%E2%80%AE"}) {
    Connection c(port);
    c.send(std::string("GET ") + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    c.read_reply();
  }
  p.signal(SIGTERM);
  EXPECT_EQ(exit_code(p), 0);
  const std::string out = p.output();
  for (const char ch : out) {
    const auto u = static_cast<unsigned char>(ch);
    EXPECT_TRUE(ch == '\n' || (u >= 0x20 && u < 0x7f)) << "raw byte " << static_cast<int>(u);
  }
  EXPECT_EQ(out.find("injected"), std::string::npos);
}

TEST(Process, SigintAlsoStopsCleanly) {
  const auto port = free_port();
  Process p({aegis_binary()}, {{"PORT", std::to_string(port)}});
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000)));
  p.signal(SIGINT);
  EXPECT_EQ(exit_code(p), 0);
}

}  // namespace
}  // namespace aegis::test
