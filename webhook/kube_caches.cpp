// Cache projections (see kube_caches.hpp).
#include "webhook/kube_caches.hpp"

#include <algorithm>

#include "policy/errors.hpp"
#include "policy/workload.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {
const json& meta_of(const json& o) {
  static const json kEmpty = json::object();
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : kEmpty;
}

Labels string_map(const json& meta, const char* key, std::string_view prefix = "") {
  Labels out;
  auto it = meta.find(key);
  if (it == meta.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string() && k.starts_with(prefix)) out[k] = v.get<std::string>();
  }
  return out;
}
}  // namespace

std::optional<Labels> project_namespace(const json& ns) {
  return string_map(meta_of(ns), "labels", "exportgate.io/");
}

std::optional<Labels> project_node(const json& node) {
  return string_map(meta_of(node), "labels");
}

namespace {

// Resource names that are never a device: whatever the policy, they carry no controlled TPP.
bool plain_resource(std::string_view name) {
  return name == "cpu" || name == "memory" || name == "ephemeral-storage" || name == "pods" ||
         name.starts_with("hugepages-");
}

bool asks_for_devices_in(const json& resources) {
  if (!resources.is_object()) return false;
  for (const char* key : {"requests", "limits"}) {
    auto it = resources.find(key);
    if (it == resources.end() || !it->is_object()) continue;
    for (const auto& [name, _] : it->items()) {
      if (!plain_resource(name)) return true;
    }
  }
  return false;
}

// The parts of a Pod the engine's charge reads, and whether any of them names a device (or
// anything this code does not recognise: kept, never silently dropped).
json charge_basis(const json& pod, bool& devices) {
  json basis = {{"apiVersion", pod.value("apiVersion", "v1")}, {"kind", pod.value("kind", "Pod")}};
  devices = false;
  auto spec_it = pod.find("spec");
  if (spec_it == pod.end() || !spec_it->is_object()) return basis;
  const json& spec = *spec_it;
  json out = json::object();
  for (const char* list : {"containers", "initContainers"}) {
    auto it = spec.find(list);
    if (it == spec.end()) continue;
    if (!it->is_array()) {
      out[list] = *it;  // malformed: the engine reports it; keep it as it is
      devices = true;
      continue;
    }
    json kept = json::array();
    for (const json& c : *it) {
      json k = json::object();
      if (c.is_object()) {
        for (const char* field : {"name", "resources", "restartPolicy"}) {
          if (auto f = c.find(field); f != c.end()) k[field] = *f;
        }
        if (auto r = c.find("resources"); r != c.end()) devices |= asks_for_devices_in(*r);
      }
      kept.push_back(std::move(k));
    }
    out[list] = std::move(kept);
  }
  for (const char* field :
       {"resources", "overhead", "nodeSelector", "affinity", "resourceClaims"}) {
    if (auto f = spec.find(field); f != spec.end()) out[field] = *f;
  }
  if (auto r = spec.find("resources"); r != spec.end()) devices |= asks_for_devices_in(*r);
  if (auto o = spec.find("overhead"); o != spec.end() && o->is_object()) {
    for (const auto& [name, _] : o->items()) devices |= !plain_resource(name);
  }
  if (auto c = spec.find("resourceClaims"); c != spec.end() && !c->empty()) devices = true;
  basis["spec"] = std::move(out);
  return basis;
}

double charge(const json& basis, const policy::Policy& policy,
              const std::vector<std::string>* available_models) {
  try {
    policy::ExtractOptions options;
    options.available_models = available_models;
    return policy::extract_demand(basis, policy, options).controlled_tpp;
  } catch (const policy::ManifestError&) {
    return 0;
  }
}

}  // namespace

std::optional<PodInfo> project_pod(const json& pod, const policy::Policy& policy,
                                   const std::vector<std::string>* available_models) {
  const json& meta = meta_of(pod);
  PodInfo p;
  p.namespace_ = meta.value("namespace", "");
  p.name = meta.value("name", "");
  auto annotations = string_map(meta, "annotations", "exportgate.io/");
  if (auto it = annotations.find(kAdmissionUidAnnotation); it != annotations.end()) {
    p.admission_uid = it->second;
  }
  bool devices = false;
  auto basis = std::make_shared<const json>(charge_basis(pod, devices));
  p.controlled_tpp = charge(*basis, policy, available_models);
  if (p.controlled_tpp <= 0 && p.admission_uid.empty() && !devices) return std::nullopt;
  p.basis = std::move(basis);
  p.policy_hash = policy.hash;
  const std::string phase = pod.value("status", json::object()).value("phase", "");
  p.finished = phase == "Succeeded" || phase == "Failed";
  if (auto d = meta.find("deletionTimestamp"); d != meta.end() && d->is_string()) {
    p.deletion = parse_time(d->get<std::string>());
  }
  return p;
}

PodInfo recharge_pod(const PodInfo& pod, const policy::Policy& policy,
                     const std::vector<std::string>* available_models) {
  PodInfo p = pod;
  p.controlled_tpp = pod.basis ? charge(*pod.basis, policy, available_models) : 0;
  p.policy_hash = policy.hash;
  return p;
}

std::vector<std::string> models_on_nodes(const std::vector<const Labels*>& nodes,
                                         const policy::Policy& policy) {
  std::set<std::string> ids;
  for (const Labels* labels : nodes) {
    for (const auto& [k, v] : *labels) {
      for (const auto* m : policy.catalog.models_for_label(k, v)) ids.insert(m->id);
    }
  }
  return {ids.begin(), ids.end()};
}

}  // namespace exportgate::webhook
