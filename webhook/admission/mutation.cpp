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

namespace {
// RFC 6901: "~" and "/" inside a key.
std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

json annotation_patch(const json& object, const std::map<std::string, std::string>& annotations) {
  json patch = json::array();
  auto meta_it = object.find("metadata");
  if (meta_it == object.end() || !meta_it->is_object()) {
    if (annotations.empty()) return patch;
    patch.push_back(
        {{"op", "add"}, {"path", "/metadata"}, {"value", {{"annotations", json(annotations)}}}});
    return patch;
  }
  auto ann_it = meta_it->find("annotations");
  if (ann_it == meta_it->end() || !ann_it->is_object()) {
    if (annotations.empty()) return patch;
    patch.push_back(
        {{"op", "add"}, {"path", "/metadata/annotations"}, {"value", json(annotations)}});
    return patch;
  }
  // exportgate owns its prefix: whatever a client set under it and exportgate does not set now
  // is removed, so no reader can take a client's value for exportgate's.
  for (const auto& [k, v] : ann_it->items()) {
    if (k.starts_with(kAnnotationPrefix) && !annotations.count(k)) {
      patch.push_back({{"op", "remove"}, {"path", "/metadata/annotations/" + pointer_token(k)}});
    }
  }
  for (const auto& [k, v] : annotations) {
    auto have = ann_it->find(k);
    if (have != ann_it->end() && have->is_string() && have->get_ref<const std::string&>() == v) {
      continue;
    }
    patch.push_back({{"op", have == ann_it->end() ? "add" : "replace"},
                     {"path", "/metadata/annotations/" + pointer_token(k)},
                     {"value", v}});
  }
  return patch;
}

}  // namespace exportgate::webhook
