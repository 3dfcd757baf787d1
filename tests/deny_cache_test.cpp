#include "aegis/deny_cache.hpp"

#include <gtest/gtest.h>

#include "support/fake_clock.hpp"

namespace aegis {
namespace {

Decision denial(Micros retry, Micros reset) {
  Decision d;
  d.outcome = Decision::Outcome::kLimited;
  d.limit = 4;
  d.retry_after = retry;
  d.reset_after = reset;
  return d;
}

TEST(DenyCache, HoldsUntilTheRetryTimeCountedFromTheSendTime) {
  test::FakeClock clock;
  DenyCache cache(100, clock);
  const Micros sent = clock.now();
  clock.advance(Micros{300});  // the round trip
  cache.remember("u", denial(Micros{1000}, Micros{5000}), sent);
  auto d = cache.lookup("u");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->retry_after, Micros{700}) << "deadline = send time + retry_after";
  EXPECT_EQ(d->reset_after, Micros{4700});
  EXPECT_EQ(d->limit, 4);
  EXPECT_FALSE(cache.lookup("v"));
  clock.advance(Micros{699});
  EXPECT_TRUE(cache.lookup("u"));
  clock.advance(Micros{1});
  EXPECT_FALSE(cache.lookup("u"));
  EXPECT_EQ(cache.size(), 0U) << "an expired entry is dropped when seen";
  EXPECT_EQ(cache.hits(), 2U);
}

TEST(DenyCache, IsBounded) {
  test::FakeClock clock;
  DenyCache cache(64, clock);
  for (int i = 0; i < 1000; ++i) {
    cache.remember("k" + std::to_string(i), denial(Micros{1'000'000}, Micros{1'000'000}), clock.now());
  }
  EXPECT_LE(cache.size(), 64U);
  // Once they expire, room is made again.
  clock.advance(Micros{1'000'000});
  cache.remember("new", denial(Micros{10}, Micros{10}), clock.now());
  EXPECT_TRUE(cache.lookup("new"));
}

TEST(DenyCache, IgnoresDenialsAlreadyOver) {
  test::FakeClock clock;
  DenyCache cache(10, clock);
  const Micros sent = clock.now();
  clock.advance(Micros{2000});
  cache.remember("late", denial(Micros{1000}, Micros{1000}), sent);
  EXPECT_FALSE(cache.lookup("late"));
}

}  // namespace
}  // namespace aegis
