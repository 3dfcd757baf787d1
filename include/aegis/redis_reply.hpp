// Checking what Redis sent back for the token-bucket script. A reply is
// trusted only if it has exactly the shape lua/token_bucket.lua produces and
// values the policy allows; anything else is an error, never a decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "aegis/decision.hpp"
#include "aegis/token_bucket.hpp"

struct redisReply;

namespace aegis {

// Parses the script's reply (see lua/token_bucket.lua) into a Decision.
// nullopt for a null reply, an error reply or any unexpected shape or value.
std::optional<Decision> parse_script_reply(const redisReply* reply, const Policy& policy);

// True for an error reply saying the script is not cached (NOSCRIPT).
bool is_noscript_error(const redisReply* reply);

// The error text of an error reply (or a short description of other replies),
// for logs.
std::string_view describe_reply(const redisReply* reply);

}  // namespace aegis
