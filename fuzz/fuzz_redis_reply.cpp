// Fuzzes the checking of Redis replies: arbitrary RESP bytes (replies the
// script could never send) through hiredis's reader, then parse_script_reply.
// A reply is accepted only if it is within the policy's bounds.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdlib>

#include "aegis/redis_reply.hpp"

using namespace aegis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Policy policy;
  if (!Policy::make(4, 0.2, &policy).empty()) std::abort();
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, reinterpret_cast<const char*>(data), size);
  void* reply = nullptr;
  while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply != nullptr) {
    const auto* r = static_cast<const redisReply*>(reply);
    if (auto d = parse_script_reply(r, policy)) {
      if (d->remaining < 0 || d->remaining > policy.capacity) std::abort();
      if (d->retry_after.count() < 0 || d->retry_after > policy.window()) std::abort();
      if (d->reset_after.count() < 0 || d->reset_after > policy.window()) std::abort();
    }
    (void)is_noscript_error(r);
    (void)describe_reply(r);
    freeReplyObject(reply);
    reply = nullptr;
  }
  redisReaderFree(reader);
  return 0;
}
