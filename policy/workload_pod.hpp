// One pod spec -> the accelerators it asks for: the scheduler's effective-request rule, and the
// model each resource is charged as (node selection, partitions, worst case).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {

// Accelerators of one pod. `spec_path` ("spec.template.spec") prefixes field names in errors.
// Returns an empty vector, without allocating, for a pod without accelerator resources.
// Throws ManifestError for a malformed pod spec.
std::vector<AcceleratorDemand> pod_accelerators(const nlohmann::json& pod_spec,
                                                std::string_view spec_path, const Policy& policy,
                                                const ExtractOptions& options);

}  // namespace exportgate::policy
