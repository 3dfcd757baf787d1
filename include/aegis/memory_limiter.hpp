// The in-process backend: one token bucket per key, in a sharded hash map.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aegis/clock.hpp"
#include "aegis/string_hash.hpp"
#include "aegis/limiter.hpp"
#include "aegis/token_bucket.hpp"

namespace aegis {

// Token buckets in memory. Safe for concurrent use without external
// synchronization; acquire completes inline, before it returns.
//
// Memory is bounded two ways. A bucket that has refilled to full is the same as
// a missing one, so full buckets are dropped by an amortized sweep (a shard is
// swept after as many inserts as it held at its last sweep, so a flood of
// one-off names costs O(1) per request and memory tracks the live keys). And
// the total never exceeds `max_keys`: at the cap, an insert evicts, among a
// random sample of buckets, the one closest to full (like Redis's approximate
// eviction), which is the eviction that over-admits least. Evictions of
// buckets that were not yet full are counted.
class MemoryLimiter final : public Limiter {
 public:
  // `clock` must outlive the limiter.
  MemoryLimiter(const Policy& policy, std::size_t max_keys, const Clock& clock);

  void acquire(std::string_view key, DecisionHandler handler) override;
  [[nodiscard]] bool ready() const override { return true; }
  void write_metrics(std::string& out) const override;

  // The synchronous form of acquire.
  Decision decide(std::string_view key);

  // Buckets currently held (including full ones not yet swept).
  [[nodiscard]] std::size_t size() const;
  // Buckets evicted at the cap before they were full.
  [[nodiscard]] std::uint64_t evictions() const {
    return evictions_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] const Policy& policy() const { return policy_; }

 private:
  using Map = std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>>;

  struct alignas(64) Shard {
    std::mutex mutex;
    // Guarded by mutex.
    Map buckets;
    std::size_t inserts_since_sweep = 0;
    std::size_t size_after_sweep = 0;
    std::uint64_t rng = 0x9E3779B97F4A7C15ULL;
  };

  // Both require shard.mutex held.
  void sweep(Shard& shard, std::int64_t now);
  void evict_one(Shard& shard, std::int64_t now);

  // Constant after construction.
  const Policy policy_;
  const Clock& clock_;
  std::size_t shard_cap_;
  std::vector<std::unique_ptr<Shard>> shards_;

  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace aegis
