// Field paths of custom resources ("spec.replicatedJobs[*].template"): finding pod templates and
// the replica counts that belong to the same array element or map entry.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/workload.hpp"

namespace exportgate::policy {

// What one wildcard step chose: an array index or a map key.
struct PathChoice {
  size_t index = 0;
  std::string key;  // set for `*` over map values
};

struct PathMatch {
  const nlohmann::json* node = nullptr;
  std::vector<PathChoice> choices;  // one per wildcard step, in order
  std::string concrete;             // the path with wildcards replaced: "spec.jobs[1].template"
  size_t wildcard_end = 0;          // length of `concrete` up to the last wildcard's choice
};

// Every node `steps` reaches from `root`. Missing fields end a branch quietly; a field of the
// wrong type (a `[*]` over something that is not an array) throws ManifestError naming it.
std::vector<PathMatch> find_path_matches(const nlohmann::json& root,
                                         const std::vector<FieldPathStep>& steps);

// The node `steps` reaches when the k-th wildcard takes `choices[k]`; null when a field is
// missing. `concrete` receives the path walked, for messages.
const nlohmann::json* resolve_path(const nlohmann::json& root,
                                   const std::vector<FieldPathStep>& steps,
                                   const std::vector<PathChoice>& choices, std::string& concrete);

// Number of wildcard steps.
size_t wildcard_count(const std::vector<FieldPathStep>& steps);

}  // namespace exportgate::policy
