// Hostile clients against the real server over real sockets: idle and
// slowloris connections, the connection cap, odd bodies and odd bytes.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "aegis/app.hpp"
#include "support/time_scale.hpp"
#include "support/http_client.hpp"

namespace aegis {
namespace {

using std::chrono::milliseconds;
using test::Connection;
using test::http_get;
using Clock = std::chrono::steady_clock;

void raise_fd_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

Config config(milliseconds timeout = milliseconds(10'000), std::size_t max_connections = 10'000) {
  Config c;
  c.port = 0;
  c.threads = 2;
  c.request_timeout = timeout;
  c.max_connections = max_connections;
  EXPECT_EQ(Policy::make(1'000'000, 1000.0, &c.policy), "");
  return c;
}

TEST(Hostile, IdleAndSlowlorisConnectionsAreCutOffWhileOthersAreServed) {
  raise_fd_limit();
  App app(config(milliseconds(1000)), nullptr, "127.0.0.1");
  app.start();
  constexpr int kEach = 500;
  std::vector<Connection> idle;
  std::vector<Connection> slow;
  for (int i = 0; i < kEach; ++i) {
    idle.emplace_back(app.port(), milliseconds(4000));
    slow.emplace_back(app.port(), milliseconds(4000));
    ASSERT_TRUE(idle.back().connected() && slow.back().connected()) << i;
    slow.back().send("GET /ping?user=slow HTTP/1.1\r\n");
  }
  // Slowloris: one more header byte per connection every 200 ms, for 2.5 s.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    const auto end = Clock::now() + milliseconds(2500);
    while (!stop && Clock::now() < end) {
      for (auto& c : slow) c.send("X");
      std::this_thread::sleep_for(milliseconds(200));  // the attacker's pace
    }
  });

  milliseconds slowest{0};
  for (int i = 0; i < 40; ++i) {
    const auto start = Clock::now();
    auto r = http_get(app.port(), "/ping?user=normal" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(Clock::now() - start));
  }
  EXPECT_LT(slowest, test::scaled(milliseconds(250))) << "normal clients must see no visible delay";

  int closed = 0;
  for (auto& c : idle) closed += c.closed_by_peer() ? 1 : 0;
  for (auto& c : slow) closed += c.closed_by_peer() ? 1 : 0;
  stop = true;
  trickle.join();
  EXPECT_EQ(closed, 2 * kEach) << "the read deadline closes idle and trickling connections";
  EXPECT_EQ(http_get(app.port(), "/ping?user=after")->status, 200);
}

TEST(Hostile, MaxConnectionsClosesNewOnesAndSparesTheOthers) {
  App app(config(milliseconds(10'000), 50), nullptr, "127.0.0.1");
  app.start();
  std::vector<Connection> held;
  for (int i = 0; i < 50; ++i) {
    held.emplace_back(app.port());
    ASSERT_TRUE(held.back().get("/")) << i;
  }
  for (int i = 0; i < 10; ++i) {
    Connection extra(app.port(), milliseconds(2000));
    const auto start = Clock::now();
    EXPECT_TRUE(!extra.connected() || extra.closed_by_peer()) << "connection " << i;
    EXPECT_LT(Clock::now() - start, milliseconds(1000)) << "closed at once";
  }
  for (auto& c : held) {
    auto r = c.get("/ping?user=held");
    ASSERT_TRUE(r) << "existing connections are unaffected";
    EXPECT_EQ(r->status, 200);
  }
  while (held.size() > 40) held.pop_back();  // room again
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    Connection c(app.port(), milliseconds(1000));
    auto r = c.get("/");
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(milliseconds(10));  // the server sees the closes
  }
  EXPECT_TRUE(served);
}

class HostileRequests : public ::testing::Test {
 protected:
  void SetUp() override { app_.start(); }
  App app_{config(milliseconds(700)), nullptr, "127.0.0.1"};
};

TEST_F(HostileRequests, ASmallBodyOnGetIsReadAndIgnored) {
  Connection c(app_.port());
  ASSERT_TRUE(c.send("GET /ping?user=b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto next = c.get("/ping?user=b");
  ASSERT_TRUE(next) << "the body must not be taken for the next request";
  EXPECT_EQ(next->status, 200);
}

TEST_F(HostileRequests, ChunkedBodyWithoutEndIsCutOffByTheDeadline) {
  Connection c(app_.port());
  ASSERT_TRUE(c.send("GET /ping?user=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n"));
  const auto start = Clock::now();
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
}

TEST_F(HostileRequests, EndlessChunkedBodyHits413) {
  Connection c(app_.port());
  std::string req = "GET /ping?user=d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) req += "400\r\n" + std::string(1024, 'a') + "\r\n";
  c.send(req);
  auto r = c.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(HostileRequests, OddBytesInUserNeverCauseA5xx) {
  EXPECT_EQ(http_get(app_.port(), "/ping?user=a%00b")->status, 400);
  EXPECT_EQ(http_get(app_.port(), "/ping?user=a%0D%0ASet-Cookie:%20x")->status, 400);
  EXPECT_EQ(http_get(app_.port(), "/ping?user=%FF%FE%C0")->status, 200) << "non-UTF-8 is a key";
  for (const char* raw : {"/ping?user=\xff\xfe", "/ping?user=a\tb", "/ping?user=a b",
                          "/ping?user=\x01", "/ping?user=%", "/ping?user=%%", "/ping?&&&&=&user",
                          "/ping?user==", "/ping?user=a=b"}) {
    Connection c(app_.port());
    ASSERT_TRUE(c.send(std::string("GET ") + raw + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_reply();
    ASSERT_TRUE(r) << raw;
    EXPECT_LT(r->status, 500) << raw;
  }
  EXPECT_EQ(http_get(app_.port(), "/healthz")->status, 200);
}

TEST_F(HostileRequests, GarbageAndHalfRequestsAreAnsweredOrClosed) {
  for (const char* junk : {"\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
                           "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                           "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                           "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}) {
    Connection c(app_.port());
    c.send(junk);
    auto r = c.read_reply();
    if (r) {
      EXPECT_LT(r->status, 500) << junk;
      EXPECT_GE(r->status, 400) << junk;
    }
    EXPECT_TRUE(c.closed_by_peer()) << junk;
  }
  EXPECT_EQ(http_get(app_.port(), "/healthz")->status, 200);
}

}  // namespace
}  // namespace aegis
