// The reconciler: recomputes each jurisdiction's in-use TPP from the Pods that exist and are not
// finished, hands reservations over to the Pods that claimed them, drops reservations no Pod
// claimed within the TTL, and writes corrections with compare-and-swap. Runs only while this
// replica holds the Lease; periodically and shortly after Pod events.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "webhook/kube_caches.hpp"
#include "webhook/kube_dra_cache.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/ledger_cluster.hpp"
#include "webhook/log.hpp"
#include "webhook/periodic_worker.hpp"
#include "webhook/policy_store.hpp"

namespace exportgate::webhook {

class Metrics;

struct ReconcilerOptions {
  std::chrono::milliseconds interval{5'000};
  std::chrono::milliseconds debounce{300};
  std::chrono::seconds reservation_ttl{30};
  // How long a holder may admit under a lease after renewing it (LeaseSettings::term): a lease
  // seen unchanged for this plus the reservation TTL is dropped.
  std::chrono::milliseconds lease_term{10'000};
};

struct ReconcilerInputs {
  const ObjectStore<PodInfo>* pods = nullptr;
  const ObjectStore<Labels>* namespaces = nullptr;
  std::function<bool()> synced;  // caches listed at least once
  // Charges every cached Pod charged under another policy with this one (after a reload).
  std::function<void(const policy::Policy&)> recharge;
  PolicyStore* policies = nullptr;
  ClusterLedger* ledger = nullptr;
  // DRA claims holding devices now (allocated), charged under the policy; unset: none.
  std::function<std::vector<ClaimInUse>(const policy::Policy&)> dra_claims;
  // The Pod informer's applied_through(): written as the ledger's countedThrough; unset: 0.
  std::function<uint64_t()> pods_through = nullptr;
};

class Reconciler {
 public:
  Reconciler(ReconcilerInputs inputs, ReconcilerOptions options, Metrics& metrics, Logger& log);
  ~Reconciler();
  void start();
  void stop();
  void set_active(bool active);  // Lease held
  void trigger();                // something changed: run soon (debounced)
  // One pass now. Returns false when a ledger write failed.
  bool run_once() { return pass(false); }

 private:
  // `while_active`: stop between jurisdictions once the Lease is lost, so a pass that outlives
  // leadership never writes beside the next leader's.
  bool pass(bool while_active);
  // Leases that no holder renewed for their term plus the TTL, by jurisdiction (lease_key()).
  std::map<std::string, std::set<std::string>> expired_leases();
  ReconcilerInputs in_;
  // lease_key() -> when this replica first saw that lease generation (its own clock).
  std::map<std::string, std::chrono::steady_clock::time_point> lease_seen_;
  ReconcilerOptions options_;
  Metrics& metrics_;
  Logger& log_;
  // Shared with the changes this queues in the ledger's group commit, which may outlive a pass.
  std::shared_ptr<std::atomic<bool>> active_ = std::make_shared<std::atomic<bool>>(false);
  PeriodicWorker worker_;  // last: its thread stops before the members it uses go
};

}  // namespace exportgate::webhook
