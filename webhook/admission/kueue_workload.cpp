// Kueue-managed workloads (see kueue_workload.hpp).
#include "webhook/kueue_workload.hpp"

#include <string>

namespace exportgate::webhook {

bool kueue_queued(const nlohmann::json& object) {
  if (!object.is_object()) return false;
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return false;
  const auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return false;
  const auto queue = labels->find(std::string(kKueueQueueLabel));
  if (queue == labels->end() || !queue->is_string() || queue->get<std::string>().empty()) {
    return false;
  }
  const auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object()) return false;
  const auto suspend = spec->find("suspend");
  return suspend != spec->end() && suspend->is_boolean() && suspend->get<bool>();
}

bool waits_in_queue(std::string_view code) {
  return code == "tenant-cap" || code == "jurisdiction-cap";
}

}  // namespace exportgate::webhook
