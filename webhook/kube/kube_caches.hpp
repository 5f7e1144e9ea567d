// What the caches keep of each Namespace, Node and Pod: small projections, so 100,000 Pods fit in
// a few MiB. Pods are kept when they ask for anything beyond CPU, memory, storage and hugepages
// (a device some policy may control), hold controlled TPP, or carry an admission uid.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/policy.hpp"
#include "webhook/compact_uid.hpp"
#include "webhook/rfc3339.hpp"
#include "webhook/string_pool.hpp"

namespace exportgate::webhook {

using Labels = std::map<std::string, std::string>;

// The exportgate.io/ labels of a Namespace (the only ones tenancy reads).
std::optional<Labels> project_namespace(const nlohmann::json& ns);

// All labels of a Node (catalog node labels may use any key).
std::optional<Labels> project_node(const nlohmann::json& node);

// What a replica keeps of each Pod in cluster mode: ~300 bytes, of which the charge basis and
// the strings Pods share (namespace, policy hash) are one copy for all the Pods that have them.
struct PodInfo {
  std::string key;  // "namespace/name", the Pod cache's key (ObjectStore views this copy)
  Interned namespace_;
  CompactUid admission_uid;  // exportgate.io/admission-uid, empty when absent
  // The uid of its controlling ownerReference (controller_link()): the Job whose Kueue workload
  // reservation it is charged against. Empty when it has none.
  CompactUid owner;
  double controlled_tpp =
      0;                  // recomputed from the spec with the engine (annotations can be edited)
  bool finished = false;  // Succeeded or Failed
  // The country its usage is counted under when the policy maps nodes to countries
  // (policy::workload_site: spec.siteNodeLabel), recomputed with the charge on a reload; "" when
  // the policy maps none. Two letters inline: it fits in the padding after `finished`.
  std::array<char, 2> site{};
  std::string_view site_code() const {
    return site[0] ? std::string_view(site.data(), 2) : std::string_view();
  }
  std::optional<SystemTime> deletion;  // deletionTimestamp (grace period end)
  // What the charge is computed from (apiVersion, kind, the namespace, the spec fields the engine
  // reads, less the plain quantities it only validates), kept so a policy or catalog reload
  // recharges the Pod without a relist; MessagePack, as a JSON tree costs ~10x more per Pod
  // (docs/benchmarks.md). The whole spec when the reduced one did not charge the same. Interned:
  // the Pods of one template share one copy. Empty: none kept.
  Interned basis;
  Interned policy_hash;

  std::string_view store_key() const { return key; }
  // The Pod's name (matched against the reservation its admission made).
  std::string_view name() const {
    const size_t slash = key.find('/');
    return slash == std::string::npos ? std::string_view(key)
                                      : std::string_view(key).substr(slash + 1);
  }

  // Counts against caps at `now`: not finished and not past its deletion time.
  bool in_use(SystemTime now) const {
    return !finished && controlled_tpp > 0 && (!deletion || *deletion > now);
  }
};

// The pool the Pod cache interns its shared strings in (one per process).
StringPool& pod_strings();

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

// What a kept basis comes to under `policy`: its TPP (0 for none, or a spec the engine cannot
// read) and the country its usage is counted under (PodInfo::site).
struct BasisCharge {
  double tpp = 0;
  std::array<char, 2> site{};
};
BasisCharge basis_charge(const Interned& basis, const policy::Policy& policy,
                         const std::vector<std::string>* available_models);

// Charges every Pod of `store` charged under another policy with `policy`. Each distinct basis
// is charged once (the Pods of one template share it). Returns how many Pods changed.
template <class Store>
size_t recharge_pods(Store& store, const policy::Policy& policy,
                     const std::vector<std::string>* available_models) {
  const Interned hash = pod_strings().intern(policy.hash);
  // basis copy -> what it comes to, for this pass
  std::unordered_map<const void*, BasisCharge> charged;
  return store.update_all([&](const PodInfo& pod) -> std::optional<PodInfo> {
    if (pod.policy_hash == policy.hash) return std::nullopt;
    auto [it, fresh] = charged.try_emplace(pod.basis.id());
    if (fresh) it->second = basis_charge(pod.basis, policy, available_models);
    PodInfo p = pod;
    p.controlled_tpp = it->second.tpp;
    p.site = it->second.site;
    p.policy_hash = hash;
    return p;
  });
}

// Catalog model ids that some Node's labels identify (sorted, unique).
std::vector<std::string> models_on_nodes(const std::vector<const Labels*>& nodes,
                                         const policy::Policy& policy);

}  // namespace exportgate::webhook
