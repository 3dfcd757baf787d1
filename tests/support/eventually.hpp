// Polls until an external process (a server, Redis) reaches a state. Tests
// never use it to wait for a bucket: bucket time is a FakeClock.
#pragma once

#include <chrono>
#include <thread>

namespace aegis::test {

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace aegis::test
