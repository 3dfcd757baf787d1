#include "aegis/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace aegis {
namespace {

Lookup from(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

std::string error_for(std::map<std::string, std::string, std::less<>> vars) {
  try {
    load_config(from(std::move(vars)));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Config, Defaults) {
  const Config c = load_config(from({}));
  EXPECT_EQ(c.port, 8080);
  EXPECT_GE(c.threads, 1U);
  EXPECT_EQ(c.policy.capacity, 4);
  EXPECT_EQ(c.policy.interval.count(), 5'000'000);
  EXPECT_EQ(c.max_key_bytes, 256U);
  EXPECT_EQ(c.memory_max_keys, 1'000'000U);
  EXPECT_EQ(c.request_timeout.count(), 10'000);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.mode(), Mode::kMemory);
}

TEST(Config, ReadsEveryVariable) {
  const Config c = load_config(from({{"PORT", "9000"},
                                     {"THREADS", "3"},
                                     {"RATE_LIMIT_CAPACITY", "10"},
                                     {"RATE_LIMIT_REFILL_PER_SEC", "2.5"},
                                     {"MAX_KEY_BYTES", "64"},
                                     {"MEMORY_MAX_KEYS", "5000"},
                                     {"REQUEST_TIMEOUT_MS", "2500"},
                                     {"LOG_LEVEL", "DEBUG"}}));
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.threads, 3U);
  EXPECT_EQ(c.policy.capacity, 10);
  EXPECT_EQ(c.policy.interval.count(), 400'000);
  EXPECT_EQ(c.max_key_bytes, 64U);
  EXPECT_EQ(c.memory_max_keys, 5000U);
  EXPECT_EQ(c.request_timeout.count(), 2500);
  EXPECT_EQ(c.log_level, "debug");
}

TEST(Config, EmptyOrBlankValueMeansUnset) {
  const Config c = load_config(from({{"PORT", ""}, {"RATE_LIMIT_CAPACITY", "  "}}));
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.policy.capacity, 4);
}

TEST(Config, SurroundingWhitespaceIsTolerated) {
  EXPECT_EQ(load_config(from({{"PORT", " 9001 "}})).port, 9001);
}

struct Rejection {
  const char* name;
  const char* value;
};

class ConfigRejects : public ::testing::TestWithParam<Rejection> {};

TEST_P(ConfigRejects, WithOneLineNamingVariableAndValue) {
  const auto [name, value] = GetParam();
  const std::string msg = error_for({{name, value}});
  EXPECT_NE(msg, "(accepted)");
  EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::string("\"") + value + "\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    All, ConfigRejects,
    ::testing::Values(Rejection{"PORT", "abc"}, Rejection{"PORT", "0"}, Rejection{"PORT", "65536"},
                      Rejection{"PORT", "-1"}, Rejection{"PORT", "80x"},
                      Rejection{"PORT", "8080.5"}, Rejection{"THREADS", "0"},
                      Rejection{"THREADS", "many"}, Rejection{"RATE_LIMIT_CAPACITY", "0"},
                      Rejection{"RATE_LIMIT_CAPACITY", "-4"},
                      Rejection{"RATE_LIMIT_CAPACITY", "1.5"},
                      Rejection{"RATE_LIMIT_CAPACITY", "99999999999999999999"},
                      Rejection{"RATE_LIMIT_REFILL_PER_SEC", "0"},
                      Rejection{"RATE_LIMIT_REFILL_PER_SEC", "-0.2"},
                      Rejection{"RATE_LIMIT_REFILL_PER_SEC", "fast"},
                      Rejection{"RATE_LIMIT_REFILL_PER_SEC", "nan"},
                      Rejection{"RATE_LIMIT_REFILL_PER_SEC", "inf"},
                      Rejection{"MAX_KEY_BYTES", "0"}, Rejection{"MAX_KEY_BYTES", "100000"},
                      Rejection{"MEMORY_MAX_KEYS", "0"}, Rejection{"MEMORY_MAX_KEYS", "lots"},
                      Rejection{"REQUEST_TIMEOUT_MS", "5"}, Rejection{"LOG_LEVEL", "loud"},
                      Rejection{"LOG_FORMAT", "xml"}));

TEST(Config, PolicyTooSlowToRefillNamesBothVariables) {
  const std::string msg =
      error_for({{"RATE_LIMIT_CAPACITY", "1000000000"}, {"RATE_LIMIT_REFILL_PER_SEC", "0.000001"}});
  EXPECT_NE(msg.find("RATE_LIMIT_REFILL_PER_SEC=\"0.000001\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("RATE_LIMIT_CAPACITY=1000000000"), std::string::npos) << msg;
}

TEST(Dotenv, ParsesAssignmentsCommentsQuotesAndExport) {
  const auto vars = parse_dotenv(
      "# a comment\n"
      "\n"
      "PORT=9000\n"
      "export THREADS = 2\n"
      "REDIS_PASSWORD=\"p@ss word#1\"\n"
      "LOG_LEVEL='debug'  # trailing comment\n"
      "RATE_LIMIT_CAPACITY=7 # inline comment\r\n"
      "EMPTY=\n");
  EXPECT_EQ(vars.at("PORT"), "9000");
  EXPECT_EQ(vars.at("THREADS"), "2");
  EXPECT_EQ(vars.at("REDIS_PASSWORD"), "p@ss word#1");
  EXPECT_EQ(vars.at("LOG_LEVEL"), "debug");
  EXPECT_EQ(vars.at("RATE_LIMIT_CAPACITY"), "7");
  EXPECT_EQ(vars.at("EMPTY"), "");
  EXPECT_EQ(vars.size(), 6U);
}

TEST(Dotenv, RejectsBadLinesNamingTheLine) {
  const auto error_of = [](std::string_view text) -> std::string {
    try {
      parse_dotenv(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(error_of("PORT=1\nno equals sign\n").find(".env line 2"), std::string::npos);
  EXPECT_NE(error_of("=value\n").find(".env line 1"), std::string::npos);
  EXPECT_NE(error_of("1ABC=x\n").find(".env line 1"), std::string::npos);
  EXPECT_NE(error_of("A=\"unterminated\n").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("A=\"x\" y\n").find("after the closing quote"), std::string::npos);
}

TEST(Dotenv, RealEnvironmentWins) {
  ::setenv("AEGIS_TEST_VAR", "from-env", 1);
  const Lookup lookup =
      environment_with({{"AEGIS_TEST_VAR", "from-file"}, {"AEGIS_TEST_ONLY_FILE", "file"}});
  EXPECT_EQ(lookup("AEGIS_TEST_VAR"), "from-env");
  EXPECT_EQ(lookup("AEGIS_TEST_ONLY_FILE"), "file");
  EXPECT_EQ(lookup("AEGIS_TEST_UNSET"), std::nullopt);
  ::unsetenv("AEGIS_TEST_VAR");
}

TEST(Config, HelpAndEnvExampleDocumentEveryVariable) {
  std::ifstream in(std::string(AEGIS_SOURCE_DIR) + "/.env.example");
  ASSERT_TRUE(in) << ".env.example is missing";
  std::stringstream s;
  s << in.rdbuf();
  const std::string example = s.str();
  const std::string help = help_text();
  for (const VariableInfo& v : known_variables()) {
    EXPECT_NE(help.find(v.name), std::string::npos) << v.name;
    const std::string assignment = std::string(v.name) + "=" + std::string(v.default_value);
    EXPECT_NE(example.find(assignment), std::string::npos)
        << ".env.example lacks '" << assignment << "'";
  }
  // And .env.example itself is valid and loads.
  EXPECT_NO_THROW(load_config(from(parse_dotenv(example))));
}

}  // namespace
}  // namespace aegis

namespace aegis {
namespace {

TEST(RedisConfig, AddrSelectsRedisModeWithDefaults) {
  const Config c = load_config(from({{"REDIS_ADDR", "redis-123.example.com:18273"}}));
  ASSERT_EQ(c.mode(), Mode::kRedis);
  EXPECT_EQ(c.redis->host, "redis-123.example.com");
  EXPECT_EQ(c.redis->port, 18273);
  EXPECT_EQ(c.redis->db, 0);
  EXPECT_EQ(c.redis->timeout.count(), 50);
  EXPECT_EQ(c.redis->key_prefix, "aegis:");
  EXPECT_TRUE(c.redis->username.empty());
  EXPECT_TRUE(c.redis->password.empty());
  EXPECT_EQ(c.fail_mode, FailMode::kOpen);
  EXPECT_EQ(load_config(from({})).mode(), Mode::kMemory);
}

TEST(RedisConfig, AddrForms) {
  RedisSettings r;
  parse_redis_addr("localhost", r);
  EXPECT_EQ(r.host, "localhost");
  EXPECT_EQ(r.port, 6379);
  parse_redis_addr("[::1]:7000", r);
  EXPECT_EQ(r.host, "::1");
  EXPECT_EQ(r.port, 7000);
  for (const char* bad : {"host:", "host:0", "host:70000", "host:x", "::1:6379", "[::1", ":6379",
                          "user@host:1"}) {
    EXPECT_THROW(parse_redis_addr(bad, r), ConfigError) << bad;
  }
}

TEST(RedisConfig, UrlWithUserPasswordAndDatabase) {
  const Config c = load_config(from({{"REDIS_URL", "redis://limiter:p%40ss@10.0.0.5:6380/3"}}));
  ASSERT_TRUE(c.redis);
  EXPECT_EQ(c.redis->username, "limiter");
  EXPECT_EQ(c.redis->password, "p@ss");
  EXPECT_EQ(c.redis->host, "10.0.0.5");
  EXPECT_EQ(c.redis->port, 6380);
  EXPECT_EQ(c.redis->db, 3);

  const RedisSettings pw_only = parse_redis_url("redis://:secret@host");
  EXPECT_EQ(pw_only.username, "");
  EXPECT_EQ(pw_only.password, "secret");
  EXPECT_EQ(pw_only.port, 6379);
  EXPECT_EQ(parse_redis_url("redis://host:1/").db, 0);
}

TEST(RedisConfig, SeparateVariablesWinOverTheUrl) {
  const Config c = load_config(from({{"REDIS_URL", "redis://a:b@host:1/2"},
                                     {"REDIS_USERNAME", "other"},
                                     {"REDIS_PASSWORD", " spaced pw "},
                                     {"REDIS_DB", "5"}}));
  EXPECT_EQ(c.redis->username, "other");
  EXPECT_EQ(c.redis->password, " spaced pw ") << "passwords are taken verbatim";
  EXPECT_EQ(c.redis->db, 5);
}

TEST(RedisConfig, BadUrlsAreRejectedWithoutShowingThePassword) {
  for (const char* url : {"http://host:1", "rediss://host:1", "redis://", "redis://host:99999",
                          "redis://host:1/16", "redis://host:1/x", "redis://u:%zz@host"}) {
    const std::string msg = error_for({{"REDIS_URL", url}});
    EXPECT_NE(msg.find("REDIS_URL"), std::string::npos) << url << ": " << msg;
  }
  const std::string msg = error_for({{"REDIS_URL", "redis://user:hunter2@host:99999"}});
  EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("****"), std::string::npos) << msg;
  EXPECT_NE(error_for({{"REDIS_URL", "rediss://h:1"}}).find("TLS"), std::string::npos);
}

TEST(RedisConfig, Rejections) {
  EXPECT_NE(error_for({{"REDIS_ADDR", "a:1"}, {"REDIS_URL", "redis://b:2"}}).find("not both"),
            std::string::npos);
  EXPECT_NE(error_for({{"REDIS_ADDR", "a:1"}, {"REDIS_USERNAME", "u"}}).find("REDIS_PASSWORD"),
            std::string::npos);
  EXPECT_NE(error_for({{"REDIS_ADDR", "a:1"}, {"REDIS_DB", "16"}}).find("REDIS_DB=\"16\""),
            std::string::npos);
  EXPECT_NE(error_for({{"REDIS_ADDR", "a:1"}, {"REDIS_TIMEOUT_MS", "0"}})
                .find("REDIS_TIMEOUT_MS=\"0\""),
            std::string::npos);
  EXPECT_NE(error_for({{"REDIS_ADDR", "a:1"}, {"REDIS_CONNECTIONS", "0"}})
                .find("REDIS_CONNECTIONS=\"0\""),
            std::string::npos);
  EXPECT_NE(error_for({{"FAIL_MODE", "sometimes"}}).find("FAIL_MODE=\"sometimes\""),
            std::string::npos);
  EXPECT_EQ(load_config(from({{"FAIL_MODE", "CLOSED"}})).fail_mode, FailMode::kClosed);
}

}  // namespace
}  // namespace aegis

#include "aegis/logging.hpp"

namespace aegis {
namespace {

TEST(Logging, JsonEscaping) {
  std::string out;
  append_json_escaped(std::string_view("a\"b\\c\nd\x01\x7f\xc3\xa9", 11), out);
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\u0001\\u007f\xc3\xa9");
}

TEST(Config, LogFormat) {
  EXPECT_EQ(load_config(from({{"LOG_FORMAT", "json"}})).log_format, LogFormat::kJson);
  EXPECT_EQ(load_config(from({})).log_format, LogFormat::kText);
}

}  // namespace
}  // namespace aegis
