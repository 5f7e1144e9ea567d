// Namespace -> tenant, jurisdiction and tier. Jurisdiction comes only from things the tenant
// cannot change: the policy's tenant list and namespace labels set by cluster admins.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace exportgate::policy {

inline constexpr std::string_view kJurisdictionLabel = "exportgate.io/jurisdiction";
inline constexpr std::string_view kTenantLabel = "exportgate.io/tenant";
// Where the tenant's company (or its ultimate parent) is headquartered, ISO alpha-2. Admin-owned
// like the other exportgate.io/ labels (the namespace label guard covers the whole prefix).
inline constexpr std::string_view kHeadquartersLabel = "exportgate.io/headquarters";

struct TenantContext {
  std::string tenant;        // tenant name; namespace name when no tenant is known
  std::string jurisdiction;  // upper-case code, "" when none is known
  TierName tier;             // "" = unknown
  std::string source;        // "policy tenant acme", "namespace label", "flag" ...
  Authorization authorization = Authorization::kNone;
  std::optional<double> tenant_cap_tpp;  // the tenant's own cap if the policy gives one
  std::string licence;
  bool exempt = false;  // namespace exempt by policy
  // No policy tenant lists the namespace and no exportgate.io/tenant label names one: `tenant`
  // is only the namespace's name (see Policy::untenanted_namespaces).
  bool untenanted = false;
  std::string jurisdiction_error;  // e.g. "label value \"XX\" is not an ISO 3166-1 code"
  std::string headquarters;        // upper-case code, "" when not declared
  std::string headquarters_error;  // a declared headquarters that is not an ISO code
};

// Resolves the tenant of a namespace. The policy's tenant list wins over labels; labels
// (`namespace_labels`, may be null) fill in the rest. A tenant named in labels but defined in
// the policy takes the policy's jurisdiction and authorisation.
TenantContext resolve_tenant(const Policy& policy, std::string_view namespace_name,
                             const std::map<std::string, std::string>* namespace_labels);

// A namespace -> jurisdiction pair given on the command line (`--tenant-namespace NS=CC` of
// serve and audit).
struct NamespaceTenant {
  std::string namespace_name;
  std::string jurisdiction;  // normalised ISO 3166-1 alpha-2 code
};

// Parses "NS=CC"; nullopt when the form or the code is wrong (the caller says how to fix it).
std::optional<NamespaceTenant> parse_namespace_tenant(std::string_view text);

// Adds one tenant per pair ahead of the policy's own, so they win over its globs for their
// namespace, and recomputes the policy hash: the tenants decide, so the hash that the decision
// log and metrics carry must cover them.
void add_namespace_tenants(Policy& policy, const std::vector<NamespaceTenant>& tenants);

// Glob match used for namespaces: exact, or prefix when the pattern ends with '*'.
bool namespace_matches(std::string_view pattern, std::string_view namespace_name);

}  // namespace exportgate::policy
