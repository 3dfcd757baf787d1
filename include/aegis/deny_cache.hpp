// Local memory of Redis's denials. Once Redis has said that a key has no
// token until time T, this instance can answer that key itself until T:
// other instances can only take tokens, never add them, so the denial cannot
// become wrong before T. This keeps Redis's load flat while one abusive client
// hammers the service.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aegis/clock.hpp"
#include "aegis/string_hash.hpp"
#include "aegis/decision.hpp"

namespace aegis {

// Safe for concurrent use without external synchronization. Bounded: at most
// `max_keys` entries; when full, expired entries are swept and, if none are,
// the new denial is simply not remembered (Redis will be asked again).
class DenyCache {
 public:
  // `clock` must outlive the cache.
  DenyCache(std::size_t max_keys, const Clock& clock);

  // Remembers a denial made by Redis for a request that was sent at `sent`.
  // Using the send time (not the receive time) makes the deadline early by
  // the round trip, never late: the cached answer is never stricter than Redis.
  void remember(std::string_view key, const Decision& denial, Micros sent);
  // A local denial for `key` if Redis's last one still holds.
  std::optional<Decision> lookup(std::string_view key);

  [[nodiscard]] std::uint64_t hits() const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry {
    std::int64_t retry_at;  // clock time until which the key has no token
    std::int64_t reset_at;  // clock time at which the bucket is full
    std::int64_t limit;
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> entries;  // guarded
    std::uint64_t hits = 0;                                                       // guarded
  };
  Shard& shard_for(std::string_view key);

  const Clock& clock_;
  std::size_t shard_cap_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace aegis
