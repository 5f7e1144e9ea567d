// The Pod and Namespace stores as cluster mode's informers fill them, the Pods projected under
// a PolicyStore's current policy: the inputs of the reconciler tests, listed once.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "webhook/kube_caches.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/policy_store.hpp"

namespace exportgate::testing {

// A Namespace labelled as tenant `name` in `jurisdiction`.
inline nlohmann::json tenant_namespace(const std::string& name, const std::string& jurisdiction) {
  return {{"metadata",
           {{"name", name},
            {"labels",
             {{"exportgate.io/jurisdiction", jurisdiction}, {"exportgate.io/tenant", name}}}}}};
}

struct ClusterCaches {
  explicit ClusterCaches(const webhook::PolicyStore& policies)
      : pods([&policies](const nlohmann::json& o) {
          return webhook::project_pod(o, *policies.current(), nullptr);
        }),
        namespaces(webhook::project_namespace) {}

  // One complete list of each, as an informer's first sync delivers it.
  void list(std::vector<nlohmann::json> namespace_page, std::vector<nlohmann::json> pod_page) {
    auto ns_sink = namespaces.sink();
    ns_sink.list_page(namespace_page, true);
    ns_sink.list_done();
    auto pod_sink = pods.sink();
    pod_sink.list_page(pod_page, true);
    pod_sink.list_done();
  }

  webhook::ObjectStore<webhook::PodInfo> pods;
  webhook::ObjectStore<webhook::Labels> namespaces;
};

}  // namespace exportgate::testing
