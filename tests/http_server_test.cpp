// The real server over real loopback sockets.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "aegis/app.hpp"
#include "support/http_client.hpp"
#include "support/promtool.hpp"
#include <unistd.h>

namespace aegis {
namespace {

using test::Connection;
using test::http_get;

Config test_config() {
  Config c;
  c.port = 0;  // any free port
  c.threads = 2;
  EXPECT_EQ(Policy::make(4, 0.2, &c.policy), "");
  return c;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(Config c = test_config(), std::unique_ptr<Limiter> limiter = nullptr) {
    app_ = std::make_unique<App>(c, std::move(limiter), "127.0.0.1");
    app_->start();
  }
  void SetUp() override {
    if (!app_) start();
  }
  std::uint16_t port() const { return app_->port(); }
  std::unique_ptr<App> app_;
};

TEST_F(ServerTest, FourAllowedThenLimitedWithRetryAfter) {
  for (int i = 0; i < 4; ++i) {
    auto r = http_get(port(), "/ping?user=alice");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << i;
    EXPECT_TRUE(r->body.starts_with("Hello! Your request was successful. Time : "));
  }
  auto limited = http_get(port(), "/ping?user=alice");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->header("retry-after"), "5");
  EXPECT_EQ(limited->header("content-type"), "application/problem+json");
  EXPECT_EQ(limited->header("ratelimit"), "\"default\";r=0;t=5");
  EXPECT_EQ(limited->header("ratelimit-policy"), "\"default\";q=4;w=20");
  EXPECT_NE(limited->body.find("\"error\":\"Too many requests. Slow down!\""), std::string::npos);
  // Another user is unaffected.
  EXPECT_EQ(http_get(port(), "/ping?user=bob")->status, 200);
}

TEST_F(ServerTest, StatusCodesForBadRequests) {
  EXPECT_EQ(http_get(port(), "/ping")->status, 400);
  EXPECT_EQ(http_get(port(), "/ping?user=")->status, 400);
  EXPECT_EQ(http_get(port(), "/ping?user=%zz")->status, 400);
  EXPECT_EQ(http_get(port(), "/ping?user=a&user=b")->status, 400);
  EXPECT_EQ(http_get(port(), "/ping?user=" + std::string(257, 'x'))->status, 400);
  EXPECT_EQ(http_get(port(), "/elsewhere")->status, 404);
  EXPECT_EQ(http_get(port(), "/")->status, 200);

  Connection c(port());
  ASSERT_TRUE(c.send("POST /ping?user=a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "GET, HEAD");
}

TEST_F(ServerTest, PercentEncodedUserSharesTheBucket) {
  EXPECT_EQ(http_get(port(), "/ping?user=carol")->status, 200);
  EXPECT_EQ(http_get(port(), "/ping?user=%63arol")->status, 200);
  EXPECT_EQ(http_get(port(), "/ping?user=car%6Fl")->status, 200);
  EXPECT_EQ(http_get(port(), "/ping?user=%63%61%72%6f%6c")->status, 200);
  EXPECT_EQ(http_get(port(), "/ping?user=carol")->status, 429);
}

TEST_F(ServerTest, HeadAnswersWithoutABody) {
  Connection c(port());
  ASSERT_TRUE(c.send("HEAD /ping?user=dave HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.read_reply(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "64");
  // The next response on the connection must start right after the header.
  auto next = c.get("/ping?user=dave");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Connection c(port());
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 200; ++i) {
    auto r = c.get("/ping?user=erin");
    ASSERT_TRUE(r) << "request " << i;
    ok += r->status == 200 ? 1 : 0;
    limited += r->status == 429 ? 1 : 0;
  }
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(limited, 196);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Connection c(port());
  std::string batch;
  for (int i = 0; i < 6; ++i) {
    batch += "GET /ping?user=frank HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  batch += "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(c.send(batch));
  std::vector<int> statuses;
  for (int i = 0; i < 7; ++i) {
    auto r = c.read_reply();
    ASSERT_TRUE(r) << i;
    statuses.push_back(r->status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 200, 429, 429, 404}));
}

TEST_F(ServerTest, MalformedRequestGets400AndTheConnectionCloses) {
  Connection c(port());
  ASSERT_TRUE(c.send("THIS IS NOT HTTP\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, OversizedTargetGets414) {
  Connection c(port());
  ASSERT_TRUE(c.send("GET /ping?user=" + std::string(20'000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, OversizedHeadersGet431) {
  Connection c(port());
  std::string req = "GET /ping?user=a HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i) {
    req += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'v') + "\r\n";
  }
  req += "\r\n";
  ASSERT_TRUE(c.send(req));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, OversizedBodyGets413) {
  Connection c(port());
  ASSERT_TRUE(c.send("GET /ping?user=a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ServerTest, Http10ClosesAfterTheResponse) {
  Connection c(port());
  ASSERT_TRUE(c.send("GET /ping?user=gina HTTP/1.0\r\n\r\n"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(ServerTest, ClientClosingMidwayDoesNotDisturbOthers) {
  for (int i = 0; i < 50; ++i) {
    Connection c(port());
    c.send("GET /ping?user=h" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  }  // closed without reading
  EXPECT_EQ(http_get(port(), "/ping?user=henry")->status, 200);
}

TEST_F(ServerTest, HealthAndReadinessInMemoryMode) {
  auto health = http_get(port(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = http_get(port(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_NE(ready->body.find("\"backend\":\"memory\""), std::string::npos);
}

TEST_F(ServerTest, MetricsCountRequestsAndPassPromtool) {
  for (int i = 0; i < 6; ++i) http_get(port(), "/ping?user=metrics");
  http_get(port(), "/ping");
  http_get(port(), "/missing");
  // Connections the earlier requests closed are torn down asynchronously: wait
  // until only the one asking is left (slow under sanitizers).
  std::optional<test::HttpReply> r;
  for (int i = 0; i < 200; ++i) {
    r = http_get(port(), "/metrics");
    ASSERT_TRUE(r);
    if (r->body.find("aegis_open_connections 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& m = r->body;
  EXPECT_NE(m.find("aegis_http_requests_total{route=\"/ping\",code=\"200\"} 4\n"), std::string::npos) << m;
  EXPECT_NE(m.find("aegis_http_requests_total{route=\"/ping\",code=\"429\"} 2\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_http_requests_total{route=\"/ping\",code=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_http_requests_total{route=\"other\",code=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_decisions_total{decision=\"allowed\"} 4\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_decisions_total{decision=\"limited\"} 2\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_backend_latency_seconds_count 6\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_memory_keys 1\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_memory_evictions_total 0\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_open_connections 1\n"), std::string::npos);
  EXPECT_NE(m.find("aegis_build_info{version=\""), std::string::npos);

  const auto check = test::promtool_check(m);
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool lint warnings";
}

class SlowClientTest : public ServerTest {
 protected:
  void SetUp() override {
    Config c = test_config();
    c.request_timeout = std::chrono::milliseconds(300);
    start(c);
  }
};

TEST_F(SlowClientTest, IdleAndTricklingClientsAreCutOffByTheDeadline) {
  Connection idle(port());
  Connection trickle(port());
  ASSERT_TRUE(trickle.send("GET /ping?us"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.closed_by_peer());
  EXPECT_TRUE(trickle.closed_by_peer());
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(3));
  // Normal clients are still served.
  EXPECT_EQ(http_get(port(), "/ping?user=ivan")->status, 200);
}

// A backend that answers only when the test says so: holds requests "in flight".
class ManualLimiter final : public Limiter {
 public:
  void acquire(std::string_view, DecisionHandler handler) override {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(handler));
  }
  [[nodiscard]] bool ready() const override { return true; }
  std::size_t pending() {
    std::lock_guard lock(mutex_);
    return pending_.size();
  }
  void release_all() {
    std::vector<DecisionHandler> handlers;
    {
      std::lock_guard lock(mutex_);
      handlers.swap(pending_);
    }
    Decision d;
    d.outcome = Decision::Outcome::kAllowed;
    d.limit = 4;
    for (auto& h : handlers) h(d);
  }

 private:
  std::mutex mutex_;
  std::vector<DecisionHandler> pending_;
};

TEST(GracefulShutdown, FinishesInFlightRequestsAndClosesIdleOnes) {
  auto limiter = std::make_unique<ManualLimiter>();
  ManualLimiter* manual = limiter.get();
  Config c = test_config();
  App app(c, std::move(limiter), "127.0.0.1");
  app.start();

  Connection idle(app.port());
  Connection busy(app.port());
  ASSERT_TRUE(idle.get("/"));
  ASSERT_TRUE(busy.send("GET /ping?user=jo HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 500 && manual->pending() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // waiting for the server thread
  }
  ASSERT_EQ(manual->pending(), 1U);

  app.shutdown();
  EXPECT_TRUE(idle.closed_by_peer()) << "an idle connection is closed at once";
  Connection late(app.port());
  EXPECT_FALSE(late.connected() && late.get("/")) << "no new connections after shutdown";

  manual->release_all();
  auto r = busy.read_reply();
  ASSERT_TRUE(r) << "the request in flight is answered";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(busy.closed_by_peer());

  const auto start = std::chrono::steady_clock::now();
  app.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1))
      << "drained: no need to wait for the grace timer";
}

TEST(GracefulShutdown, GraceTimerStopsAStuckRequest) {
  auto limiter = std::make_unique<ManualLimiter>();
  ManualLimiter* manual = limiter.get();
  App app(test_config(), std::move(limiter), "127.0.0.1");
  app.start();
  Connection busy(app.port());
  ASSERT_TRUE(busy.send("GET /ping?user=kim HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (int i = 0; i < 500 && manual->pending() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto start = std::chrono::steady_clock::now();
  app.shutdown();
  app.wait();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, App::kShutdownGrace - std::chrono::milliseconds(100));
  EXPECT_LT(took, App::kShutdownGrace + std::chrono::seconds(1));
  manual->release_all();  // the handler outlives the loop: must be harmless
}

}  // namespace
}  // namespace aegis
