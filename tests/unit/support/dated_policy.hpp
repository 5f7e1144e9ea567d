// The `current` preset as in force on a date, and the tenant a labelled namespace resolves to
// under it: the set-up of every test that decides the same Pod on dates either side of a rule.
#pragma once

#include <map>
#include <string>

#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"

namespace exportgate::testing {

inline policy::Policy current_preset_on(const std::string& date) {
  policy::LoadOptions o;
  o.in_force_on = date;
  return policy::load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\n"
      "spec: {preset: current}\n",
      "p.yaml", o);
}

// Namespace "team" labelled for tenant "acme" in `jurisdiction`, headquartered in
// `headquarters` when that is not empty.
inline policy::TenantContext acme_in_team(const policy::Policy& p, const std::string& jurisdiction,
                                          const std::string& headquarters) {
  std::map<std::string, std::string> labels{{std::string(policy::kJurisdictionLabel), jurisdiction},
                                            {std::string(policy::kTenantLabel), "acme"}};
  if (!headquarters.empty()) labels[std::string(policy::kHeadquartersLabel)] = headquarters;
  return policy::resolve_tenant(p, "team", &labels);
}

}  // namespace exportgate::testing
