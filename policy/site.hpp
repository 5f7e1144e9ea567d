// Where the accelerators are installed (spec.site) and what it changes: the country allocation
// attaches to the installed location, so with a site every tenant's usage is counted under the
// site's code; access rules (tiers, headquarters, part rules) stay with the tenant.
#pragma once

#include <string>
#include <string_view>

#include "policy/policy.hpp"

namespace exportgate::policy {

// The code usage is counted under for the country allocation: the policy's site when it states
// one, else the tenant's jurisdiction (exportgate's analogue); "" when the tenant has none.
std::string allocation_key(const Policy& p, std::string_view tenant_jurisdiction);

}  // namespace exportgate::policy
