// Reads custom-resource workload kinds (where their pod templates and replica counts are) from
// YAML: the embedded presets/workload-kinds.yaml and a Policy's spec.workloadKinds share it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string_view>
#include <vector>

#include "policy/errors.hpp"
#include "policy/policy.hpp"

namespace exportgate::policy {

// Merges a sequence of {group, kind, podTemplates: [{template, replicas: [...]}]} (or a mapping
// holding it under `workloadKinds`) into `into`; an entry replaces one with the same group and
// kind. Every problem is appended to `errors` as file:line:column with what was expected; the
// entries with errors are skipped, the rest are merged.
void merge_workload_kinds_yaml(const YAML::Node& node, std::string_view filename,
                               std::vector<WorkloadKind>& into, std::vector<Diagnostic>& errors);

}  // namespace exportgate::policy
