// Things a valid policy says that an admin should look at twice: `exportgate policy validate`
// prints them as warnings (the policy still loads).
#pragma once

#include <string>
#include <vector>

#include "policy/policy.hpp"

namespace exportgate::policy {

// One line each, naming the field and what to do. Today: namespace globs that exempt namespaces
// or assign them to a tenant, since anyone who can create a namespace of a matching name gets
// the exemption or the tenant's jurisdiction, authorisation and cap (issue 13).
std::vector<std::string> policy_warnings(const Policy& policy);

}  // namespace exportgate::policy
