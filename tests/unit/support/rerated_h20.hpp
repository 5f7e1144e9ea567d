// The diffusion-2025 preset with the H20 re-rated above the 3A090 thresholds (a catalog
// correction): a policy reload that changes what a cached H20 Pod is charged, without the Pod
// changing.
#pragma once

#include <string>

#include "policy/policy_loader.hpp"
#include "tests/unit/support/policy_file.hpp"

namespace exportgate::testing {

// The correction, as lines under spec.
inline constexpr const char* kH20RerateYaml =
    "  catalog:\n    models:\n      - {id: h20, denseTops: 2000}\n";

// The preset with the correction and `extra` lines under spec.
inline policy::Policy h20_rerated_policy(const std::string& extra = "") {
  return policy::load_policy(diffusion_policy_yaml(kH20RerateYaml + extra), "rerated.yaml");
}

}  // namespace exportgate::testing
