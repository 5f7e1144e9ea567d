// Identity of an effective policy: a canonical text dump and its SHA-256, for logs and metrics.
#pragma once

#include <string>

#include "policy/policy.hpp"

namespace exportgate::policy {

// Every field that influences decisions, in a fixed order (maps sorted), one per line.
std::string canonical_dump(const Policy& policy);
// First 16 hex digits of SHA-256(canonical_dump(policy)).
std::string policy_hash(const Policy& policy);

}  // namespace exportgate::policy
