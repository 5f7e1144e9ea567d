// Label values for the request metrics that come from a bounded set, whatever a client sends:
// every distinct value is a series kept for the life of the process (issue 13).
#pragma once

#include <string>
#include <string_view>

#include "policy/policy.hpp"
#include "webhook/admission_codec.hpp"

namespace exportgate::webhook {

// The `kind` label: the request's kind when it is one the webhook is registered for (the
// built-in pod owners, Namespace, Scale, and the policy's workloadKinds, matched with their API
// group), else "other".
std::string metric_kind(const GroupVersionKind& kind, const policy::Policy& policy);

// The `reason` label of a denial or error: its decision code folded into a small fixed set
// (kDenialReasons), so dashboards and alerts can group by cause without a series per code.
// An empty code (allow, warn) gives ""; a code not mapped here gives "other".
std::string_view denial_reason(std::string_view code);

// Every value denial_reason returns for a non-empty code.
inline constexpr std::string_view kDenialReasons[] = {
    "jurisdiction",  // tier-prohibited, licence-required, unknown-jurisdiction
    "untenanted",    // a capped tier in a namespace without a tenant
    "cap",           // tenant or jurisdiction cap
    "site",          // site-unresolved: may land in several countries (spec.siteNodeLabel)
    "beyond-range",  // quantities past what exportgate evaluates
    "label-guard",   // a namespace's exportgate.io/ labels changed by a non-admin
    "ledger-unavailable",
    "malformed",  // an object that cannot be read
    "conflict",   // usage changed concurrently too often to reserve
    "no-policy",  // no policy loaded yet
    "other",
};

}  // namespace exportgate::webhook
