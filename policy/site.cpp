// The allocation key of a tenant under the policy's site (see site.hpp).
#include "policy/site.hpp"

namespace exportgate::policy {

std::string allocation_key(const Policy& p, std::string_view tenant_jurisdiction) {
  // A tenant of unknown jurisdiction is never charged anywhere: it is denied controlled parts.
  if (tenant_jurisdiction.empty()) return {};
  return p.site.empty() ? std::string(tenant_jurisdiction) : p.site;
}

}  // namespace exportgate::policy
