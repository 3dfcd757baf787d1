// Microbenchmarks of the hot path: the bucket arithmetic, the memory backend
// (one hot key under 1, 2 and 8 threads; 1,000,000 distinct keys; the allowed
// and the limited path) and routing plus response building.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "aegis/http_handler.hpp"
#include "aegis/memory_limiter.hpp"
#include "aegis/token_bucket.hpp"

namespace aegis {
namespace {

Policy policy(std::int64_t capacity, double rate) {
  Policy p;
  Policy::make(capacity, rate, &p);
  return p;
}

void BM_TakeToken(benchmark::State& state) {
  const Policy p = policy(4, 0.2);
  std::int64_t full_at = 0;
  std::int64_t now = 1'000'000'000;
  for (auto _ : state) {
    const TakeResult r = take_token(full_at, now, p);
    full_at = r.full_at;
    now += 1'300'000;
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_TakeToken);

// One key for every thread: the worst case for the shard lock.
void BM_MemoryHotKey(benchmark::State& state) {
  static SteadyClock clock;
  static MemoryLimiter* limiter = nullptr;
  if (state.thread_index() == 0) limiter = new MemoryLimiter(policy(1'000'000'000, 1e6), 1000, clock);
  for (auto _ : state) benchmark::DoNotOptimize(limiter->decide("hot-user"));
  if (state.thread_index() == 0) {
    delete limiter;
    limiter = nullptr;
  }
}
BENCHMARK(BM_MemoryHotKey)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// The allowed path: a huge capacity, many users.
void BM_MemoryAllowed(benchmark::State& state) {
  SteadyClock clock;
  MemoryLimiter limiter(policy(1'000'000'000, 1e6), 1'000'000, clock);
  std::vector<std::string> users;
  for (int i = 0; i < 100'000; ++i) users.push_back("user" + std::to_string(i));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.decide(users[i]));
    i = (i + 7919) % users.size();
  }
}
BENCHMARK(BM_MemoryAllowed);

// The limited path: one user with an empty bucket.
void BM_MemoryLimited(benchmark::State& state) {
  SteadyClock clock;
  MemoryLimiter limiter(policy(1, 1e-6), 1000, clock);
  limiter.decide("abuser");
  for (auto _ : state) benchmark::DoNotOptimize(limiter.decide("abuser"));
}
BENCHMARK(BM_MemoryLimited);

// 1,000,000 distinct keys: a miss, an insert, sweeps and (at the cap) evictions.
void BM_MemoryDistinctKeys(benchmark::State& state) {
  SteadyClock clock;
  MemoryLimiter limiter(policy(4, 0.2), 1'000'000, clock);
  char name[32];
  long i = 0;
  for (auto _ : state) {
    const int n = std::snprintf(name, sizeof name, "user-%ld", i++ % 1'000'000);
    benchmark::DoNotOptimize(limiter.decide(std::string_view(name, static_cast<std::size_t>(n))));
  }
  state.counters["keys"] = static_cast<double>(limiter.size());
}
BENCHMARK(BM_MemoryDistinctKeys)->Iterations(2'000'000);

// Routing a parsed request and building the 200 response.
void BM_RouteAndRespond(benchmark::State& state) {
  Request req{http::verb::get, "/ping?user=alice%20smith", 11};
  req.set(http::field::host, "localhost");
  HandlerOptions options;
  options.policy_header = policy_header(policy(4, 0.2));
  std::string user;
  Decision d;
  d.outcome = Decision::Outcome::kAllowed;
  d.remaining = 3;
  d.retry_after = Micros{5'000'000};
  std::string out;
  for (auto _ : state) {
    Response res;
    RouteId route;
    route_request(req, options, user, res, route);
    out.clear();
    write_ping_response(req, options, d, true, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_RouteAndRespond);

}  // namespace
}  // namespace aegis

BENCHMARK_MAIN();
