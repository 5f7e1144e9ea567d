// The admission decision for one decoded AdmissionReview: which requests are checked, the
// namespace-label guard, evaluation against the usage ledger, reservation, and the response
// (status, warnings, audit annotations, mutation patch). No I/O: the server adds metrics and logs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "policy/policy.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {

enum class Endpoint { kValidate, kMutate };

// Usage that changed or was looked at, so the server can refresh the TPP gauges.
struct UsageScope {
  std::string tenant;
  std::string jurisdiction;
  std::optional<double> tenant_cap;
  std::optional<double> jurisdiction_cap;
};

struct AdmissionOutcome {
  AdmissionResponse response;
  std::string decision = "allow";  // allow | warn | deny | error (metric label)
  std::string tenant;
  std::string jurisdiction;
  std::string tier;
  nlohmann::json record;  // the decision record for deny and warn; null otherwise
  std::optional<UsageScope> usage;
};

AdmissionOutcome handle_admission(const AdmissionRequest& request, Endpoint endpoint,
                                  const policy::Policy& policy, UsageLedger& ledger);

// True when `user` or one of `groups` is an admin in the policy.
bool is_policy_admin(const policy::Policy& policy, const std::string& user,
                     const std::vector<std::string>& groups);

}  // namespace exportgate::webhook
