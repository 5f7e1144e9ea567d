// ElasticThreadPool: one worker per concurrent job up to the maximum, and workers above the
// minimum retire after the idle timeout, while the pool keeps serving.
#include "webhook/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/eventually.hpp"

namespace {

using namespace std::chrono_literals;
namespace wh = exportgate::webhook;

using exportgate::testing::eventually;

// Jobs that block until released, so the pool must give each its own worker.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> running{0};
  std::atomic<int> done{0};
  std::function<void()> job() {
    return [this] {
      ++running;
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return open; });
      ++done;
    };
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

TEST(ElasticThreadPool, GrowsPerConcurrentJobAndRetiresIdleWorkersAboveTheMinimum) {
  wh::ElasticThreadPool pool(2, 16, 50ms);
  EXPECT_EQ(pool.thread_count(), 2u);
  Gate gate;
  for (int i = 0; i < 8; ++i) pool.enqueue(gate.job());
  ASSERT_TRUE(eventually([&] { return gate.running == 8; }));  // none waits behind another
  EXPECT_EQ(pool.thread_count(), 8u);
  gate.release();
  ASSERT_TRUE(eventually([&] { return gate.done == 8; }));
  ASSERT_TRUE(eventually([&] { return pool.thread_count() == 2u; }));
  // Still serving after the retirements, growing again on demand.
  Gate again;
  for (int i = 0; i < 5; ++i) pool.enqueue(again.job());
  ASSERT_TRUE(eventually([&] { return again.running == 5; }));
  EXPECT_EQ(pool.thread_count(), 5u);
  again.release();
  ASSERT_TRUE(eventually([&] { return again.done == 5; }));
  pool.shutdown();
  EXPECT_EQ(pool.thread_count(), 0u);
}

TEST(ElasticThreadPool, NeverShrinksBelowTheMinimumAndRunsQueuedJobsAtTheMaximum) {
  wh::ElasticThreadPool pool(3, 4, 20ms);
  // The workers have sat out the idle timeout six times between them, and none retired.
  ASSERT_TRUE(eventually([&] { return pool.idle_timeouts() >= 6; }));
  EXPECT_EQ(pool.thread_count(), 3u);
  Gate gate;
  for (int i = 0; i < 6; ++i) pool.enqueue(gate.job());
  ASSERT_TRUE(eventually([&] { return gate.running == 4; }));
  EXPECT_EQ(pool.thread_count(), 4u);  // the maximum: two jobs wait for a worker
  gate.release();
  ASSERT_TRUE(eventually([&] { return gate.done == 6; }));
}

}  // namespace
