// Which controller owns an object, shared by the modules that match Pods to Kueue workloads:
// admission (a Pod's reservation names it), kube (the Pod cache keeps it), ledger and the Kueue
// check (a workload reservation is matched by it).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace exportgate::webhook {

// "namespace/uid" of the object's controlling ownerReference (controller: true), "" when it has
// none. A Kueue Workload and the Pods of its Job name the same controller: the Job.
// `namespace_` stands in for a missing metadata.namespace (an admission request's namespace).
std::string controller_link(const nlohmann::json& object, const std::string& namespace_ = "");

}  // namespace exportgate::webhook
