// Controlling owner of an object (see owner_link.hpp).
#include "webhook/owner_link.hpp"

namespace exportgate::webhook {

using nlohmann::json;

std::string controller_link(const json& object, const std::string& namespace_) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto ns_it = meta->find("namespace");
  const std::string ns =
      ns_it != meta->end() && ns_it->is_string() && !ns_it->get<std::string>().empty()
          ? ns_it->get<std::string>()
          : namespace_;
  auto refs = meta->find("ownerReferences");
  if (ns.empty() || refs == meta->end() || !refs->is_array()) return "";
  for (const auto& ref : *refs) {
    if (!ref.is_object()) continue;
    auto controller = ref.find("controller");
    auto uid = ref.find("uid");
    if (controller != ref.end() && controller->is_boolean() && controller->get<bool>() &&
        uid != ref.end() && uid->is_string() && !uid->get<std::string>().empty()) {
      return ns + "/" + uid->get<std::string>();
    }
  }
  return "";
}

}  // namespace exportgate::webhook
