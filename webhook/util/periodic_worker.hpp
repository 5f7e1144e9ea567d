// A background thread that runs a pass every interval and soon after a trigger, only while
// active (the Lease is held): the one loop of the reconciler, the Kueue admission check
// controller and the background audit.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace exportgate::webhook {

struct PeriodicWorkerOptions {
  std::chrono::milliseconds interval{5'000};
  // After a trigger, wait this long for more before the pass: a burst of events makes one pass.
  std::chrono::milliseconds debounce{0};
};

class PeriodicWorker {
 public:
  // `pass` returns whether it succeeded. `finished` (optional) gets each pass's outcome on the
  // worker thread: ok, and the what() of an exception the pass threw ("" when none). An
  // exception counts as a failed pass; the thread goes on.
  PeriodicWorker(PeriodicWorkerOptions options, std::function<bool()> pass,
                 std::function<void(bool ok, const std::string& error)> finished = {});
  ~PeriodicWorker();  // stop()
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;

  void start();  // once; again is a no-op
  // Ends the thread after the pass in progress; stopping() is true from the call on, so a long
  // pass can check it between steps.
  void stop();
  // Active: run soon (as a trigger does) and then every interval. Inactive: no pass starts (one
  // in progress finishes) and a pending trigger is dropped.
  void set_active(bool active);
  void trigger();  // run soon (after the debounce)

  bool active() const { return active_; }
  bool stopping() const { return stopping_; }
  // Times the thread woke (for a pass or not): lets a test wait for the loop to come round.
  uint64_t wakeups() const { return wakeups_; }

 private:
  void loop();
  void run_pass();

  const PeriodicWorkerOptions options_;
  const std::function<bool()> pass_;
  const std::function<void(bool, const std::string&)> finished_;
  std::atomic<bool> active_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> wakeups_{0};
  bool triggered_ = false;  // under mu_
  bool stop_ = false;       // under mu_
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace exportgate::webhook
