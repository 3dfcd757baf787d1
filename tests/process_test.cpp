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

TEST(Process, SigintAlsoStopsCleanly) {
  const auto port = free_port();
  Process p({aegis_binary()}, {{"PORT", std::to_string(port)}});
  ASSERT_TRUE(wait_for_port(port, milliseconds(5000)));
  p.signal(SIGINT);
  EXPECT_EQ(exit_code(p), 0);
}

}  // namespace
}  // namespace aegis::test
