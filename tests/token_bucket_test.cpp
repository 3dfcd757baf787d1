#include "aegis/token_bucket.hpp"

#include <gtest/gtest.h>

namespace aegis {
namespace {

constexpr std::int64_t kSec = 1'000'000;

Policy make_policy(std::int64_t capacity, double rate) {
  Policy p;
  EXPECT_EQ(Policy::make(capacity, rate, &p), "");
  return p;
}

TEST(TokenBucket, FreshBucketGivesCapacityThenLimits) {
  const Policy p = make_policy(4, 0.2);
  const std::int64_t now = 100 * kSec;
  std::int64_t state = 0;  // missing bucket
  for (int i = 0; i < 4; ++i) {
    const TakeResult r = take_token(state, now, p);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_EQ(r.remaining, 3 - i);
    state = r.full_at;
  }
  const TakeResult r = take_token(state, now, p);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after.count(), 5 * kSec);
  EXPECT_EQ(r.reset_after.count(), 20 * kSec);
  EXPECT_EQ(r.full_at, state) << "a denial must not change the state";
}

TEST(TokenBucket, RefillsOneTokenPerIntervalExactly) {
  const Policy p = make_policy(2, 0.2);
  std::int64_t now = 0;
  std::int64_t state = take_token(0, now, p).full_at;
  state = take_token(state, now, p).full_at;
  ASSERT_FALSE(take_token(state, now, p).allowed);

  now += 5 * kSec - 1;
  const TakeResult almost = take_token(state, now, p);
  EXPECT_FALSE(almost.allowed);
  EXPECT_EQ(almost.retry_after.count(), 1);

  now += 1;
  const TakeResult r = take_token(state, now, p);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_FALSE(take_token(r.full_at, now, p).allowed);
}

TEST(TokenBucket, NeverHoldsMoreThanCapacity) {
  const Policy p = make_policy(3, 1.0);
  std::int64_t state = take_token(0, 0, p).full_at;
  const std::int64_t later = 1'000'000 * kSec;
  int allowed = 0;
  for (int i = 0; i < 10; ++i) {
    const TakeResult r = take_token(state, later, p);
    allowed += r.allowed ? 1 : 0;
    state = r.full_at;
  }
  EXPECT_EQ(allowed, 3);
}

TEST(TokenBucket, LastTokenAndRetryAfter) {
  const Policy p = make_policy(1, 0.5);  // one token every 2 s
  const TakeResult first = take_token(0, 10 * kSec, p);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.remaining, 0);
  EXPECT_EQ(first.retry_after.count(), 2 * kSec);
  EXPECT_EQ(first.reset_after.count(), 2 * kSec);
  const TakeResult second = take_token(first.full_at, 10 * kSec + 500'000, p);
  EXPECT_FALSE(second.allowed);
  EXPECT_EQ(second.retry_after.count(), 1'500'000);
}

TEST(TokenBucket, FractionalRatesRoundToTheMicrosecond) {
  EXPECT_EQ(make_policy(1, 0.2).interval.count(), 5'000'000);
  EXPECT_EQ(make_policy(1, 2.5).interval.count(), 400'000);
  EXPECT_EQ(make_policy(1, 3.0).interval.count(), 333'333);
  EXPECT_EQ(make_policy(1, 1e6).interval.count(), 1);

  // 2.5 tokens/s, capacity 5: after draining, 1 s of waiting gives 2 tokens
  // and 0.2 s more gives a third.
  const Policy p = make_policy(5, 2.5);
  std::int64_t state = 0;
  for (int i = 0; i < 5; ++i) state = take_token(state, 0, p).full_at;
  int allowed = 0;
  for (int i = 0; i < 5; ++i) {
    const TakeResult r = take_token(state, kSec, p);
    allowed += r.allowed ? 1 : 0;
    state = r.full_at;
  }
  EXPECT_EQ(allowed, 2);
  EXPECT_TRUE(take_token(state, kSec + 400'000, p).allowed);
}

TEST(TokenBucket, PartialTokensAreNotCounted) {
  const Policy p = make_policy(4, 1.0);
  std::int64_t state = 0;
  for (int i = 0; i < 4; ++i) state = take_token(state, 0, p).full_at;
  // 1.5 s later: 1.5 tokens; taking one leaves 0.5, which is 0 whole tokens,
  // and the next whole token is 0.5 s away.
  const TakeResult r = take_token(state, 1'500'000, p);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after.count(), 500'000);
  EXPECT_EQ(r.reset_after.count(), 3'500'000);
}

TEST(TokenBucket, ClockGoingBackwardsDeniesAtMostOneWindow) {
  const Policy p = make_policy(2, 1.0);
  const std::int64_t state = take_token(0, 1000 * kSec, p).full_at;
  // The clock jumps back an hour: the bucket looks empty but the wait is
  // clamped to one full refill, and nothing extra is ever admitted.
  const TakeResult r = take_token(state, 1000 * kSec - 3600 * kSec, p);
  EXPECT_FALSE(r.allowed);
  EXPECT_LE(r.reset_after.count(), p.window().count());
  EXPECT_EQ(r.retry_after.count(), kSec);
  const TakeResult later = take_token(r.full_at, 1000 * kSec - 3600 * kSec + kSec, p);
  EXPECT_TRUE(later.allowed);
}

TEST(TokenBucket, FullBucketIsTheSameAsAMissingOne) {
  const Policy p = make_policy(3, 1.0);
  const TakeResult r = take_token(0, 0, p);
  // Once now >= full_at the stored state says nothing a missing bucket doesn't.
  const TakeResult stored = take_token(r.full_at, r.full_at + 7, p);
  const TakeResult missing = take_token(0, r.full_at + 7, p);
  EXPECT_EQ(stored.allowed, missing.allowed);
  EXPECT_EQ(stored.remaining, missing.remaining);
  EXPECT_EQ(stored.full_at, missing.full_at);
}

TEST(TokenBucket, PolicyRejectsOutOfRangeValues) {
  Policy p;
  EXPECT_NE(Policy::make(0, 1.0, &p), "");
  EXPECT_NE(Policy::make(-1, 1.0, &p), "");
  EXPECT_NE(Policy::make(2'000'000'000, 1.0, &p), "");
  EXPECT_NE(Policy::make(1, 0.0, &p), "");
  EXPECT_NE(Policy::make(1, -0.5, &p), "");
  EXPECT_NE(Policy::make(1, 1e7, &p), "");
  EXPECT_NE(Policy::make(1, std::numeric_limits<double>::quiet_NaN(), &p), "");
  EXPECT_NE(Policy::make(1'000'000'000, 1e-6, &p), "") << "a refill of ~3e7 years";
  EXPECT_EQ(p.capacity, 4) << "a rejected make must leave the policy alone";
}

}  // namespace
}  // namespace aegis
