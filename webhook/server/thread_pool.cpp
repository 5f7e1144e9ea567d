// Elastic worker pool (see thread_pool.hpp).
#include "webhook/thread_pool.hpp"

#include <algorithm>

namespace exportgate::webhook {

ElasticThreadPool::ElasticThreadPool(size_t min_threads, size_t max_threads,
                                     std::chrono::milliseconds idle_timeout)
    : min_threads_(std::min(min_threads, std::max<size_t>(1, max_threads))),
      max_threads_(std::max<size_t>(1, max_threads)),
      idle_timeout_(idle_timeout) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < min_threads_; ++i) spawn_locked();
}

ElasticThreadPool::~ElasticThreadPool() {
  shutdown();
}

void ElasticThreadPool::spawn_locked() {
  join_retired_locked();
  ++idle_;
  // The worker needs its own list node to retire itself; it only reads it under mu_, which the
  // caller holds until the node has its thread.
  auto self = threads_.emplace(threads_.end());
  *self = std::thread([this, self] { work(self); });
}

// A retired worker has left work() and released mu_: joining it waits for its exit only.
void ElasticThreadPool::join_retired_locked() {
  for (auto& t : retired_) t.join();
  retired_.clear();
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

void ElasticThreadPool::work(std::list<std::thread>::iterator self) {
  std::unique_lock lock(mu_);
  for (;;) {
    const bool woke =
        cv_.wait_for(lock, idle_timeout_, [&] { return shutdown_ || !jobs_.empty(); });
    if (!woke) {
      ++idle_timeouts_;
      if (threads_.size() <= min_threads_) continue;
      // Idle too long above the minimum: hand our handle to retired_ and leave.
      --idle_;
      retired_.push_back(std::move(*self));
      threads_.erase(self);
      return;
    }
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
  std::list<std::thread> threads;
  std::vector<std::thread> retired;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    threads.swap(threads_);
    retired.swap(retired_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
  for (auto& t : retired) t.join();
}

size_t ElasticThreadPool::thread_count() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

size_t ElasticThreadPool::idle_timeouts() const {
  std::lock_guard lock(mu_);
  return idle_timeouts_;
}

}  // namespace exportgate::webhook
