#include "aegis/redis_reply.hpp"

#include <hiredis/hiredis.h>

namespace aegis {

std::optional<Decision> parse_script_reply(const redisReply* reply, const Policy& policy) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
    return std::nullopt;
  }
  long long v[4];
  for (std::size_t i = 0; i < 4; ++i) {
    const redisReply* e = reply->element[i];
    if (e == nullptr || e->type != REDIS_REPLY_INTEGER) {
      return std::nullopt;
    }
    v[i] = e->integer;
  }
  const long long window = policy.window().count();
  if ((v[0] != 0 && v[0] != 1) || v[1] < 0 || v[1] > policy.capacity || v[2] < 0 ||
      v[2] > window || v[3] < 0 || v[3] > window) {
    return std::nullopt;
  }
  Decision d;
  d.outcome = v[0] == 1 ? Decision::Outcome::kAllowed : Decision::Outcome::kLimited;
  d.limit = policy.capacity;
  d.remaining = v[1];
  d.retry_after = Micros{v[2]};
  d.reset_after = Micros{v[3]};
  return d;
}

bool is_noscript_error(const redisReply* reply) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
         std::string_view(reply->str, reply->len).starts_with("NOSCRIPT");
}

std::string_view describe_reply(const redisReply* reply) {
  if (reply == nullptr) return "no reply (connection lost)";
  switch (reply->type) {
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
      return {reply->str, reply->len};
    case REDIS_REPLY_ARRAY:
      return "an unexpected array";
    case REDIS_REPLY_INTEGER:
      return "an unexpected integer";
    default:
      return "an unexpected nil";
  }
}

}  // namespace aegis
