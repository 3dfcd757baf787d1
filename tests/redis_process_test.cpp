// aegis processes in Redis mode, as deployed: several instances sharing one
// real redis-server, and Redis failing underneath them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/promtool.hpp"
#include <unistd.h>
#include "support/eventually.hpp"
#include "support/redis_server.hpp"
#include "support/time_scale.hpp"

namespace aegis::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}


struct Instance {
  std::uint16_t port;
  std::unique_ptr<Process> process;
};

Instance start_aegis(std::map<std::string, std::string> env) {
  Instance i{free_port(), nullptr};
  env["PORT"] = std::to_string(i.port);
  env.try_emplace("THREADS", "2");
  i.process = std::make_unique<Process>(std::vector<std::string>{aegis_binary()}, env);
  EXPECT_TRUE(wait_for_port(i.port, milliseconds(5000))) << i.process->output();
  return i;
}

bool connected(Instance& i, std::size_t times = 1) {
  return eventually([&] { return count(i.process->output(), "connected to Redis") >= times; });
}

TEST(RedisProcess, ThreeInstancesShareOneBucketExactly) {
  RedisServer redis;
  redis.command({"ACL", "SETUSER", "limiter", "on", ">pw", "~*", "+@all"});
  const std::map<std::string, std::string> policy = {
      {"RATE_LIMIT_CAPACITY", "50"},
      {"RATE_LIMIT_REFILL_PER_SEC", "0.000001"},  // no refill during the test
      {"REDIS_TIMEOUT_MS", "3000"},  // this test is about atomicity, not latency
  };
  auto with = [&](std::map<std::string, std::string> extra) {
    extra.insert(policy.begin(), policy.end());
    return extra;
  };
  std::vector<Instance> instances;
  instances.push_back(start_aegis(with({{"REDIS_ADDR", redis.addr()},
                                        {"REDIS_USERNAME", "limiter"},
                                        {"REDIS_PASSWORD", "pw"},
                                        {"REDIS_DB", "2"}})));
  instances.push_back(start_aegis(with({{"REDIS_ADDR", redis.addr()},
                                        {"REDIS_USERNAME", "limiter"},
                                        {"REDIS_PASSWORD", "pw"},
                                        {"REDIS_DB", "2"}})));
  // The third reaches the same database through REDIS_URL.
  instances.push_back(start_aegis(
      with({{"REDIS_URL", "redis://limiter:pw@127.0.0.1:" + std::to_string(redis.port()) + "/2"}})));
  for (auto& i : instances) ASSERT_TRUE(connected(i, 1)) << i.process->output();

  constexpr int kThreads = 12;
  constexpr int kPerThread = 30;
  std::atomic<int> ok{0}, limited{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      Connection c(instances[t % 3].port);
      for (int i = 0; i < kPerThread; ++i) {
        auto r = c.get("/ping?user=shared");
        if (r && r->status == 200) ok++;
        else if (r && r->status == 429) limited++;
        else other++;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), 50) << "exactly the capacity, however requests are spread";
  EXPECT_EQ(limited.load(), kThreads * kPerThread - 50);
  EXPECT_EQ(other.load(), 0);
  redis.command({"SELECT", "2"});
  EXPECT_EQ(redis.command({"EXISTS", "aegis:shared"})->integer, 1);
}

