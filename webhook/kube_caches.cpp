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

std::optional<PodInfo> project_pod(const json& pod, const policy::Policy& policy,
                                   const std::vector<std::string>* available_models) {
  const json& meta = meta_of(pod);
  PodInfo p;
  p.namespace_ = meta.value("namespace", "");
  auto annotations = string_map(meta, "annotations", "exportgate.io/");
  if (auto it = annotations.find(kAdmissionUidAnnotation); it != annotations.end()) {
    p.admission_uid = it->second;
  }
  try {
    policy::ExtractOptions options;
    options.available_models = available_models;
    p.controlled_tpp = policy::extract_demand(pod, policy, options).controlled_tpp;
  } catch (const policy::ManifestError&) {
    p.controlled_tpp = 0;
  }
  if (p.controlled_tpp <= 0 && p.admission_uid.empty()) return std::nullopt;
  const std::string phase = pod.value("status", json::object()).value("phase", "");
  p.finished = phase == "Succeeded" || phase == "Failed";
  if (auto d = meta.find("deletionTimestamp"); d != meta.end() && d->is_string()) {
    p.deletion = parse_time(d->get<std::string>());
  }
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
