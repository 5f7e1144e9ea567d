// The audit of what already exists: evaluates Pods and pod-owning workloads one by one for the
// prohibitions that apply to each object, and sums the controlled TPP of the Pods in use per
// tenant and per jurisdiction to find caps that are already passed. Pure: the caller lists the
// objects (webhook/audit/audit_run.cpp) and feeds them in.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/evaluate.hpp"
#include "policy/policy.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {

// The object a finding is about, enough to name it and to attach an Event to it.
struct AuditObjectRef {
  std::string api_version;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string owner_kind;  // the controller ownerReference, "" when the object has none
  std::string owner_name;
};

// One object that violates the policy (or, with decision kWarn, comes near a limit on its own).
struct AuditFinding {
  AuditObjectRef object;
  std::string tenant;
  std::string jurisdiction;  // "" when unknown
  TierName tier;
  std::string accelerators;  // "8 x NVIDIA H100 SXM (nvidia.com/gpu, pinned)"
  double accelerator_count = 0;
  double tpp = 0;  // controlled TPP of the object (x replicas for workloads)
  Verdict decision = Verdict::kDeny;
  std::string code;  // "tier-prohibited", "unknown-jurisdiction", "unreadable-object", ...
  std::string rule;
  std::string reason;  // one line, as the webhook would say it
};

// A tenant or jurisdiction whose Pods in use already pass (kDeny) or come near (kWarn) a cap.
struct CapFinding {
  std::string scope;   // "tenant" | "jurisdiction"
  std::string tenant;  // "" for scope jurisdiction
  std::string jurisdiction;
  TierName tier;
  double cap_tpp = 0;
  double in_use_tpp = 0;
  Verdict decision = Verdict::kDeny;
  std::string code;  // "tenant-cap" | "jurisdiction-cap"
  std::string rule;
  std::string reason;
  std::vector<AuditObjectRef> pods;  // the Pods whose TPP counts, sorted by namespace and name
};

// Controlled TPP of a tenant's Pods in use against its caps, whether or not near them (what a
// tenant's PolicyReport shows). Only with caps checked, for tenants that have such Pods.
struct TenantUsage {
  std::string tenant;
  std::string jurisdiction;
  TierName tier;
  double in_use_tpp = 0;
  std::optional<double> tenant_cap_tpp;
  double jurisdiction_in_use_tpp = 0;  // every tenant of the jurisdiction
  std::optional<double> jurisdiction_cap_tpp;
  std::vector<std::string> namespaces;  // where its Pods run, sorted
};

struct AuditReport {
  std::vector<AuditFinding> findings;  // kDeny and kWarn, sorted by kind, namespace, name
  std::vector<CapFinding> caps;        // sorted by scope, jurisdiction, tenant
  std::vector<TenantUsage> usage;      // sorted by jurisdiction, tenant
  bool caps_checked = true;            // false when only part of the cluster was listed
  int64_t pods = 0;                    // Pods evaluated (not finished)
  int64_t workloads = 0;               // workload objects evaluated
  int64_t finished = 0;                // Pods and Jobs skipped because they have finished

  size_t violations() const;  // findings + caps with decision kDeny
  size_t warnings() const;    // findings + caps with decision kWarn
};

struct AuditOptions {
  // Model ids present on the cluster's Nodes (as the webhook uses them); null = whole catalog.
  const std::vector<std::string>* available_models = nullptr;
  // Sum Pods into tenant and jurisdiction usage and check the caps. Off when only part of the
  // cluster is listed (one namespace): a partial sum could only under-report.
  bool check_caps = true;
  // DRA classes and published devices (and claims), so claims are charged as the webhook does;
  // null = none known (a claim's class is then the worst case).
  const DraContext* dra = nullptr;
};

// Accumulates objects, then produces the report. Namespace labels must be given before the
// objects of that namespace are added.
class Auditor {
 public:
  Auditor(const Policy& policy, AuditOptions options = {});

  // The exportgate.io/ labels of a namespace (as the webhook's namespace cache keeps them).
  void set_namespace_labels(const std::string& ns, std::map<std::string, std::string> labels);
  // A Pod or a pod-owning workload (any other kind is ignored). Finished Pods and Jobs are
  // counted in `finished` and not evaluated.
  void add(const nlohmann::json& object);
  AuditReport finish() &&;

 private:
  struct Usage {
    TenantContext tenant;
    std::optional<double> tenant_cap;
    std::optional<double> jurisdiction_cap;
    double tpp = 0;
    std::vector<AuditObjectRef> pods;
  };
  TenantContext tenant_of(const std::string& ns) const;

  const Policy& policy_;
  AuditOptions options_;
  std::map<std::string, std::map<std::string, std::string>> namespace_labels_;
  AuditReport report_;
  // jurisdiction -> tenant -> Pods in use (tenant names are scoped by jurisdiction, as in the
  // cluster ledger).
  std::map<std::string, std::map<std::string, Usage>> usage_;
};

// True for the kinds the audit evaluates: Pod, the built-in pod-owning workloads, DRA
// ResourceClaims, and the policy's custom workload kinds (by group and kind).
bool is_audited_kind(const nlohmann::json& object, const Policy& policy);

}  // namespace exportgate::policy
