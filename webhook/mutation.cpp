// Annotation patch for /mutate (see mutation.hpp).
#include "webhook/mutation.hpp"

#include <cmath>
#include <set>

#include "policy/policy_numbers.hpp"

namespace exportgate::webhook {

using nlohmann::json;

std::map<std::string, std::string> exportgate_annotations(const policy::WorkloadDemand& demand) {
  std::map<std::string, std::string> out;
  if (!demand.has_accelerators()) return out;
  out[kTppAnnotation] = policy::format_whole(demand.total_tpp);
  // Every distinct model, most capable class first as found; usually just one.
  std::set<std::string> seen;
  std::string models;
  for (const auto& ps : demand.pod_sets) {
    for (const auto& a : ps.accelerators) {
      if (a.model_id.empty() || !seen.insert(a.model_id).second) continue;
      if (!models.empty()) models += ",";
      models += a.model_id;
    }
  }
  out[kModelAnnotation] = models;
  out[kClassAnnotation] = std::string(policy::to_string(demand.max_class));
  return out;
}

json annotation_patch(const json& object, const std::map<std::string, std::string>& annotations) {
  if (annotations.empty()) return json::array();
  static const json kEmpty = json::object();
  auto meta_it = object.find("metadata");
  const json& metadata = (meta_it != object.end() && meta_it->is_object()) ? *meta_it : kEmpty;
  json wanted = metadata;
  if (!wanted.contains("annotations") || !wanted["annotations"].is_object()) {
    wanted["annotations"] = json::object();
  }
  for (const auto& [k, v] : annotations) wanted["annotations"][k] = v;
  // json::diff escapes "/" in keys as "~1" and adds /annotations when it is absent.
  json patch = json::diff(metadata, wanted);
  if (meta_it == object.end() || !meta_it->is_object()) {
    return json::array({{{"op", "add"}, {"path", "/metadata"}, {"value", wanted}}});
  }
  for (auto& op : patch) op["path"] = "/metadata" + op["path"].get<std::string>();
  return patch;
}

}  // namespace exportgate::webhook
