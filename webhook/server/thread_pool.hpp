// The worker pool for admission handlers that may block (cluster mode waits for the ledger's
// compare-and-swap write): it grows on demand to one thread per concurrent job (up to a maximum)
// instead of queueing requests behind blocked ones. Workers above the minimum that stay idle for
// `idle_timeout` exit, so a burst does not keep its threads (and their stacks) for the life of
// the process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace exportgate::webhook {

class ElasticThreadPool {
 public:
  ElasticThreadPool(size_t min_threads, size_t max_threads,
                    std::chrono::milliseconds idle_timeout = std::chrono::seconds(60));
  ~ElasticThreadPool();
  ElasticThreadPool(const ElasticThreadPool&) = delete;
  ElasticThreadPool& operator=(const ElasticThreadPool&) = delete;

  void enqueue(std::function<void()> fn);
  // Runs what is queued, then joins every worker.
  void shutdown();

  size_t thread_count() const;
  // How many times a worker waited idle for the whole idle timeout (retiring or, at the
  // minimum, staying): lets a test wait for the timeouts instead of sleeping through them.
  size_t idle_timeouts() const;

 private:
  void spawn_locked();
  void join_retired_locked();
  void work(std::list<std::thread>::iterator self);

  const size_t min_threads_;
  const size_t max_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_;    // live workers; each knows its own node
  std::vector<std::thread> retired_;  // exited workers, joined at the next spawn or shutdown
  size_t idle_ = 0;
  size_t idle_timeouts_ = 0;
  bool shutdown_ = false;
};

}  // namespace exportgate::webhook
