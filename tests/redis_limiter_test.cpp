// RedisLimiter in-process against a real redis-server: decisions, the script
// cache, outages, pauses, authentication and databases.
#include "aegis/redis_limiter.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <future>
#include <thread>

#include "support/time_scale.hpp"
#include "support/fake_clock.hpp"
#include "support/eventually.hpp"
#include "support/redis_server.hpp"

namespace aegis {
namespace {

using std::chrono::milliseconds;
using test::eventually;
using test::RedisServer;
using Clock = std::chrono::steady_clock;


class RedisLimiterTest : public ::testing::Test {
 protected:
  RedisLimiterTest() : work_(boost::asio::make_work_guard(ioc_)) {
    threads_.emplace_back([this] { ioc_.run(); });
    threads_.emplace_back([this] { ioc_.run(); });
    log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(200);
    spdlog::default_logger()->sinks().push_back(log_);
  }
  ~RedisLimiterTest() override {
    if (limiter_) limiter_->shutdown();
    work_.reset();
    for (auto& t : threads_) t.join();
    limiter_.reset();
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), log_), sinks.end());
  }

  RedisSettings settings(const RedisServer& redis) {
    RedisSettings s;
    s.host = "127.0.0.1";
    s.port = redis.port();
    s.timeout = milliseconds(50);
    s.connections = 2;
    return s;
  }

  void make(const RedisSettings& s, std::int64_t capacity = 4, double rate = 0.2) {
    Policy p;
    ASSERT_EQ(Policy::make(capacity, rate, &p), "");
    limiter_ = std::make_unique<RedisLimiter>(ioc_, s, p, clock_);
  }

  struct Timed {
    Decision decision;
    milliseconds took;
  };

  Timed acquire(std::string_view key) {
    std::promise<Decision> promise;
    auto future = promise.get_future();
    const auto start = Clock::now();
    limiter_->acquire(key, [&promise](const Decision& d) { promise.set_value(d); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready)
        << "no answer: the limiter hung";
    const Decision d = future.get();
    return {d, std::chrono::duration_cast<milliseconds>(Clock::now() - start)};
  }

  bool logged(std::string_view needle) {
    for (const auto& line : log_->last_formatted()) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_;
  test::FakeClock clock_;  // times the deny cache only; Redis keeps its own time
  std::unique_ptr<RedisLimiter> limiter_;
};

TEST_F(RedisLimiterTest, AllowsCapacityThenLimits) {
  RedisServer redis;
  make(settings(redis));
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  for (int i = 0; i < 4; ++i) {
    const Decision d = acquire("alice").decision;
    EXPECT_EQ(d.outcome, Decision::Outcome::kAllowed) << i;
    EXPECT_EQ(d.remaining, 3 - i);
    EXPECT_EQ(d.limit, 4);
  }
  const Decision d = acquire("alice").decision;
  EXPECT_EQ(d.outcome, Decision::Outcome::kLimited);
  EXPECT_GT(d.retry_after.count(), 4'900'000);
  EXPECT_LE(d.retry_after.count(), 5'000'000);
  EXPECT_EQ(redis.command({"EXISTS", "aegis:alice"})->integer, 1) << "key = prefix + user";
}

TEST_F(RedisLimiterTest, KeysAreBinarySafeArguments) {
  RedisServer redis;
  make(settings(redis), 1);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  const std::string odd = std::string("a b\r\n\0*3$", 10);
  EXPECT_TRUE(acquire(odd).decision.allowed());
  EXPECT_EQ(acquire(odd).decision.outcome, Decision::Outcome::kLimited);
  EXPECT_TRUE(acquire("a b").decision.allowed());
  EXPECT_EQ(redis.command({"EXISTS", "aegis:" + odd})->integer, 1);
}

TEST_F(RedisLimiterTest, ManyConcurrentChecksAdmitExactlyCapacity) {
  RedisServer redis;
  make(settings(redis), 100, 1e-6);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  std::atomic<int> allowed{0};
  std::atomic<int> answered{0};
  for (int i = 0; i < 1000; ++i) {
    limiter_->acquire("hot", [&](const Decision& d) {
      if (d.allowed()) allowed.fetch_add(1);
      EXPECT_NE(d.outcome, Decision::Outcome::kUnavailable);
      answered.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return answered.load() == 1000; }));
  EXPECT_EQ(allowed.load(), 100);
}

TEST_F(RedisLimiterTest, AFloodOfDistinctUsersLeavesNoKeyWithoutExpiry) {
  RedisServer redis;
  make(settings(redis), 4, 0.2);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  constexpr int kUsers = 20'000;
  std::atomic<int> answered{0};
  for (int i = 0; i < kUsers; ++i) {
    limiter_->acquire("flood" + std::to_string(i), [&](const Decision&) { answered++; });
    if (i % 1000 == 999) {
      ASSERT_TRUE(eventually([&] { return answered.load() == i + 1; }));  // bounded in flight
    }
  }
  ASSERT_TRUE(eventually([&] { return answered.load() == kUsers; }));
  EXPECT_EQ(redis.command({"DBSIZE"})->integer, kUsers);
  long long without_ttl = 0;
  long long checked = 0;
  std::string cursor = "0";
  do {
    test::ReplyPtr page = redis.command({"SCAN", cursor, "COUNT", "1000"});
    cursor = page->element[0]->str;
    for (std::size_t i = 0; i < page->element[1]->elements; ++i) {
      const long long pttl = redis.command({"PTTL", page->element[1]->element[i]->str})->integer;
      ++checked;
      if (pttl <= 0 || pttl > 5000) ++without_ttl;
    }
  } while (cursor != "0");
  EXPECT_EQ(checked, kUsers);
  EXPECT_EQ(without_ttl, 0) << "every key carries a TTL of at most one interval (5 s)";
}

long long evalsha_calls(RedisServer& redis) {
  const std::string info = redis.command({"INFO", "commandstats"})->str;
  const auto pos = info.find("cmdstat_evalsha:calls=");
  return pos == std::string::npos ? 0 : std::stoll(info.substr(pos + 22));
}

TEST_F(RedisLimiterTest, DenyCacheAnswersALimitedKeyLocallyUntilItsRetryTime) {
  RedisServer redis;
  make(settings(redis), 1, 0.5);  // one token every 2 s
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  EXPECT_TRUE(acquire("abuser").decision.allowed());
  const Decision denied = acquire("abuser").decision;
  ASSERT_EQ(denied.outcome, Decision::Outcome::kLimited);
  const long long calls = evalsha_calls(redis);

  // Even if Redis would now allow it (the key is gone), the denial holds
  // locally until its retry time, and Redis sees none of these requests.
  redis.command({"DEL", "aegis:abuser"});
  for (int i = 0; i < 100; ++i) {
    const Decision d = acquire("abuser").decision;
    ASSERT_EQ(d.outcome, Decision::Outcome::kLimited) << i;
    EXPECT_LE(d.retry_after, denied.retry_after);
  }
  EXPECT_EQ(evalsha_calls(redis), calls) << "a cached denial must not reach Redis";
  EXPECT_EQ(limiter_->stats().deny_cache_hits, 100U);
  EXPECT_TRUE(acquire("someone-else").decision.allowed()) << "only that key is cached";

  // At the retry time the cache lets go and Redis decides again (here: the
  // key was deleted, so it allows).
  clock_.advance(denied.retry_after - Micros{1});
  EXPECT_EQ(acquire("abuser").decision.outcome, Decision::Outcome::kLimited);
  clock_.advance(Micros{1});
  EXPECT_TRUE(acquire("abuser").decision.allowed());
  EXPECT_EQ(evalsha_calls(redis), calls + 2);
}

TEST_F(RedisLimiterTest, ScriptFlushIsHandledTransparently) {
  RedisServer redis;
  make(settings(redis), 3);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  EXPECT_TRUE(acquire("bob").decision.allowed());
  EXPECT_EQ(redis.command({"SCRIPT", "FLUSH"})->type, REDIS_REPLY_STATUS);
  // Both connections meet NOSCRIPT once; neither request may fail.
  EXPECT_EQ(acquire("bob").decision.outcome, Decision::Outcome::kAllowed);
  EXPECT_EQ(acquire("bob").decision.outcome, Decision::Outcome::kAllowed);
  EXPECT_EQ(acquire("bob").decision.outcome, Decision::Outcome::kLimited);
  EXPECT_EQ(limiter_->stats().errors, 0U);
}

TEST_F(RedisLimiterTest, RedisDownAnswersUnavailableAtOnceAndRecovers) {
  RedisServer redis;
  make(settings(redis), 2);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  EXPECT_TRUE(acquire("carol").decision.allowed());

  redis.kill();
  // Requests in the moment of the crash finish within the deadline...
  const Timed during = acquire("carol");
  EXPECT_EQ(during.decision.outcome, Decision::Outcome::kUnavailable);
  EXPECT_LT(during.took, test::scaled(milliseconds(50 + 50)));
  // ...and once the loss is known, at once, without waiting for a deadline.
  ASSERT_TRUE(eventually([&] { return !limiter_->ready(); }, milliseconds(1000)));
  for (int i = 0; i < 20; ++i) {
    const Timed t = acquire("carol");
    EXPECT_EQ(t.decision.outcome, Decision::Outcome::kUnavailable);
    EXPECT_LT(t.took, test::scaled(milliseconds(10)));
  }

  redis.restart();
  const auto restarted = Clock::now();
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }, milliseconds(3000)));
  EXPECT_LT(Clock::now() - restarted, milliseconds(2000)) << "recovery within 2 s";
  EXPECT_TRUE(acquire("carol").decision.allowed());
  EXPECT_TRUE(acquire("carol").decision.allowed());
  EXPECT_EQ(acquire("carol").decision.outcome, Decision::Outcome::kLimited);
  EXPECT_GE(limiter_->stats().reconnects, 1U);
}

