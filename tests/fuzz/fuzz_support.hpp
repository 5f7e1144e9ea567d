// Shared helpers of the libFuzzer targets: a loud failure that names the broken invariant, and
// the fixed policy the admission target decides against.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "policy/policy_loader.hpp"

namespace exportgate::fuzz {

// An invariant that must hold for every input; libFuzzer records the input as a crash.
[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "fuzz invariant violated: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

// A TPP figure that a cap comparison can trust: NaN compares false with every cap, so a NaN
// demand would slip past `used + requested > cap`.
inline bool sane_tpp(double v) {
  return std::isfinite(v) && v >= 0;
}

// Tenants in Tier 1 (US), Tier 2 with a tenant cap (SG) and Tier 3 (CN) on the default preset.
inline constexpr std::string_view kFuzzPolicy = R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata:
  name: fuzz
spec:
  preset: diffusion-2025
  tiers:
    tier2:
      tenantCapTPP: 260000
  tenants:
    - {name: team-sg, jurisdiction: SG, namespaces: [team-sg]}
    - {name: team-cn, jurisdiction: CN, namespaces: [team-cn]}
    - {name: team-us, jurisdiction: US, namespaces: [team-us]}
  admins:
    users: [admin@example.com]
)";

// kFuzzPolicy, loaded once.
inline const policy::Policy& decision_policy() {
  static const policy::Policy p = policy::load_policy(kFuzzPolicy, "fuzz-policy.yaml");
  return p;
}

}  // namespace exportgate::fuzz
