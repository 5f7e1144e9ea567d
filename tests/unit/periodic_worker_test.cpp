// PeriodicWorker (webhook/util), the loop of the reconciler, the Kueue check controller and the
// background audit: stop ends the thread at once, a trigger runs a pass long before the interval,
// a burst of triggers within the debounce makes one pass, an inactive worker runs none, and an
// exception in a pass is a failed pass the thread survives. Every wait is for an event (a pass,
// a wake-up of the loop), never a fixed sleep.
#include "webhook/periodic_worker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/eventually.hpp"

namespace {

using namespace std::chrono_literals;
using exportgate::testing::eventually;
namespace wh = exportgate::webhook;
using Clock = std::chrono::steady_clock;

// What the worker reported: each pass's outcome, in order.
struct Outcomes {
  std::mutex mu;
  std::vector<std::pair<bool, std::string>> seen;
  void add(bool ok, const std::string& error) {
    std::lock_guard lock(mu);
    seen.emplace_back(ok, error);
  }
  size_t size() {
    std::lock_guard lock(mu);
    return seen.size();
  }
};

TEST(PeriodicWorker, StopEndsTheThreadWithoutWaitingForTheInterval) {
  std::atomic<int> passes = 0;
  wh::PeriodicWorker w({1h}, [&] { return ++passes, true; });
  w.start();
  w.start();  // a second start is a no-op
  w.set_active(true);
  ASSERT_TRUE(eventually([&] { return passes == 1; }));
  const auto t0 = Clock::now();
  w.stop();
  EXPECT_LT(Clock::now() - t0, 30s) << "stop waited for the hour-long interval";
  EXPECT_TRUE(w.stopping());
  w.stop();  // again: a no-op
  EXPECT_EQ(passes, 1);
}

TEST(PeriodicWorker, ATriggerRunsAPassLongBeforeTheInterval) {
  Outcomes out;
  std::atomic<int> passes = 0;
  wh::PeriodicWorker w(
      {1h}, [&] { return ++passes, true; }, [&](bool ok, const std::string& e) { out.add(ok, e); });
  w.start();
  w.set_active(true);  // activating runs a pass
  ASSERT_TRUE(eventually([&] { return out.size() == 1; }));
  w.trigger();
  ASSERT_TRUE(eventually([&] { return out.size() == 2; }));
  EXPECT_EQ(passes, 2);
  std::lock_guard lock(out.mu);
  EXPECT_EQ(out.seen[1], (std::pair<bool, std::string>{true, ""}));
}

TEST(PeriodicWorker, ABurstOfTriggersWithinTheDebounceMakesOnePass) {
  std::mutex mu;
  std::vector<Clock::time_point> at;
  wh::PeriodicWorker w({1h, 300ms}, [&] {
    std::lock_guard lock(mu);
    at.push_back(Clock::now());
    return true;
  });
  w.start();
  w.set_active(true);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return at.size() == 1;
  }));
  const auto burst = Clock::now();
  for (int i = 0; i < 5; ++i) w.trigger();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return at.size() == 2;
  }));
  // A marker trigger after the burst's pass: its pass is the third, so the burst made one.
  w.trigger();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return at.size() >= 3;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(at.size(), 3u);
  EXPECT_GE(at[1] - burst, 300ms) << "the pass waited out the debounce";
}

TEST(PeriodicWorker, AnInactiveWorkerRunsNoPassUntilActivated) {
  std::atomic<int> passes = 0;
  wh::PeriodicWorker w({10ms}, [&] { return ++passes, true; });
  w.start();
  w.set_active(true);
  ASSERT_TRUE(eventually([&] { return passes >= 2; }));  // every interval while active
  w.set_active(false);
  // A pass that had begun finishes; then the loop comes round (interval and triggers) without one.
  const auto woke = w.wakeups();
  const int before = passes;
  w.trigger();
  ASSERT_TRUE(eventually([&] { return w.wakeups() >= woke + 5; }));
  EXPECT_LE(passes, before + 1);
  const int paused = passes;
  const auto woke2 = w.wakeups();
  ASSERT_TRUE(eventually([&] { return w.wakeups() >= woke2 + 5; }));
  EXPECT_EQ(passes, paused);
  w.set_active(true);
  ASSERT_TRUE(eventually([&] { return passes > paused; }));
}

TEST(PeriodicWorker, AnExceptionInAPassIsAFailedPassNotTheEndOfTheThread) {
  Outcomes out;
  std::atomic<int> passes = 0;
  wh::PeriodicWorker w(
      {1h},
      [&]() -> bool {
        if (++passes == 1) throw std::runtime_error("boom");
        return false;
      },
      [&](bool ok, const std::string& e) { out.add(ok, e); });
  w.start();
  w.set_active(true);
  ASSERT_TRUE(eventually([&] { return out.size() == 1; }));
  w.trigger();
  ASSERT_TRUE(eventually([&] { return out.size() == 2; }));
  std::lock_guard lock(out.mu);
  EXPECT_EQ(out.seen[0], (std::pair<bool, std::string>{false, "boom"}));
  EXPECT_EQ(out.seen[1], (std::pair<bool, std::string>{false, ""})) << "a plain failed pass";
}

}  // namespace
