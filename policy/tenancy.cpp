// Namespace -> tenant, jurisdiction and tier, from the policy's tenant list and admin-set
// namespace labels (never from anything the tenant controls).
#include "policy/tenancy.hpp"

#include "policy/jurisdictions.hpp"
#include "policy/policy_hash.hpp"

namespace exportgate::policy {

bool namespace_matches(std::string_view pattern, std::string_view namespace_name) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return namespace_name.starts_with(pattern);
  }
  return pattern == namespace_name;
}

namespace {

const Tenant* tenant_for_namespace(const Policy& policy, std::string_view ns) {
  for (const auto& t : policy.tenants) {
    for (const auto& pattern : t.namespaces) {
      if (namespace_matches(pattern, ns)) return &t;
    }
  }
  return nullptr;
}

const Tenant* tenant_named(const Policy& policy, std::string_view name) {
  for (const auto& t : policy.tenants) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void apply_policy_tenant(const Policy& policy, const Tenant& t, TenantContext& ctx) {
  ctx.tenant = t.name;
  ctx.jurisdiction = t.jurisdiction;
  ctx.tier = policy.tier_of(t.jurisdiction);
  ctx.authorization = t.authorization;
  ctx.tenant_cap_tpp = t.cap_tpp;
  ctx.licence = t.licence;
  ctx.headquarters = t.headquarters;
}

const std::string* label(const std::map<std::string, std::string>* labels, std::string_view key) {
  if (!labels) return nullptr;
  auto it = labels->find(std::string(key));
  return it == labels->end() ? nullptr : &it->second;
}

TenantContext resolve_tenant_and_jurisdiction(
    const Policy& policy, std::string_view namespace_name,
    const std::map<std::string, std::string>* namespace_labels);

}  // namespace

TenantContext resolve_tenant(const Policy& policy, std::string_view namespace_name,
                             const std::map<std::string, std::string>* namespace_labels) {
  TenantContext ctx = resolve_tenant_and_jurisdiction(policy, namespace_name, namespace_labels);
  // Headquarters: the policy tenant's, else the admin-set label. An invalid label is kept as an
  // error, so a policy with a headquarters rule can refuse it rather than guess.
  if (ctx.headquarters.empty()) {
    if (const std::string* value = label(namespace_labels, kHeadquartersLabel)) {
      const std::string code = normalize_jurisdiction_code(*value);
      if (code.empty() || !find_jurisdiction(code)) {
        ctx.headquarters_error = "label " + std::string(kHeadquartersLabel) + " value \"" + *value +
                                 "\" is not an ISO 3166-1 alpha-2 code";
      } else {
        ctx.headquarters = code;
      }
    }
  }
  return ctx;
}

namespace {

TenantContext resolve_tenant_and_jurisdiction(
    const Policy& policy, std::string_view namespace_name,
    const std::map<std::string, std::string>* namespace_labels) {
  TenantContext ctx;
  ctx.tenant = std::string(namespace_name);
  for (const auto& pattern : policy.exempt_namespaces) {
    if (namespace_matches(pattern, namespace_name)) {
      ctx.exempt = true;
      break;
    }
  }

  // 1. The policy's tenant list is authoritative.
  if (const Tenant* t = tenant_for_namespace(policy, namespace_name)) {
    apply_policy_tenant(policy, *t, ctx);
    ctx.source = "policy tenant " + t->name;
    return ctx;
  }

  // 2. Namespace labels, set by cluster admins. A tenant label naming a policy tenant takes that
  //    tenant's jurisdiction and authorisation (the label cannot grant more than the policy says).
  if (const std::string* tenant_label = label(namespace_labels, kTenantLabel)) {
    if (const Tenant* t = tenant_named(policy, *tenant_label)) {
      apply_policy_tenant(policy, *t, ctx);
      ctx.source = "namespace label " + std::string(kTenantLabel) + " -> policy tenant " + t->name;
      return ctx;
    }
    if (!tenant_label->empty()) ctx.tenant = *tenant_label;
  }
  // A label naming the namespace itself is explicit too: an admin said it is its own tenant.
  const std::string* tenant_label = label(namespace_labels, kTenantLabel);
  ctx.untenanted = !tenant_label || tenant_label->empty();
  if (const std::string* value = label(namespace_labels, kJurisdictionLabel)) {
    ctx.source = "namespace label " + std::string(kJurisdictionLabel);
    const std::string code = normalize_jurisdiction_code(*value);
    if (code.empty() || !find_jurisdiction(code)) {
      // Never guess: an invalid label leaves the jurisdiction unknown.
      ctx.jurisdiction_error = "label " + std::string(kJurisdictionLabel) + " value \"" + *value +
                               "\" is not an ISO 3166-1 alpha-2 code";
      return ctx;
    }
    ctx.jurisdiction = code;
    ctx.tier = policy.tier_of(code);
    return ctx;
  }
  ctx.source = "none";
  return ctx;
}

}  // namespace

std::optional<NamespaceTenant> parse_namespace_tenant(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  std::string code = normalize_jurisdiction_code(text.substr(eq + 1));
  if (code.empty() || !find_jurisdiction(code)) return std::nullopt;
  return NamespaceTenant{std::string(text.substr(0, eq)), std::move(code)};
}

void add_namespace_tenants(Policy& policy, const std::vector<NamespaceTenant>& tenants) {
  if (tenants.empty()) return;
  std::vector<Tenant> extra;
  for (const auto& nt : tenants) {
    Tenant t;
    t.name = nt.namespace_name;
    t.jurisdiction = nt.jurisdiction;
    t.namespaces = {nt.namespace_name};
    extra.push_back(std::move(t));
  }
  policy.tenants.insert(policy.tenants.begin(), extra.begin(), extra.end());
  policy.hash = policy_hash(policy);
}

}  // namespace exportgate::policy
