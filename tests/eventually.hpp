// Polls a condition until it holds or a time limit passes: tests wait for what another thread
// or process does without assuming how long it takes (no test asserts a wall-clock time).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace exportgate::testing {

inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

}  // namespace exportgate::testing
