// What changes between two effective policies (or presets): jurisdiction tiers, tier limits,
// catalog models, tenants, mode, exemptions, admins. Pure: two Policy values in, a list out.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.hpp"

namespace exportgate::policy {

// One difference. `before`/`after` are short human texts; "" when the item is absent there.
struct PolicyChange {
  std::string section;  // "settings", "jurisdiction", "tier", "jurisdiction-cap",
                        // "unknown-jurisdiction", "catalog", "partition", "tenant",
                        // "exemptions", "admins", "workload-kind"
  std::string key;      // what changed within the section: "CN", "tier2", "h100-sxm", "mode"
  std::string change;   // "added" | "removed" | "changed"
  std::string before;
  std::string after;
};

// Every difference that can change a decision, in a stable order (sections as listed above,
// keys sorted). Jurisdictions are compared by their effective tier (the default tier fills
// in unlisted codes), over every assigned ISO 3166-1 code. The policy name and hash are not
// compared: they identify the policies, they do not change decisions.
std::vector<PolicyChange> diff_policies(const Policy& a, const Policy& b);

}  // namespace exportgate::policy