TEST(RedisProcess, StartsAndFailsOpenWhenRedisIsUnreachable) {
  Instance i = start_aegis({{"REDIS_ADDR", "127.0.0.1:" + std::to_string(free_port())}});
  for (int n = 0; n < 10; ++n) {
    const auto start = Clock::now();
    auto r = http_get(i.port, "/ping?user=x");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << "fail open: Redis down is not an API outage";
    EXPECT_LT(Clock::now() - start, scaled(milliseconds(100)));
  }
  EXPECT_NE(i.process->output().find("mode redis"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return count(i.process->output(), "cannot connect") >= 1; }));
  EXPECT_LE(count(i.process->output(), "cannot connect"), 2U) << "warnings are rate-limited";
  i.process->signal(SIGTERM);
  auto status = i.process->wait(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(RedisProcess, FailClosedAnswers503WhileRedisIsDown) {
  Instance i = start_aegis({{"REDIS_ADDR", "127.0.0.1:" + std::to_string(free_port())},
                            {"FAIL_MODE", "closed"}});
  auto r = http_get(i.port, "/ping?user=x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_FALSE(r->header("retry-after").empty());
  EXPECT_NE(r->body.find("unavailable"), std::string::npos);
}

TEST(RedisProcess, KilledAndRestartedRedisNeverCausesA5xx) {
  RedisServer redis;
  Instance i = start_aegis({{"REDIS_ADDR", redis.addr()}, {"REDIS_CONNECTIONS", "2"}});
  ASSERT_TRUE(connected(i, 2));
  Connection c(i.port);
  for (int n = 0; n < 4; ++n) EXPECT_EQ(c.get("/ping?user=kim")->status, 200);
  EXPECT_EQ(c.get("/ping?user=kim")->status, 429);

  redis.kill();
  for (int n = 0; n < 50; ++n) {
    const auto start = Clock::now();
    auto r = c.get("/ping?user=newcomer" + std::to_string(n % 5));
    ASSERT_TRUE(r) << "the connection must survive the outage";
    EXPECT_EQ(r->status, 200) << "degraded answers allow";
    EXPECT_EQ(r->header("aegis-degraded"), "?1");
    EXPECT_LT(Clock::now() - start, scaled(milliseconds(50 + 50)));
  }
  // A user Redis already denied stays denied (from the deny cache) until its
  // retry time, outage or not: that denial cannot have become wrong.
  auto kim = c.get("/ping?user=kim");
  ASSERT_TRUE(kim);
  EXPECT_EQ(kim->status, 429);

  redis.restart();
  const auto restarted = Clock::now();
  ASSERT_TRUE(connected(i, 4)) << i.process->output();
  EXPECT_LT(Clock::now() - restarted, milliseconds(2000));
  // A fresh Redis has no state: limiting resumes from a full bucket.
  for (int n = 0; n < 4; ++n) EXPECT_EQ(c.get("/ping?user=lee")->status, 200);
  EXPECT_EQ(c.get("/ping?user=lee")->status, 429);
}

TEST(RedisProcess, ReadinessFollowsRedisAndMetricsPassPromtool) {
  RedisServer redis;
  Instance i = start_aegis({{"REDIS_ADDR", redis.addr()}});
  ASSERT_TRUE(eventually([&] { return http_get(i.port, "/readyz")->status == 200; }));
  EXPECT_NE(http_get(i.port, "/readyz")->body.find("\"backend\":\"redis\""), std::string::npos);
  http_get(i.port, "/ping?user=n");
  redis.kill();
  ASSERT_TRUE(eventually([&] { return http_get(i.port, "/readyz")->status == 503; }));
  EXPECT_EQ(http_get(i.port, "/healthz")->status, 200) << "alive while Redis is down";
  auto degraded = http_get(i.port, "/ping?user=n");
  EXPECT_EQ(degraded->status, 200);
  EXPECT_EQ(degraded->header("aegis-degraded"), "?1");

  const std::string m = http_get(i.port, "/metrics")->body;
  EXPECT_NE(m.find("aegis_redis_connections 0\n"), std::string::npos) << m;
  EXPECT_NE(m.find("aegis_decisions_total{decision=\"failed_open\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("aegis_redis_errors_total"), std::string::npos);
  EXPECT_NE(m.find("mode=\"redis\""), std::string::npos);
  const auto check = promtool_check(m);
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_EQ(check.output, "") << check.output;
}

TEST(RedisProcess, WrongPasswordIsLoggedAndFailsOpen) {
  RedisServer redis({"--requirepass", "right"});
  Instance i = start_aegis({{"REDIS_ADDR", redis.addr()}, {"REDIS_PASSWORD", "wrong"}});
  EXPECT_EQ(http_get(i.port, "/ping?user=m")->status, 200);
  ASSERT_TRUE(eventually([&] { return count(i.process->output(), "refused AUTH") >= 1; }))
      << i.process->output();
  EXPECT_EQ(i.process->output().find("wrong"), std::string::npos) << "never log the password";
}

}  // namespace
}  // namespace aegis::test
