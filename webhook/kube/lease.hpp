// Leader election over a coordination.k8s.io/v1 Lease, the way client-go does it: the holder
// renews; another replica takes over once it has seen the record unchanged for a lease duration
// (by its own clock, so clock skew between replicas does not matter). A leader that has not
// renewed within the renew deadline (shorter than the duration) steps down, so it has stopped
// before anyone can take over: one replica at a time runs the reconciler and the audit.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "webhook/kube_client.hpp"
#include "webhook/log.hpp"

namespace exportgate::webhook {

struct LeaseOptions {
  std::string namespace_;
  std::string name = "exportgate-reconciler";
  std::string identity;
  std::chrono::seconds duration{15};
  // How long a leader keeps leading without a successful renewal; 0: two thirds of the
  // duration (client-go's 10 s of 15 s). Must be below the duration.
  std::chrono::milliseconds renew_deadline{0};
  std::chrono::milliseconds retry_period{2'000};
  std::chrono::milliseconds effective_renew_deadline() const;
};

// The fields of Lease.spec the election reads.
struct LeaseRecord {
  std::string holder;
  int duration_seconds = 0;
  std::string renew_time;
  int transitions = 0;
};

enum class LeaseAction { kRenew, kTakeOver, kWait };

// `observed_since`: when this replica first saw the record with its current holder and renew
// time (steady clock); `now`: the same clock.
LeaseAction decide_lease(const LeaseRecord& record, const std::string& identity,
                         std::chrono::steady_clock::time_point observed_since,
                         std::chrono::steady_clock::time_point now);

LeaseRecord lease_record_from(const nlohmann::json& lease);

class LeaseElector {
 public:
  // `on_change(true|false)` runs on the elector's thread when leadership is gained or lost.
  LeaseElector(KubeClient& client, LeaseOptions options, Logger& log,
               std::function<void(bool)> on_change);
  ~LeaseElector();
  void start();
  // Stops; a leader hands the Lease back (empty holder) so a successor need not wait.
  void stop();
  bool leading() const { return leading_; }

 private:
  void run();
  void tick();
  void set_leading(bool leading);
  // A renewal that did not succeed (refused, failed or unreachable: 4xx and 5xx alike): a
  // leader keeps leading only until its renew deadline passes.
  void renewal_failed(std::chrono::steady_clock::time_point now, const std::string& what);
  std::string path() const;

  KubeClient& client_;
  LeaseOptions options_;
  Logger& log_;
  std::function<void(bool)> on_change_;
  std::atomic<bool> leading_{false};
  std::string observed_;  // holder + renew time last seen
  std::chrono::steady_clock::time_point observed_since_;
  std::chrono::steady_clock::time_point last_renew_;
  std::string last_problem_;  // the failure last logged at warn, "" after a success
  void problem(const std::string& what);
  void no_problem() { last_problem_.clear(); }
  bool stop_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace exportgate::webhook
