// The Kueue AdmissionCheck controller (issue 17), run by the Lease holder in cluster mode. A
// ClusterQueue that lists an AdmissionCheck with spec.controllerName exportgate.io/tpp has each of
// its Workloads judged here, with the engine and the cluster ledger, once Kueue reserved quota:
//   jurisdiction, unknown-accelerator and other final denials -> Rejected (one-line reason);
//   over a TPP cap                                          -> Pending (reason), judged again
//                                                               when the ledger changes and
//                                                               every interval;
//   admitted                                                -> Ready, with a workload
//                                                               reservation in the TPPLedger.
// The reservation lasts until the Workload finishes, loses its quota (evicted) or is deleted. Its
// Pods are charged against it, matched by their controlling ownerReference (the Job that also
// controls the Workload; ledger_model.hpp). A podSet the engine cannot read is Rejected.
// Kueue API: kueue.x-k8s.io/v1beta2 (the storage version of Kueue 0.17; v1beta1 would need
// Kueue's conversion webhook). Check states are written with server-side apply on the status
// subresource, as Kueue's own check controllers do.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/policy.hpp"
#include "policy/workload.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/ledger_cluster.hpp"
#include "webhook/log.hpp"
#include "webhook/periodic_worker.hpp"
#include "webhook/policy_store.hpp"

namespace exportgate::webhook {

inline constexpr char kKueueControllerName[] = "exportgate.io/tpp";
inline constexpr char kKueueApi[] = "/apis/kueue.x-k8s.io/v1beta2";
inline constexpr char kKueueFieldManager[] = "exportgate-tpp";
// Condition written beside a Rejected check state, with the reason.
inline constexpr char kRejectedCondition[] = "ExportgateRejected";

struct KueueCheckOptions {
  std::chrono::milliseconds interval{5'000};
  std::chrono::milliseconds debounce{200};
};

struct KueueCheckInputs {
  KubeClient* client = nullptr;
  PolicyStore* policies = nullptr;
  ClusterLedger* ledger = nullptr;
  // exportgate.io/ labels of a namespace; nullopt when unknown.
  std::function<std::optional<Labels>(const std::string&)> namespace_labels;
  // Models on the cluster's Nodes (charging like Pods are); unset: the whole catalog.
  std::function<std::shared_ptr<const std::vector<std::string>>(const policy::Policy&)> models;
};

// The pod sets of a Kueue Workload (spec.podSets[*].template x count) as the engine's demand.
// Throws policy::ManifestError when they cannot be read (no podSets, a malformed template).
policy::WorkloadDemand kueue_workload_demand(const nlohmann::json& workload,
                                             const policy::Policy& policy,
                                             const std::vector<std::string>* models);

// The state exportgate's check should have, and why.
struct CheckVerdict {
  std::string state;    // "Ready", "Pending", "Rejected"
  std::string message;  // one line
};

struct KueuePassStats {
  int workloads = 0;  // Workloads gated on our checks
  int ready = 0;
  int pending = 0;
  int rejected = 0;
  int released = 0;  // workload reservations ended
  int patches = 0;   // status writes
};

class KueueCheckController {
 public:
  KueueCheckController(KueueCheckInputs inputs, KueueCheckOptions options, Logger& log);
  ~KueueCheckController();
  void start();
  void stop();
  void set_active(bool active);  // Lease held
  void trigger();                // the ledger changed: judge waiting workloads again soon
  // One pass now. Throws KubeUnavailable when the API cannot be listed.
  KueuePassStats run_once();

 private:
  std::set<std::string> our_checks(KueuePassStats& stats);
  CheckVerdict judge(const nlohmann::json& workload, const policy::Policy& policy,
                     const std::string& current_state, bool& holds);
  void patch_check(const nlohmann::json& workload, const std::string& check, const CheckVerdict& v,
                   const nlohmann::json& current, KueuePassStats& stats);

  KueueCheckInputs in_;
  KueueCheckOptions options_;
  Logger& log_;
  bool missing_logged_ = false;
  // The policy with Kueue's Workload kind added (pod templates at spec.podSets[*].template).
  std::string kinds_hash_;
  std::shared_ptr<const policy::Policy> with_kind_;
  PeriodicWorker worker_;  // last: its thread stops before the members it uses go
};

}  // namespace exportgate::webhook
