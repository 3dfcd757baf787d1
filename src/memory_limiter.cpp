#include "aegis/memory_limiter.hpp"

#include <algorithm>
#include <limits>

#include "aegis/metrics.hpp"

namespace aegis {
namespace {

// Enough shards that 2-8 I/O threads rarely meet on one lock; more only costs
// memory. Fewer when the cap is tiny, so each shard can hold at least one key.
constexpr std::size_t kShards = 64;
// A shard with fewer keys than this is never swept: not worth the walk.
constexpr std::size_t kMinSweep = 1024;
constexpr int kEvictionSamples = 8;

std::uint64_t next_random(std::uint64_t& state) {
  // xorshift64: cheap, and only used to spread eviction samples.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

MemoryLimiter::MemoryLimiter(const Policy& policy, std::size_t max_keys, const Clock& clock)
    : policy_(policy), clock_(clock) {
  max_keys = std::max<std::size_t>(max_keys, 1);
  const std::size_t n = std::min(kShards, max_keys);
  shard_cap_ = max_keys / n;  // n * shard_cap_ <= max_keys: the cap is never exceeded.
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<Shard>());
    shards_.back()->rng += i * 0x2545F4914F6CDD1DULL;
  }
}

void MemoryLimiter::acquire(std::string_view key, DecisionHandler handler) {
  handler(decide(key));
}

Decision MemoryLimiter::decide(std::string_view key) {
  const std::size_t hash = StringHash{}(key);
  // The map uses the low bits of the hash for its buckets; pick the shard from
  // the high bits so the two choices stay independent.
  Shard& shard = *shards_[(hash >> 32) % shards_.size()];
  const std::int64_t now = clock_.now().count();

  TakeResult r;
  {
    std::lock_guard lock(shard.mutex);
    auto it = shard.buckets.find(key);
    if (it != shard.buckets.end()) {
      r = take_token(it->second, now, policy_);
      it->second = r.full_at;
    } else {
      r = take_token(now, now, policy_);
      if (shard.inserts_since_sweep >= std::max(kMinSweep, shard.size_after_sweep)) {
        sweep(shard, now);
      }
      if (shard.buckets.size() >= shard_cap_) {
        evict_one(shard, now);
      }
      shard.buckets.emplace(key, r.full_at);
      ++shard.inserts_since_sweep;
    }
  }

  Decision d;
  d.outcome = r.allowed ? Decision::Outcome::kAllowed : Decision::Outcome::kLimited;
  d.limit = policy_.capacity;
  d.remaining = r.remaining;
  d.retry_after = r.retry_after;
  d.reset_after = r.reset_after;
  return d;
}

void MemoryLimiter::sweep(Shard& shard, std::int64_t now) {
  std::erase_if(shard.buckets, [now](const auto& kv) { return kv.second <= now; });
  shard.size_after_sweep = shard.buckets.size();
  shard.inserts_since_sweep = 0;
}

void MemoryLimiter::evict_one(Shard& shard, std::int64_t now) {
  Map& m = shard.buckets;
  const std::size_t nb = m.bucket_count();
  const std::string* victim = nullptr;
  std::int64_t victim_full_at = std::numeric_limits<std::int64_t>::max();
  for (int s = 0; s < kEvictionSamples; ++s) {
    std::size_t b = next_random(shard.rng) % nb;
    // Walk to the next non-empty bucket; the map is full, so this is short.
    for (std::size_t probe = 0; probe < nb && m.bucket_size(b) == 0; ++probe) {
      b = (b + 1) % nb;
    }
    for (auto it = m.begin(b); it != m.end(b); ++it) {
      if (it->second < victim_full_at) {
        victim = &it->first;
        victim_full_at = it->second;
      }
    }
  }
  if (victim == nullptr) {
    return;
  }
  if (victim_full_at > now) {
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  m.erase(m.find(*victim));
}

void MemoryLimiter::write_metrics(std::string& out) const {
  write_family(out, "aegis_memory_keys", "gauge",
               "Buckets held by the memory backend (including full ones not yet swept).");
  write_sample(out, "aegis_memory_keys", "", static_cast<double>(size()));
  write_family(out, "aegis_memory_evictions_total", "counter",
               "Buckets evicted at MEMORY_MAX_KEYS before they were full.");
  write_sample(out, "aegis_memory_evictions_total", "", static_cast<double>(evictions()));
}

std::size_t MemoryLimiter::size() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->buckets.size();
  }
  return total;
}

}  // namespace aegis
