// The objects and AdmissionRequests that the admission tests send, built as the API server
// sends them: a Pod pinned to a GPU model by its nodeSelector, its CREATE review, and a
// Namespace UPDATE review (the label-guard and relabel-record cases).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "webhook/admission_codec.hpp"

namespace exportgate::testing {

// A Pod of one container asking for `gpus` nvidia.com/gpu on nodes labelled with `product`.
inline nlohmann::json gpu_pod(const std::string& ns, const std::string& name, int gpus,
                              const std::string& product = "NVIDIA-H100-80GB-HBM3") {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"nodeSelector", {{"nvidia.com/gpu.product", product}}},
            {"containers",
             {{{"name", "c"},
               {"resources", {{"limits", {{"nvidia.com/gpu", std::to_string(gpus)}}}}}}}}}}};
}

// The CREATE review of `pod` in `ns` under `name` (the request's, which the Pod may lack).
inline webhook::AdmissionRequest pod_create(const std::string& uid, const std::string& ns,
                                            const std::string& name, nlohmann::json pod) {
  webhook::AdmissionRequest r;
  r.uid = uid;
  r.kind = {"", "v1", "Pod"};
  r.resource = "pods";
  r.operation = "CREATE";
  r.namespace_ = ns;
  r.name = name;
  r.object = std::move(pod);
  return r;
}

// The UPDATE review of a Namespace from `before` to `after`, sent by `user` in `groups`.
inline webhook::AdmissionRequest namespace_update(const std::string& uid,
                                                  const nlohmann::json& before,
                                                  const nlohmann::json& after,
                                                  const std::string& user,
                                                  std::vector<std::string> groups) {
  webhook::AdmissionRequest r;
  r.uid = uid;
  r.kind = {"", "v1", "Namespace"};
  r.resource = "namespaces";
  r.operation = "UPDATE";
  r.name = after["metadata"]["name"];
  r.object = after;
  r.old_object = before;
  r.username = user;
  r.groups = std::move(groups);
  return r;
}

}  // namespace exportgate::testing
