// The admission decision for one decoded AdmissionReview: which requests are checked, the
// namespace-label guard, evaluation against the usage ledger, reservation, and the response
// (status, warnings, audit annotations, mutation patch). No I/O: the server adds metrics and logs.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/policy.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::policy {
struct DraContext;
}

namespace exportgate::webhook {

enum class Endpoint { kValidate, kMutate };

// Usage that changed or was looked at, so the server can refresh the TPP gauges.
struct UsageScope {
  std::string tenant;
  std::string jurisdiction;
  std::optional<double> tenant_cap;
  std::optional<double> jurisdiction_cap;
};

// What cluster mode adds to a decision; the defaults are standalone mode.
struct AdmissionEnv {
  // exportgate.io/ labels of a namespace (nullopt: unknown). Unset: labels are not read.
  std::function<std::optional<std::map<std::string, std::string>>(const std::string&)>
      namespace_labels;
  // Accelerator models present in the cluster (an unpinned request is charged as the most
  // capable of these); null = the whole catalog.
  const std::vector<std::string>* available_models = nullptr;
  // DRA classes, slices, claims and templates known here (cluster mode's caches); null = none.
  const policy::DraContext* dra = nullptr;
  // /mutate stamps Pods with exportgate.io/admission-uid so the reconciler can match the stored
  // Pod to the reservation its admission made.
  bool annotate_admission_uid = false;
  // When the ledger cannot be written: admit with a warning (true) or deny (false, default).
  bool allow_when_ledger_unavailable = false;
  // Build a decision record for allowed requests that asked for accelerators too (the decision
  // log with --decision-log-all); deny and warn always get one.
  bool record_allows = false;
};

struct AdmissionOutcome {
  AdmissionResponse response;
  std::string decision = "allow";  // allow | warn | deny | error (metric label)
  std::string code;  // deny/error: the decision code ("tenant-cap", "malformed-object", ...)
  std::string tenant;
  std::string jurisdiction;
  std::string tier;
  nlohmann::json record;  // the decision record for deny and warn (allow too with
                          // env.record_allows); null otherwise
  std::optional<UsageScope> usage;
  bool ledger_unavailable = false;  // decided by the ledger-unavailable fallback
};

AdmissionOutcome handle_admission(const AdmissionRequest& request, Endpoint endpoint,
                                  const policy::Policy& policy, UsageLedger& ledger,
                                  const AdmissionEnv& env = {});

// True when `user` or one of `groups` is an admin in the policy.
bool is_policy_admin(const policy::Policy& policy, const std::string& user,
                     const std::vector<std::string>& groups);

}  // namespace exportgate::webhook
