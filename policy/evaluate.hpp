// The decision: a pure function of demand, tenant, usage and policy.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {

enum class Verdict { kAllow, kWarn, kDeny };
std::string_view to_string(Verdict v);  // "allow", "warn", "deny"

// Controlled TPP currently in use (admitted, not finished) that the caps apply to.
struct UsageSnapshot {
  double tenant_tpp = 0;
  double jurisdiction_tpp = 0;
};

struct Decision {
  Verdict verdict = Verdict::kAllow;
  // One line each, actionable: what was asked (model, count, TPP), jurisdiction and tier, the
  // limit and usage, the rule. Deny reasons in enforce mode; the same text becomes warnings in
  // warn mode.
  std::vector<std::string> reasons;
  std::vector<std::string> warnings;  // near-cap notices and warn-mode reasons (short)
  std::string rule;                   // citation of the deciding rule ("" on plain allow)
  std::string code;                   // machine-readable: "tier-prohibited", "tenant-cap", ...
  double requested_tpp = 0;           // controlled TPP this request adds
  // Caps that applied (for the ledger and metrics); nullopt when uncapped.
  std::optional<double> tenant_cap_tpp;
  std::optional<double> jurisdiction_cap_tpp;
  bool would_deny = false;  // true when enforce mode would have denied (for warn/audit)
};

Decision evaluate(const WorkloadDemand& demand, const TenantContext& tenant,
                  const UsageSnapshot& usage, const Policy& policy);

}  // namespace exportgate::policy
