#include "aegis/memory_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_clock.hpp"

namespace aegis {
namespace {

using test::FakeClock;

Policy make_policy(std::int64_t capacity, double rate) {
  Policy p;
  EXPECT_EQ(Policy::make(capacity, rate, &p), "");
  return p;
}

TEST(MemoryLimiter, AcquireCompletesInlineWithTheDecision) {
  FakeClock clock;
  MemoryLimiter limiter(make_policy(2, 1.0), 100, clock);
  int calls = 0;
  Decision got;
  limiter.acquire("alice", [&](const Decision& d) {
    ++calls;
    got = d;
  });
  ASSERT_EQ(calls, 1);
  EXPECT_TRUE(got.allowed());
  EXPECT_EQ(got.limit, 2);
  EXPECT_EQ(got.remaining, 1);
  EXPECT_FALSE(got.degraded);
}

TEST(MemoryLimiter, KeysHaveSeparateBucketsAndRefillOnTheInjectedClock) {
  FakeClock clock;
  MemoryLimiter limiter(make_policy(1, 0.2), 100, clock);
  EXPECT_TRUE(limiter.decide("alice").allowed());
  EXPECT_TRUE(limiter.decide("bob").allowed());
  const Decision denied = limiter.decide("alice");
  EXPECT_EQ(denied.outcome, Decision::Outcome::kLimited);
  EXPECT_EQ(denied.retry_after, Micros{5'000'000});
  clock.advance(Micros{4'999'999});
  EXPECT_FALSE(limiter.decide("alice").allowed());
  clock.advance(Micros{1});
  EXPECT_TRUE(limiter.decide("alice").allowed());
}

TEST(MemoryLimiter, ExactAdmissionUnderConcurrency) {
  FakeClock clock;  // never advances: no refill
  constexpr int kCapacity = 1000;
  MemoryLimiter limiter(make_policy(kCapacity, 1e-3), 1000, clock);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        if (limiter.decide("hot").allowed()) {
          allowed.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), kCapacity);
}

TEST(MemoryLimiter, FullBucketsAreDroppedSoDistinctKeysDoNotGrowMemory) {
  FakeClock clock;
  // A bucket refills in 4 ms; a new user arrives every microsecond, so about
  // 4,000 buckets are live at any moment out of 1,000,000 users.
  MemoryLimiter limiter(make_policy(4, 1000.0), 1'000'000, clock);
  std::size_t peak = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    ASSERT_TRUE(limiter.decide("user-" + std::to_string(i)).allowed());
    clock.advance(Micros{1});
    if (i % 50'000 == 0) peak = std::max(peak, limiter.size());
  }
  peak = std::max(peak, limiter.size());
  // Each of the 64 shards holds its live keys plus at most ~1,024 inserts
  // between sweeps: well under 100,000, against 1,000,000 without sweeping.
  EXPECT_LT(peak, 100'000U);
  EXPECT_EQ(limiter.evictions(), 0U) << "nothing live should have been evicted";
}

TEST(MemoryLimiter, HardCapEvictsAndCounts) {
  FakeClock clock;  // all buckets stay live: only the cap can free memory
  MemoryLimiter limiter(make_policy(4, 0.2), 1000, clock);
  for (int i = 0; i < 20'000; ++i) {
    limiter.decide("user-" + std::to_string(i));
  }
  EXPECT_LE(limiter.size(), 1000U);
  EXPECT_GE(limiter.size(), 900U);
  EXPECT_EQ(limiter.evictions(), 20'000U - limiter.size());
}

TEST(MemoryLimiter, EvictionPrefersTheBucketClosestToFull) {
  FakeClock clock;
  // One shard holding one key: every new key evicts the old one.
  MemoryLimiter limiter(make_policy(2, 1.0), 1, clock);
  limiter.decide("a");
  limiter.decide("a");
  ASSERT_FALSE(limiter.decide("a").allowed());
  limiter.decide("b");  // evicts a (live): counted
  EXPECT_EQ(limiter.evictions(), 1U);
  EXPECT_EQ(limiter.size(), 1U);
  EXPECT_TRUE(limiter.decide("a").allowed()) << "an evicted bucket starts full again";
  EXPECT_EQ(limiter.evictions(), 2U);
  clock.advance(Micros{10'000'000});
  limiter.decide("c");  // evicts a, which is full by now: not a real eviction
  EXPECT_EQ(limiter.evictions(), 2U);
}

TEST(MemoryLimiter, KeysAreBinarySafe) {
  FakeClock clock;
  MemoryLimiter limiter(make_policy(1, 0.2), 100, clock);
  const std::string with_nul("a\0b", 3);
  EXPECT_TRUE(limiter.decide(with_nul).allowed());
  EXPECT_TRUE(limiter.decide("a").allowed());
  EXPECT_FALSE(limiter.decide(with_nul).allowed());
}

}  // namespace
}  // namespace aegis

#include <unistd.h>

#include <fstream>

namespace aegis {
namespace {

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

TEST(MemoryLimiter, OneMillionLiveUsersStayWithinTheMemoryBound) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizer allocators change memory use; measured in the normal build";
#endif
  FakeClock clock;  // no time passes: all 1,000,000 buckets stay live
  const long before = rss_kib();
  {
    MemoryLimiter limiter(make_policy(4, 0.2), 1'000'000, clock);
    char name[32];
    for (int i = 0; i < 1'000'000; ++i) {
      const int n = std::snprintf(name, sizeof name, "user-%d", i);
      limiter.decide(std::string_view(name, static_cast<std::size_t>(n)));
    }
    EXPECT_EQ(limiter.size() + limiter.evictions(), 1'000'000U);
    const long grown_mib = (rss_kib() - before) / 1024;
    std::printf("1,000,000 live buckets: RSS +%ld MiB, %zu held, %llu evicted\n", grown_mib,
                limiter.size(), static_cast<unsigned long long>(limiter.evictions()));
    EXPECT_LE(grown_mib, 150) << "the bound README and bench/README promise";
    // Past the cap, memory does not grow: another million users evict.
    for (int i = 0; i < 1'000'000; ++i) {
      const int n = std::snprintf(name, sizeof name, "late-%d", i);
      limiter.decide(std::string_view(name, static_cast<std::size_t>(n)));
    }
    EXPECT_LE(limiter.size(), 1'000'000U);
    EXPECT_LE((rss_kib() - before) / 1024, grown_mib + 16);
  }
}

}  // namespace
}  // namespace aegis
