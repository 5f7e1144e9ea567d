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
// jurisdiction_tpp is the usage that draws down the country allocation: licensed tenants' only
// (LPP use does not count against it, 90 FR 4544; see allocation_tenants()).
struct UsageSnapshot {
  double tenant_tpp = 0;
  double jurisdiction_tpp = 0;
};

// The TPP the diffusion caps count: 3A090.a only (country allocation, LPP and per-company
// allocations count 3A090.a / 4A090.a and their .z items; 3A090.b parts such as A30, TPU v5e,
// Trainium 1, Inferentia 2 are outside them). Computed as controlled TPP minus the itemised
// 3A090.b devices, so anything not itemised stays charged (fail closed).
double capped_tpp(const WorkloadDemand& demand);

// Policy tenants of `jurisdiction` whose usage draws down its country allocation: those with
// authorization: licensed (a licence has a presumption of approval until the allocation is used
// up). Usage under LPP or a validated-end-user authorisation does not draw it down.
std::vector<std::string> allocation_tenants(const Policy& policy, std::string_view jurisdiction);

struct Decision {
  Verdict verdict = Verdict::kAllow;
  // One line each, actionable: what was asked (model, count, TPP), jurisdiction and tier, the
  // limit and usage, the rule. Deny reasons in enforce mode; the same text becomes warnings in
  // warn mode.
  std::vector<std::string> reasons;
  std::vector<std::string> warnings;  // near-cap notices and warn-mode reasons (short)
  std::string rule;                   // citation of the deciding rule ("" on plain allow)
  std::string code;                   // machine-readable: "tier-prohibited", "tenant-cap", ...
  double requested_tpp = 0;           // capped (3A090.a) TPP this request adds to usage
  // This request's usage draws down the jurisdiction's country allocation (a licensed tenant in
  // a capped tier); only such usage is counted in UsageSnapshot::jurisdiction_tpp.
  bool draws_allocation = false;
  // Caps that applied (for the ledger and metrics); nullopt when uncapped.
  std::optional<double> tenant_cap_tpp;
  std::optional<double> jurisdiction_cap_tpp;
  bool would_deny = false;  // true when enforce mode would have denied (for warn/audit)
};

Decision evaluate(const WorkloadDemand& demand, const TenantContext& tenant,
                  const UsageSnapshot& usage, const Policy& policy);

}  // namespace exportgate::policy
