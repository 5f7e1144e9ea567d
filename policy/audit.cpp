// The audit of existing objects (see audit.hpp). Per-object prohibitions come from the same
// evaluate() the webhook runs, with zero usage; caps are checked once over the sum of the Pods in
// use, never by charging each existing Pod again on top of that sum.
#include "policy/audit.hpp"

#include <algorithm>
#include <tuple>

#include "policy/errors.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"
#include "policy/tier.hpp"

namespace exportgate::policy {

namespace {

using json = nlohmann::json;

std::string string_at(const json& object, const char* section, const char* key) {
  auto s = object.find(section);
  if (s == object.end() || !s->is_object()) return {};
  auto v = s->find(key);
  return v != s->end() && v->is_string() ? v->get<std::string>() : std::string();
}

AuditObjectRef ref_of(const json& object) {
  AuditObjectRef r;
  r.api_version = object.value("apiVersion", "");
  r.kind = object.value("kind", "");
  r.namespace_ = string_at(object, "metadata", "namespace");
  r.name = string_at(object, "metadata", "name");
  r.uid = string_at(object, "metadata", "uid");
  // The controller owner: what recreates the object, where a user fixes it.
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return r;
  auto owners = meta->find("ownerReferences");
  if (owners == meta->end() || !owners->is_array()) return r;
  for (const auto& o : *owners) {
    if (o.is_object() && o.value("controller", false)) {
      r.owner_kind = o.value("kind", "");
      r.owner_name = o.value("name", "");
      break;
    }
  }
  return r;
}

std::string_view group_of(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

bool condition_true(const json& object, std::string_view type) {
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) return false;
  auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return false;
  for (const auto& c : *conditions) {
    if (c.is_object() && c.value("type", "") == type && c.value("status", "") == "True")
      return true;
  }
  return false;
}

// Finished objects hold no compute and create no more Pods: Succeeded/Failed Pods (as the
// reconciler and ResourceQuota count) and Jobs whose Complete or Failed condition is true.
bool finished(const json& object, std::string_view kind) {
  if (kind == "Pod") {
    const std::string phase = string_at(object, "status", "phase");
    return phase == "Succeeded" || phase == "Failed";
  }
  if (kind == "Job") return condition_true(object, "Complete") || condition_true(object, "Failed");
  // A DRA claim holds devices only while it is allocated.
  if (kind == "ResourceClaim") {
    auto status = object.find("status");
    return status == object.end() || !status->is_object() || !status->contains("allocation") ||
           (*status)["allocation"].is_null();
  }
  return false;
}

bool is_cap_code(std::string_view code) {
  return code == "tenant-cap" || code == "jurisdiction-cap";
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

std::string rule_of(const Policy& policy, const TierName& tier) {
  const TierLimits* limits = policy.limits_of(tier);
  return limits ? limits->rule : std::string();
}

// "exportgate: tenant "t2" in IN (Tier 2) has 1,266,560 TPP in use by 10 pods, over its tenant
//  cap of 1,000,000 TPP [rule]"
std::string cap_reason(const CapFinding& c, size_t pods) {
  std::string s = "exportgate: ";
  if (c.scope == "tenant") {
    s += "tenant \"" + c.tenant + "\" in ";
  } else {
    s += "jurisdiction ";
  }
  s += c.jurisdiction + " (" + tier_display(c.tier) + ") has " + format_thousands(c.in_use_tpp) +
       " TPP in use by " + std::to_string(pods) + (pods == 1 ? " pod" : " pods");
  s += c.decision == Verdict::kDeny ? ", over its " : ", near its ";
  s += c.scope == "tenant" ? "tenant cap" : "jurisdiction cap";
  s += " of " + format_thousands(c.cap_tpp) + " TPP";
  if (c.decision == Verdict::kWarn) {
    s += " (" + std::to_string(percent_of(c.in_use_tpp, c.cap_tpp)) + "%)";
  }
  if (!c.rule.empty()) s += " [" + c.rule + "]";
  return s;
}

bool ref_less(const AuditObjectRef& a, const AuditObjectRef& b) {
  return std::tie(a.kind, a.namespace_, a.name) < std::tie(b.kind, b.namespace_, b.name);
}

}  // namespace

size_t AuditReport::violations() const {
  size_t n = 0;
  for (const auto& f : findings) n += f.decision == Verdict::kDeny ? 1 : 0;
  for (const auto& c : caps) n += c.decision == Verdict::kDeny ? 1 : 0;
  return n;
}

size_t AuditReport::warnings() const {
  size_t n = 0;
  for (const auto& f : findings) n += f.decision == Verdict::kWarn ? 1 : 0;
  for (const auto& c : caps) n += c.decision == Verdict::kWarn ? 1 : 0;
  return n;
}

bool is_audited_kind(const json& object, const Policy& policy) {
  if (!object.is_object()) return false;
  const std::string api_version = object.value("apiVersion", "");
  const std::string kind = object.value("kind", "");
  const std::string_view group = group_of(api_version);
  if (group.empty()) return kind == "Pod" || kind == "ReplicationController";
  if (group == "apps") {
    return kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" ||
           kind == "DaemonSet";
  }
  if (group == "batch") return kind == "Job" || kind == "CronJob";
  if (group == "resource.k8s.io") return kind == "ResourceClaim";
  for (const auto& k : policy.workload_kinds) {
    if (k.group == group && k.kind == kind) return true;
  }
  return false;
}

Auditor::Auditor(const Policy& policy, AuditOptions options) : policy_(policy), options_(options) {
  report_.caps_checked = options_.check_caps;
}

void Auditor::set_namespace_labels(const std::string& ns,
                                   std::map<std::string, std::string> labels) {
  namespace_labels_[ns] = std::move(labels);
}

TenantContext Auditor::tenant_of(const std::string& ns) const {
  auto it = namespace_labels_.find(ns);
  return resolve_tenant(policy_, ns, it == namespace_labels_.end() ? nullptr : &it->second);
}

void Auditor::add(const json& object) {
  if (!is_audited_kind(object, policy_)) return;
  AuditObjectRef ref = ref_of(object);
  const bool is_pod = ref.kind == "Pod";
  if (finished(object, ref.kind)) {
    ++report_.finished;
    return;
  }
  const TenantContext tenant = tenant_of(ref.namespace_);
  if (tenant.exempt) return;
  (is_pod ? report_.pods : report_.workloads) += 1;

  auto finding = [&](Verdict decision) {
    AuditFinding f;
    f.object = ref;
    f.tenant = tenant.tenant;
    f.jurisdiction = tenant.jurisdiction;
    f.tier = tenant.tier;
    f.decision = decision;
    return f;
  };

  WorkloadDemand demand;
  try {
    ExtractOptions extract;
    extract.available_models = options_.available_models;
    extract.dra = options_.dra;
    demand = extract_demand(object, policy_, extract);
  } catch (const ManifestError& e) {
    // The webhook denies an object it cannot read; one that exists anyway is reported, not
    // skipped, so an unreadable spec never passes an audit silently.
    AuditFinding f = finding(Verdict::kDeny);
    f.code = "unreadable-object";
    f.reason = std::string("exportgate: cannot read the object: ") + e.what();
    report_.findings.push_back(std::move(f));
    return;
  }
  if (!demand.recognized || !demand.has_accelerators()) return;

  // Zero usage: what this object is by itself. Usage of everything else is the caps' business
  // (finish()), so an existing Pod is never charged twice.
  const Decision d = evaluate(demand, tenant, UsageSnapshot{}, policy_);
  // Pods and allocated DRA claims hold devices; workloads are only what they would make.
  const bool aggregate_caps = options_.check_caps && (is_pod || ref.kind == "ResourceClaim");
  if (d.would_deny && !(aggregate_caps && is_cap_code(d.code))) {
    AuditFinding f = finding(Verdict::kDeny);
    f.code = d.code;
    f.rule = d.rule;
    f.reason = join(d.reasons);
    f.accelerators = demand.describe_accelerators();
    f.accelerator_count = demand.accelerator_count;
    f.tpp = capped_tpp(demand);
    report_.findings.push_back(std::move(f));
  } else if (!d.would_deny && !d.warnings.empty() && !aggregate_caps) {
    AuditFinding f = finding(Verdict::kWarn);
    f.code = "near-cap";
    f.reason = join(d.warnings);
    f.accelerators = demand.describe_accelerators();
    f.accelerator_count = demand.accelerator_count;
    f.tpp = capped_tpp(demand);
    report_.findings.push_back(std::move(f));
  }

  const double capped = capped_tpp(demand);
  if (!aggregate_caps || tenant.jurisdiction.empty() || !(capped > 0)) return;
  Usage& u = usage_[allocation_key(policy_, tenant.jurisdiction, workload_site(policy_, demand))]
                   [tenant.tenant];
  if (u.pods.empty()) u.tenant = tenant;
  if (!u.tenant_cap) u.tenant_cap = d.tenant_cap_tpp;
  if (!u.jurisdiction_cap) u.jurisdiction_cap = d.jurisdiction_cap_tpp;
  u.tpp += capped;
  u.pods.push_back(std::move(ref));
}

AuditReport Auditor::finish() && {
  const double ratio = policy_.near_cap_warning_ratio;
  auto judge = [&](CapFinding& c, size_t pods) -> bool {
    if (c.in_use_tpp > c.cap_tpp) {
      c.decision = Verdict::kDeny;
    } else if (c.in_use_tpp >= ratio * c.cap_tpp && c.in_use_tpp > 0) {
      c.decision = Verdict::kWarn;
    } else {
      return false;
    }
    c.reason = cap_reason(c, pods);
    std::sort(c.pods.begin(), c.pods.end(), ref_less);
    return true;
  };
  // With nodes mapped to countries a tenant's Pods may be counted in several countries; its
  // tenant cap counts them all (one finding, under the tenant's own jurisdiction).
  const bool per_tenant = policy_.site_node_label.has_value();
  std::map<std::string, CapFinding> tenant_caps;
  if (per_tenant) {
    for (auto& [jurisdiction, tenants] : usage_) {
      for (auto& [name, u] : tenants) {
        if (!u.tenant_cap) continue;
        CapFinding& c = tenant_caps[name];
        c.scope = "tenant";
        c.tenant = name;
        c.jurisdiction = u.tenant.jurisdiction;
        c.tier = u.tenant.tier;
        c.cap_tpp = *u.tenant_cap;
        c.in_use_tpp += u.tpp;
        c.code = "tenant-cap";
        c.rule = rule_of(policy_, c.tier);
        c.pods.insert(c.pods.end(), u.pods.begin(), u.pods.end());
      }
    }
    for (auto& [name, c] : tenant_caps) {
      if (judge(c, c.pods.size())) report_.caps.push_back(std::move(c));
    }
  }
  for (auto& [jurisdiction, tenants] : usage_) {
    std::optional<double> jurisdiction_cap;
    CapFinding whole;
    whole.scope = "jurisdiction";
    whole.jurisdiction = jurisdiction;
    whole.code = "jurisdiction-cap";
    for (auto& [name, u] : tenants) {
      // Only licensed use (the tenants given a jurisdiction cap) draws down the country
      // allocation; LPP use does not (90 FR 4544).
      if (u.jurisdiction_cap) {
        whole.tier = u.tenant.tier;
        whole.in_use_tpp += u.tpp;
        whole.pods.insert(whole.pods.end(), u.pods.begin(), u.pods.end());
        if (!jurisdiction_cap) jurisdiction_cap = u.jurisdiction_cap;
      }
      if (!u.tenant_cap || per_tenant) continue;
      CapFinding c;
      c.scope = "tenant";
      c.tenant = name;
      c.jurisdiction = jurisdiction;
      c.tier = u.tenant.tier;
      c.cap_tpp = *u.tenant_cap;
      c.in_use_tpp = u.tpp;
      c.code = "tenant-cap";
      c.rule = rule_of(policy_, c.tier);
      c.pods = u.pods;
      if (judge(c, c.pods.size())) report_.caps.push_back(std::move(c));
    }
    for (auto& [name, u] : tenants) {
      TenantUsage t;
      t.tenant = name;
      t.jurisdiction = jurisdiction;
      t.tier = u.tenant.tier;
      t.in_use_tpp = u.tpp;
      t.tenant_cap_tpp = u.tenant_cap;
      t.jurisdiction_in_use_tpp = whole.in_use_tpp;
      t.jurisdiction_cap_tpp = jurisdiction_cap;
      for (const auto& p : u.pods) t.namespaces.push_back(p.namespace_);
      std::sort(t.namespaces.begin(), t.namespaces.end());
      t.namespaces.erase(std::unique(t.namespaces.begin(), t.namespaces.end()), t.namespaces.end());
      report_.usage.push_back(std::move(t));
    }
    if (!jurisdiction_cap) continue;
    whole.cap_tpp = *jurisdiction_cap;
    whole.rule = rule_of(policy_, whole.tier);
    if (judge(whole, whole.pods.size())) report_.caps.push_back(std::move(whole));
  }
  std::sort(
      report_.findings.begin(), report_.findings.end(),
      [](const AuditFinding& a, const AuditFinding& b) { return ref_less(a.object, b.object); });
  std::sort(report_.caps.begin(), report_.caps.end(), [](const CapFinding& a, const CapFinding& b) {
    return std::tie(a.scope, a.jurisdiction, a.tenant) <
           std::tie(b.scope, b.jurisdiction, b.tenant);
  });
  return std::move(report_);
}

}  // namespace exportgate::policy
