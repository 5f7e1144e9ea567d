// The periodic worker loop (see periodic_worker.hpp).
#include "webhook/periodic_worker.hpp"

#include <exception>

namespace exportgate::webhook {

PeriodicWorker::PeriodicWorker(PeriodicWorkerOptions options, std::function<bool()> pass,
                               std::function<void(bool, const std::string&)> finished)
    : options_(options), pass_(std::move(pass)), finished_(std::move(finished)) {}

PeriodicWorker::~PeriodicWorker() {
  stop();
}

void PeriodicWorker::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { loop(); });
}

void PeriodicWorker::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicWorker::set_active(bool active) {
  active_ = active;
  {
    std::lock_guard lock(mu_);
    triggered_ = active;
  }
  cv_.notify_all();
}

void PeriodicWorker::trigger() {
  {
    std::lock_guard lock(mu_);
    triggered_ = true;
  }
  cv_.notify_all();
}

void PeriodicWorker::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, options_.interval, [this] { return stop_ || triggered_; });
    ++wakeups_;
    if (stop_) break;
    if (triggered_) {
      // Let a burst of triggers settle into one pass.
      cv_.wait_for(lock, options_.debounce, [this] { return stop_; });
      triggered_ = false;
    }
    if (!active_ || stop_) continue;
    lock.unlock();
    run_pass();
    lock.lock();
  }
}

void PeriodicWorker::run_pass() {
  bool ok = false;
  std::string error;
  try {
    ok = pass_();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "exception";
  } catch (...) {
    error = "unknown exception";
  }
  if (finished_) finished_(ok, error);
}

}  // namespace exportgate::webhook