TEST_F(RedisLimiterTest, PausedRedisAnswersWithinTheDeadline) {
  RedisServer redis;
  make(settings(redis));
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  redis.pause();
  milliseconds slowest{0};
  for (int i = 0; i < 30; ++i) {
    const Timed t = acquire("dave");
    EXPECT_EQ(t.decision.outcome, Decision::Outcome::kUnavailable);
    slowest = std::max(slowest, t.took);
  }
  EXPECT_LT(slowest, test::scaled(milliseconds(50 + 40))) << "deadline 50 ms plus a small margin";
  EXPECT_GE(limiter_->stats().timeouts, 1U);
  redis.resume();
  // (Redis still runs the checks that timed out once it resumes, so "dave"'s
  // tokens are gone by then: a fail-open answer already let those through.)
  ASSERT_TRUE(eventually(
      [&] { return acquire("dave").decision.outcome != Decision::Outcome::kUnavailable; },
      milliseconds(3000)));
  EXPECT_TRUE(acquire("dave-after").decision.allowed());
}

TEST_F(RedisLimiterTest, ClientPauseAlsoAnswersWithinTheDeadline) {
  RedisServer redis;
  make(settings(redis));
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  redis.command({"CLIENT", "PAUSE", "700", "ALL"});
  for (int i = 0; i < 5; ++i) {
    const Timed t = acquire("erin");
    EXPECT_EQ(t.decision.outcome, Decision::Outcome::kUnavailable);
    EXPECT_LT(t.took, test::scaled(milliseconds(50 + 40)));
  }
  // Redis runs the queued checks when the pause ends: wait for it to answer
  // again (limited or allowed), then a new user is allowed.
  ASSERT_TRUE(eventually(
      [&] { return acquire("erin").decision.outcome != Decision::Outcome::kUnavailable; },
      milliseconds(3000)));
  EXPECT_TRUE(acquire("erin-after").decision.allowed());
}

