// What the caches keep of each Namespace, Node and Pod: small projections, so 100,000 Pods fit in
// a few MiB. Pods are kept when they ask for anything beyond CPU, memory, storage and hugepages
// (a device some policy may control), hold controlled TPP, or carry an admission uid.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "policy/policy.hpp"
#include "webhook/ledger_model.hpp"

namespace exportgate::webhook {

using Labels = std::map<std::string, std::string>;

// The exportgate.io/ labels of a Namespace (the only ones tenancy reads).
std::optional<Labels> project_namespace(const nlohmann::json& ns);

// All labels of a Node (catalog node labels may use any key).
std::optional<Labels> project_node(const nlohmann::json& node);

struct PodInfo {
  std::string namespace_;
  std::string name;           // matched against the reservation its admission made
  std::string admission_uid;  // exportgate.io/admission-uid, "" when absent
  double controlled_tpp =
      0;                  // recomputed from the spec with the engine (annotations can be edited)
  bool finished = false;  // Succeeded or Failed
  std::optional<SystemTime> deletion;  // deletionTimestamp (grace period end)
  // What the charge is computed from (apiVersion, kind, the spec fields the engine reads, less
  // the plain quantities it only validates), kept so a policy or catalog reload recharges the Pod
  // without a relist; MessagePack, as a JSON tree costs ~10x more per Pod (docs/benchmarks.md).
  // The whole spec when the reduced one did not charge the same. Empty: none kept.
  std::string basis;
  std::string policy_hash;

  // Counts against caps at `now`: not finished and not past its deletion time.
  bool in_use(SystemTime now) const {
    return !finished && controlled_tpp > 0 && (!deletion || *deletion > now);
  }
};

// nullopt for Pods that ask for no device, hold no controlled TPP and claim no reservation:
// no policy can charge them. A Pod that is kept but uncontrolled under this policy (e.g. a model
// the catalog does not list yet) stays in the cache with 0 TPP, so a reload can charge it. A
// Pod whose spec the engine cannot read is charged 0.
std::optional<PodInfo> project_pod(const nlohmann::json& pod, const policy::Policy& policy,
                                   const std::vector<std::string>* available_models);

// The charge basis of `pod` as JSON (null when none is kept).
nlohmann::json pod_basis(const PodInfo& pod);

// `pod` charged again under `policy` (after a reload); the rest of the projection is kept.
PodInfo recharge_pod(const PodInfo& pod, const policy::Policy& policy,
                     const std::vector<std::string>* available_models);

// Charges every Pod of `store` charged under another policy with `policy`. Returns how many.
template <class Store>
size_t recharge_pods(Store& store, const policy::Policy& policy,
                     const std::vector<std::string>* available_models) {
  return store.update_all([&](const PodInfo& pod) -> std::optional<PodInfo> {
    if (pod.policy_hash == policy.hash) return std::nullopt;
    return recharge_pod(pod, policy, available_models);
  });
}

// Catalog model ids that some Node's labels identify (sorted, unique).
std::vector<std::string> models_on_nodes(const std::vector<const Labels*>& nodes,
                                         const policy::Policy& policy);

}  // namespace exportgate::webhook
