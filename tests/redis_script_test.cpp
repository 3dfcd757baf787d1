// lua/token_bucket.lua in a real Redis, against the C++ arithmetic.
#include <gtest/gtest.h>

#include <random>

#include "aegis/token_bucket.hpp"
#include "aegis/token_bucket_lua.hpp"
#include "support/redis_server.hpp"

namespace aegis {
namespace {

using test::RedisServer;
using test::ReplyPtr;

struct ScriptAnswer {
  long long allowed, remaining, retry_after, reset_after;
};

// Runs the embedded script. `now` < 0 lets the script take Redis's own TIME.
ScriptAnswer run_script(RedisServer& redis, const std::string& key, const Policy& p,
                        long long now = -1) {
  std::vector<std::string> args = {"EVAL", std::string(detail::kTokenBucketLua), "1", key,
                                   std::to_string(p.capacity), std::to_string(p.interval.count())};
  if (now >= 0) args.push_back(std::to_string(now));
  ReplyPtr r = redis.command(args);
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->type, REDIS_REPLY_ARRAY) << (r->type == REDIS_REPLY_ERROR ? r->str : "");
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) return {};
  return {r->element[0]->integer, r->element[1]->integer, r->element[2]->integer,
          r->element[3]->integer};
}

long long redis_time_us(RedisServer& redis) {
  ReplyPtr t = redis.command({"TIME"});
  return std::stoll(t->element[0]->str) * 1'000'000 + std::stoll(t->element[1]->str);
}

class ScriptTest : public ::testing::Test {
 protected:
  RedisServer redis_;
};

TEST_F(ScriptTest, AgreesWithTheCppArithmeticOnRandomSequences) {
  std::mt19937_64 rng(20261203);
  struct Case {
    std::int64_t capacity;
    double rate;
  };
  for (const Case c : {Case{4, 0.2}, Case{1, 1.0}, Case{10, 3.0}, Case{7, 2.5}, Case{100, 1000.0},
                       Case{1'000'000'000, 1e6}, Case{3, 1e-6}}) {
    Policy p;
    ASSERT_EQ(Policy::make(c.capacity, c.rate, &p), "");
    const std::string key = "eq:" + std::to_string(c.capacity) + ":" + std::to_string(c.rate);
    // Near today's Unix time in microseconds, as TIME would give.
    std::int64_t now = 1'796'000'000'000'000;
    std::int64_t state = 0;
    for (int step = 0; step < 400; ++step) {
      // Mostly small steps, sometimes a whole interval or more, sometimes backwards.
      const auto pick = rng() % 10;
      const std::int64_t i = p.interval.count();
      if (pick < 5) now += static_cast<std::int64_t>(rng() % std::max<std::int64_t>(i / 3, 2));
      else if (pick < 8) now += static_cast<std::int64_t>(rng() % (2 * i + 1));
      else if (pick < 9) now += static_cast<std::int64_t>(rng() % (p.window().count() + 1));
      else now -= static_cast<std::int64_t>(rng() % (i + 1));

      // Seed the key with the C++ state: the script's PX expiry runs on real
      // time while this test's clock is simulated, so a short-lived key could
      // vanish between steps. (In production both use Redis's clock.)
      if (state > now) {
        redis_.command({"SET", key, std::to_string(state)});
      } else if (rng() % 2 == 0) {
        redis_.command({"DEL", key});  // a full bucket may be missing or stale
      }
      const TakeResult want = take_token(state, now, p);
      const ScriptAnswer got = run_script(redis_, key, p, now);
      ASSERT_EQ(got.allowed, want.allowed ? 1 : 0) << "step " << step;
      ASSERT_EQ(got.remaining, want.remaining) << "step " << step;
      ASSERT_EQ(got.retry_after, want.retry_after.count()) << "step " << step;
      ASSERT_EQ(got.reset_after, want.reset_after.count()) << "step " << step;
      if (want.allowed) {
        state = want.full_at;
        ReplyPtr stored = redis_.command({"GET", key});
        // A key with a TTL of a few ms may already have expired in real time.
        if (stored->type != REDIS_REPLY_NIL || want.reset_after.count() >= 100'000) {
          ASSERT_EQ(stored->type, REDIS_REPLY_STRING) << "step " << step;
          ASSERT_EQ(std::stoll(stored->str), want.full_at) << "stored state, step " << step;
        }
      }
    }
  }
}

TEST_F(ScriptTest, TakesTheTimeFromRedis) {
  Policy p;
  ASSERT_EQ(Policy::make(4, 0.2, &p), "");
  const long long before = redis_time_us(redis_);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(run_script(redis_, "t", p).allowed, 1);
  const ScriptAnswer denied = run_script(redis_, "t", p);
  const long long after = redis_time_us(redis_);
  EXPECT_EQ(denied.allowed, 0);
  EXPECT_EQ(denied.remaining, 0);
  // The stored full_at is Redis's TIME at the first request + 4 intervals.
  const long long full_at = std::stoll(redis_.command({"GET", "t"})->str);
  EXPECT_GE(full_at, before + 20'000'000);
  EXPECT_LE(full_at, after + 20'000'000);
  EXPECT_GT(denied.retry_after, 5'000'000 - (after - before) - 1);
  EXPECT_LE(denied.retry_after, 5'000'000);
}

TEST_F(ScriptTest, KeyExpiresExactlyWhenTheBucketIsFull) {
  Policy p;
  ASSERT_EQ(Policy::make(4, 0.2, &p), "");
  ScriptAnswer last{};
  for (int i = 0; i < 3; ++i) last = run_script(redis_, "ttl", p);
  const long long pttl = redis_.command({"PTTL", "ttl"})->integer;
  const long long want = (last.reset_after + 999) / 1000;  // 15 s
  EXPECT_EQ(want, 15'000);
  EXPECT_LE(pttl, want);
  // Real time passes between the script and PTTL (more on a loaded machine).
  EXPECT_GE(pttl, want - 1000) << "TTL should be the time to full, not a fixed value";

  // A denial does not extend the TTL (nothing is written).
  Policy one;
  ASSERT_EQ(Policy::make(1, 0.5, &one), "");
  run_script(redis_, "ttl1", one);
  EXPECT_EQ(run_script(redis_, "ttl1", one).allowed, 0);
  EXPECT_LE(redis_.command({"PTTL", "ttl1"})->integer, 2000);
}

TEST_F(ScriptTest, EveryWrittenKeyHasATtl) {
  Policy p;
  ASSERT_EQ(Policy::make(2, 1.0, &p), "");
  for (int i = 0; i < 200; ++i) run_script(redis_, std::string("k").append(std::to_string(i % 50)), p);
  ReplyPtr keys = redis_.command({"KEYS", "k*"});
  ASSERT_EQ(keys->elements, 50U);
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const long long pttl = redis_.command({"PTTL", keys->element[i]->str})->integer;
    EXPECT_GT(pttl, 0) << keys->element[i]->str;
    EXPECT_LE(pttl, 2000);
  }
}

TEST_F(ScriptTest, GarbageInTheKeyIsTreatedAsAFullBucket) {
  Policy p;
  ASSERT_EQ(Policy::make(2, 1.0, &p), "");
  redis_.command({"SET", "junk", "not a number"});
  const ScriptAnswer a = run_script(redis_, "junk", p);
  EXPECT_EQ(a.allowed, 1);
  EXPECT_EQ(a.remaining, 1);
}

}  // namespace
}  // namespace aegis
