// Label values for the request metrics that come from a bounded set, whatever a client sends:
// every distinct value is a series kept for the life of the process (issue 13).
#pragma once

#include <string>

#include "policy/policy.hpp"
#include "webhook/admission_codec.hpp"

namespace exportgate::webhook {

// The `kind` label: the request's kind when it is one the webhook is registered for (the
// built-in pod owners, Namespace, Scale, and the policy's workloadKinds, matched with their API
// group), else "other".
std::string metric_kind(const GroupVersionKind& kind, const policy::Policy& policy);

}  // namespace exportgate::webhook
