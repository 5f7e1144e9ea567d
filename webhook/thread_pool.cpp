// Elastic worker pool (see thread_pool.hpp).
#include "webhook/thread_pool.hpp"

#include <algorithm>

namespace exportgate::webhook {

ElasticThreadPool::ElasticThreadPool(size_t min_threads, size_t max_threads)
    : max_threads_(std::max<size_t>(1, max_threads)) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < std::min(min_threads, max_threads_); ++i) spawn_locked();
}

ElasticThreadPool::~ElasticThreadPool() {
  shutdown();
}

void ElasticThreadPool::spawn_locked() {
  ++idle_;
  threads_.emplace_back([this] { work(); });
}

void ElasticThreadPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    // Every queued job needs a free worker now: a connection never waits for another to end.
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) spawn_locked();
  }
  cv_.notify_one();
}

void ElasticThreadPool::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return shutdown_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // shutdown with nothing left to run
    auto fn = std::move(jobs_.front());
    jobs_.pop_front();
    --idle_;
    lock.unlock();
    fn();
    lock.lock();
    ++idle_;
  }
}

void ElasticThreadPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

size_t ElasticThreadPool::thread_count() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

}  // namespace exportgate::webhook