TEST_F(RedisLimiterTest, StartsWhileRedisIsUnreachableAndConnectsLater) {
  const auto port = test::free_port();
  RedisSettings s;
  s.host = "127.0.0.1";
  s.port = port;
  make(s);
  const Timed t = acquire("frank");
  EXPECT_EQ(t.decision.outcome, Decision::Outcome::kUnavailable);
  EXPECT_LT(t.took, test::scaled(milliseconds(10)));
  EXPECT_FALSE(limiter_->ready());
  RedisServer redis({}, port);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }, milliseconds(3000)));
  EXPECT_TRUE(acquire("frank").decision.allowed());
}

TEST_F(RedisLimiterTest, AclUserWithTheRightPasswordWorks) {
  RedisServer redis;
  redis.command({"ACL", "SETUSER", "limiter", "on", ">s3cret", "~aegis:*", "+@all"});
  RedisSettings s = settings(redis);
  s.username = "limiter";
  s.password = "s3cret";
  make(s);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  EXPECT_TRUE(acquire("gina").decision.allowed());
}

TEST_F(RedisLimiterTest, WrongPasswordIsLoggedClearlyAndFailsFast) {
  RedisServer redis;
  redis.command({"ACL", "SETUSER", "limiter", "on", ">s3cret", "~*", "+@all"});
  RedisSettings s = settings(redis);
  s.username = "limiter";
  s.password = "wrong";
  make(s);
  ASSERT_TRUE(eventually([&] { return logged("refused AUTH"); })) << "no clear log line";
  EXPECT_TRUE(logged("as user 'limiter'"));
  EXPECT_TRUE(logged("REDIS_PASSWORD"));
  EXPECT_FALSE(logged("wrong")) << "the password must never be logged";
  EXPECT_FALSE(limiter_->ready());
  const Timed t = acquire("hal");
  EXPECT_EQ(t.decision.outcome, Decision::Outcome::kUnavailable);
  EXPECT_LT(t.took, test::scaled(milliseconds(10)));
}

TEST_F(RedisLimiterTest, PasswordOnlyAuthAndDatabaseSelection) {
  RedisServer redis({"--requirepass", "pw"});
  redis.set_admin_auth({"pw"});
  RedisSettings s = settings(redis);
  s.password = "pw";
  s.db = 3;
  s.key_prefix = "rl:";
  make(s);
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  EXPECT_TRUE(acquire("ian").decision.allowed());
  EXPECT_EQ(redis.command({"EXISTS", "rl:ian"})->integer, 0) << "not in db 0";
  redis.command({"SELECT", "3"});
  EXPECT_EQ(redis.command({"EXISTS", "rl:ian"})->integer, 1);
}

TEST_F(RedisLimiterTest, MissingPasswordIsReported) {
  RedisServer redis({"--requirepass", "pw"});
  make(settings(redis));
  ASSERT_TRUE(eventually([&] { return logged("requires authentication"); }));
  EXPECT_FALSE(limiter_->ready());
}

TEST_F(RedisLimiterTest, ShutdownAnswersPendingChecksAndStops) {
  RedisServer redis;
  make(settings(redis));
  ASSERT_TRUE(eventually([&] { return limiter_->ready(); }));
  redis.pause();
  std::promise<Decision> p;
  limiter_->acquire("jo", [&](const Decision& d) { p.set_value(d); });
  limiter_->shutdown();
  auto f = p.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(f.get().outcome, Decision::Outcome::kUnavailable);
  redis.resume();
}

}  // namespace
}  // namespace aegis
