// The worker pool behind cpp-httplib. httplib runs one keep-alive connection per worker for the
// connection's whole life, so the pool grows on demand to one thread per open connection (up to
// a maximum) instead of queueing connections behind busy threads.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace exportgate::webhook {

class ElasticThreadPool : public httplib::TaskQueue {
 public:
  ElasticThreadPool(size_t min_threads, size_t max_threads);
  ~ElasticThreadPool() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  size_t thread_count() const;

 private:
  void spawn_locked();
  void work();

  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace exportgate::webhook
