// Workload -> accelerator demand: pod templates x replicas, per-pod effective requests
// (the scheduler's rule), and the accelerator model each request is charged as.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/catalog.hpp"
#include "policy/policy.hpp"

namespace exportgate::policy {

// One accelerator resource of one pod template, charged as one model.
struct AcceleratorDemand {
  std::string resource;        // "nvidia.com/gpu", "nvidia.com/mig-1g.10gb"
  std::string model_id;        // catalog id it is charged as
  std::string model_name;      // display name
  double quantity = 0;         // effective request per pod, in resource units
  double device_fraction = 1;  // 1 for whole devices; MIG profile share otherwise
  double tpp_per_pod = 0;      // quantity x fraction x model TPP
  ExportClass export_class = ExportClass::kNotControlled;
  bool pinned = false;  // model fixed by node selection; false = worst case charged
  // A shared ResourceClaim's devices: the claim holds their usage (charged once, at the claim),
  // the pod only uses them, so they count for the tier decision but not against the caps again.
  bool held_by_claim = false;
  // Why the worst case was charged when the catalog did not know a name (the resource, a node
  // label value, device access outside requests), with how an admin declares it. "" otherwise.
  std::string note;
};

// One pod template of a workload and how many pods it makes.
struct PodSetDemand {
  std::string name;  // "" for the only template, else e.g. "replicatedJobs[0]"
  int64_t pods = 1;  // replicas x parallelism along the template's path
  std::vector<AcceleratorDemand> accelerators;
  double tpp_per_pod = 0;
};

// The countries a workload may run in, under the policy's spec.siteNodeLabel (policy/site.hpp).
struct SitePlacement {
  bool known = false;                  // false: the policy maps no nodes to countries
  std::vector<std::string> countries;  // sorted, unique ISO codes its pods may run in
  bool unknown_country = false;        // may land on a node of no known country
  // The one country it runs in; "" when none or several are possible.
  std::string_view resolved() const {
    return known && !unknown_country && countries.size() == 1 ? std::string_view(countries[0])
                                                              : std::string_view();
  }
};

struct WorkloadDemand {
  std::string api_version;
  std::string kind;
  std::string name;        // metadata.name (or generateName + "*")
  std::string namespace_;  // metadata.namespace ("" if absent)
  std::vector<PodSetDemand> pod_sets;
  bool recognized = true;  // false: a kind that holds no pods (ConfigMap...), nothing to check
  // A ResourceClaimTemplate: decided like the claims made from it, but it holds nothing itself.
  bool claim_template = false;
  int64_t total_pods = 0;
  double total_tpp = 0;       // all accelerators, x pods
  double controlled_tpp = 0;  // 3A090 accelerators only, x pods
  // 3A090 TPP of shared ResourceClaims the pods use, held by those claims (not in the above).
  double held_controlled_tpp = 0;
  ExportClass max_class = ExportClass::kNotControlled;
  bool has_accelerators() const {
    return total_tpp > 0 || accelerator_count > 0 || held_controlled_tpp > 0;
  }
  double accelerator_count = 0;  // devices (fractions for partitions), x pods
  // The demand exceeds kMaxChargeTpp / kMaxChargeDevices (e.g. "25T" GPUs): totals are saturated
  // at those bounds and the evaluation denies it as out of range.
  bool beyond_range = false;
  // Approximations the extraction had to make, for reasons and logs (e.g. a DaemonSet charged as
  // one pod because the node count is not known here). Empty in the common case.
  std::vector<std::string> notes;
  // Where its accelerator pods may run (spec.siteNodeLabel); unknown when the policy has none.
  SitePlacement placement;

  // "8 x NVIDIA H100 SXM (nvidia.com/gpu, pinned)" summary used in reasons.
  std::string describe_accelerators() const;
};

struct DraContext;

struct ExtractOptions {
  // Model ids present in the cluster; when set, an unpinned request is charged as the most
  // capable of these that can serve it (falls back to the whole catalog when none can).
  const std::vector<std::string>* available_models = nullptr;
  // DRA objects known here (check -f: the file's; cluster mode: the caches). nullptr: none, so
  // Pods' claims are charged at the claims' own admission and classes are unknown.
  const DraContext* dra = nullptr;
  // Namespace of an object whose metadata names none (the admission request's), for the
  // policy's deviceAccessExempt.
  std::string_view namespace_;
};

// Extracts demand from any Kubernetes object. Kinds that carry no pod template are returned with
// recognized=false. Throws ManifestError for a malformed object of a known kind (e.g.
// spec.containers not an array, a quantity that does not parse, negative replicas).
WorkloadDemand extract_demand(const nlohmann::json& object, const Policy& policy,
                              const ExtractOptions& options = {});

// Parses a Kubernetes quantity ("1", "500m", "2Ki", "1e3") to a number. Throws ManifestError.
double parse_quantity(std::string_view q);

// The replica count of an autoscaling/v1 Scale object (what a `*/scale` subresource request
// carries): spec.replicas, 0 when absent. Throws ManifestError unless a non-negative integer.
int64_t scale_replicas(const nlohmann::json& scale);

// Demand of a Deployment, ReplicaSet, StatefulSet or ReplicationController as if spec.replicas
// were `replicas`: what a `*/scale` request turns it into. Throws ManifestError for other kinds.
WorkloadDemand extract_demand_scaled(const nlohmann::json& object, int64_t replicas,
                                     const Policy& policy, const ExtractOptions& options = {});

// One step of a custom-resource field path: a key, a key followed by `[*]` (every element of
// the array under it), or `*` alone (every value of the map at that point).
struct FieldPathStep {
  std::string key;            // "" for `*`
  bool each_element = false;  // key[*]
  bool each_value = false;    // *
  bool wildcard() const { return each_element || each_value; }
};
// Parses "spec.replicatedJobs[*].template"; on a syntax error returns an empty vector and sets
// `error` to what was expected.
std::vector<FieldPathStep> parse_field_path(std::string_view path, std::string& error);

}  // namespace exportgate::policy
