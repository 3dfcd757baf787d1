#include "aegis/deny_cache.hpp"

#include <algorithm>

namespace aegis {
namespace {
constexpr std::size_t kShards = 16;
}

DenyCache::DenyCache(std::size_t max_keys, const Clock& clock) : clock_(clock) {
  const std::size_t n = std::clamp<std::size_t>(max_keys, 1, kShards);
  shard_cap_ = std::max<std::size_t>(max_keys / n, 1);
  for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

DenyCache::Shard& DenyCache::shard_for(std::string_view key) {
  return *shards_[(StringHash{}(key) >> 32) % shards_.size()];
}

void DenyCache::remember(std::string_view key, const Decision& denial, Micros sent) {
  const std::int64_t retry_at = sent.count() + denial.retry_after.count();
  if (retry_at <= clock_.now().count()) return;  // already over
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mutex);
  if (s.entries.size() >= shard_cap_ && !s.entries.contains(key)) {
    const std::int64_t now = clock_.now().count();
    std::erase_if(s.entries, [now](const auto& kv) { return kv.second.retry_at <= now; });
    if (s.entries.size() >= shard_cap_) return;
  }
  s.entries.insert_or_assign(std::string(key),
                             Entry{retry_at, sent.count() + denial.reset_after.count(), denial.limit});
}

std::optional<Decision> DenyCache::lookup(std::string_view key) {
  Shard& s = shard_for(key);
  const std::int64_t now = clock_.now().count();
  std::lock_guard lock(s.mutex);
  auto it = s.entries.find(key);
  if (it == s.entries.end()) return std::nullopt;
  if (it->second.retry_at <= now) {
    s.entries.erase(it);
    return std::nullopt;
  }
  ++s.hits;
  Decision d;
  d.outcome = Decision::Outcome::kLimited;
  d.limit = it->second.limit;
  d.remaining = 0;
  d.retry_after = Micros{it->second.retry_at - now};
  d.reset_after = Micros{std::max<std::int64_t>(it->second.reset_at - now, 0)};
  return d;
}

std::uint64_t DenyCache::hits() const {
  std::uint64_t total = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    total += s->hits;
  }
  return total;
}

std::size_t DenyCache::size() const {
  std::size_t total = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mutex);
    total += s->entries.size();
  }
  return total;
}

}  // namespace aegis
