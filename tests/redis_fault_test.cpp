// Redis faults under load: two aegis instances share one Redis under steady
// traffic for about 20 s while Redis is killed and restarted three times and
// paused twice. Nothing but 200/429 may come back, no connection may break,
// no answer may wait much past the deadline, exact limiting must resume within
// 2 s of each recovery, and descriptors and memory must not grow.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/time_scale.hpp"

namespace aegis::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kCapacity = 5;
constexpr milliseconds kRedisTimeout{50};

long open_fds(pid_t pid) {
  long n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

long rss_kib(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// ASan keeps freed memory in a quarantine (256 MB by default), which would
// look like growth; capped here so the RSS bound below still means something.
#if defined(__SANITIZE_ADDRESS__)
constexpr long kAllocatorSlackKiB = 16 * 1024;
std::string asan_options() {
  const char* base = std::getenv("ASAN_OPTIONS");
  return std::string(base != nullptr ? base : "") + ":quarantine_size_mb=16";
}
#else
constexpr long kAllocatorSlackKiB = 0;
std::string asan_options() { return ""; }
#endif

struct Instance {
  std::uint16_t port;
  std::unique_ptr<Process> process;
};

// Exact limiting: a fresh user gets exactly kCapacity 200s, none degraded,
// then a 429.
bool limiting_is_exact(std::uint16_t port, const std::string& user) {
  Connection c(port);
  for (int i = 0; i < kCapacity; ++i) {
    auto r = c.get("/ping?user=" + user);
    if (!r || r->status != 200 || !r->header("aegis-degraded").empty()) return false;
  }
  auto r = c.get("/ping?user=" + user);
  return r && r->status == 429;
}

TEST(RedisFaults, SteadyLoadSurvivesKillsRestartsAndPauses) {
  RedisServer redis;
  std::vector<Instance> instances;
  for (int i = 0; i < 2; ++i) {
    Instance inst{free_port(), nullptr};
    inst.process = std::make_unique<Process>(
        std::vector<std::string>{aegis_binary()},
        std::map<std::string, std::string>{{"PORT", std::to_string(inst.port)},
                                           {"THREADS", "1"},
                                           {"REDIS_ADDR", redis.addr()},
                                           {"REDIS_TIMEOUT_MS", std::to_string(kRedisTimeout.count())},
                                           {"RATE_LIMIT_CAPACITY", std::to_string(kCapacity)},
                                           {"RATE_LIMIT_REFILL_PER_SEC", "0.000001"},
                                           {"ASAN_OPTIONS", asan_options()}});
    ASSERT_TRUE(wait_for_port(inst.port, milliseconds(5000)));
    instances.push_back(std::move(inst));
  }
  for (auto& inst : instances) {
    const auto deadline = Clock::now() + milliseconds(5000);
    while (inst.process->output().find("connected to Redis") == std::string::npos &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  for (auto& inst : instances) {
    ASSERT_TRUE(limiting_is_exact(inst.port, "warmup-" + std::to_string(inst.port))) << inst.process->output();
  }

  // Baselines after warm-up.
  std::vector<long> fds0, rss0;
  for (auto& inst : instances) {
    fds0.push_back(open_fds(inst.process->pid()));
    rss0.push_back(rss_kib(inst.process->pid()));
  }

  // Steady load: 4 keep-alive clients, one request every 2 ms each.
  std::atomic<bool> stop{false};
  std::atomic<bool> outage{false};
  std::atomic<long> ok{0}, limited{0}, other{0}, socket_errors{0};
  std::atomic<long> slowest_outage_us{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      Connection c(instances[t % 2].port);
      while (!stop) {
        const auto start = Clock::now();
        const bool during_outage = outage;
        auto r = c.get("/ping?user=load" + std::to_string(rng() % 1000));
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
        if (!r) {
          socket_errors++;
          c = Connection(instances[t % 2].port);
          continue;
        }
        if (r->status == 200) ok++;
        else if (r->status == 429) limited++;
        else other++;
        if (during_outage) {
          long prev = slowest_outage_us;
          while (us > prev && !slowest_outage_us.compare_exchange_weak(prev, us)) {
          }
        }
        std::this_thread::sleep_for(milliseconds(2));  // pacing: a steady, not a flooding, load
      }
    });
  }

  std::vector<milliseconds> recoveries;
  int probe = 0;
  const auto recover = [&](const char* what) {
    outage = false;
    const auto start = Clock::now();
    bool exact = false;
    while (!exact && Clock::now() - start < milliseconds(5000)) {
      exact = limiting_is_exact(instances[probe % 2].port, "probe" + std::to_string(probe));
      ++probe;
    }
    recoveries.push_back(std::chrono::duration_cast<milliseconds>(Clock::now() - start));
    EXPECT_TRUE(exact) << "limiting did not resume after " << what;
  };
  const auto hold = [](milliseconds d) { std::this_thread::sleep_for(d); };  // fault timing

  hold(milliseconds(1500));
  for (int round = 0; round < 3; ++round) {
    outage = true;
    redis.kill();
    hold(milliseconds(1500));
    redis.restart();
    recover("a restart");
    hold(milliseconds(1500));
    if (round < 2) {
      outage = true;
      redis.pause();
      hold(milliseconds(1500));
      redis.resume();
      recover("a pause");
      hold(milliseconds(1500));
    }
  }
  stop = true;
  for (auto& c : clients) c.join();

  const long total = ok + limited + other;
  std::printf("faults: %ld answers (%ld 200, %ld 429, %ld other), %ld socket errors, slowest "
              "answer during outages %.1f ms, recoveries:",
              total, ok.load(), limited.load(), other.load(), socket_errors.load(),
              static_cast<double>(slowest_outage_us) / 1000.0);
  for (auto r : recoveries) std::printf(" %ld ms", static_cast<long>(r.count()));
  std::printf("\n");

  EXPECT_GT(total, 2000);
  EXPECT_EQ(other.load(), 0) << "fail-open: only 200 and 429";
  EXPECT_EQ(socket_errors.load(), 0);
  EXPECT_LE(slowest_outage_us.load(), scaled(kRedisTimeout + milliseconds(50)).count() * 1000);
  for (auto r : recoveries) EXPECT_LT(r, milliseconds(2000));
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const long fds = open_fds(instances[i].process->pid());
    const long rss = rss_kib(instances[i].process->pid());
    std::printf("instance %zu: fds %ld -> %ld, RSS %ld -> %ld KiB\n", i, fds0[i], fds, rss0[i], rss);
    EXPECT_LE(fds, fds0[i] + 4) << "descriptors leak";
    EXPECT_LE(rss, rss0[i] + 16 * 1024 + kAllocatorSlackKiB) << "memory grows";
  }
}

}  // namespace
}  // namespace aegis::test
