// The admission request path (see admission_handler.hpp). Kept as a few small steps: filter the
// request, guard namespaces, extract demand, evaluate with a usage snapshot, reserve, respond.
#include "webhook/admission_handler.hpp"

#include <algorithm>
#include <cmath>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"
#include "webhook/annotations.hpp"
#include "webhook/kueue_workload.hpp"
#include "webhook/mutation.hpp"
#include "webhook/owner_link.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {

constexpr std::string_view kLabelPrefix = "exportgate.io/";
// The apiserver may truncate warnings above 256 characters.
constexpr size_t kMaxWarning = 256;
// Concurrent requests can take the room between snapshot and reservation; retry a few times.
constexpr int kReserveAttempts = 8;

std::string clip(std::string s) {
  if (s.size() > kMaxWarning) {
    s.resize(kMaxWarning - 3);
    s += "...";
  }
  return s;
}

std::string tpp_text(double tpp) {
  return policy::format_whole(tpp);
}

bool is_core(const AdmissionRequest& r, std::string_view kind) {
  return r.kind.group.empty() && r.kind.kind == kind;
}

// DRA claims and claim templates: where a tenant asks for devices through resource.k8s.io.
bool is_dra_claim(const AdmissionRequest& r) {
  return r.kind.group == "resource.k8s.io" &&
         (r.kind.kind == "ResourceClaim" || r.kind.kind == "ResourceClaimTemplate");
}

// The apiserver sends the stored object with every DELETE review; a review that lacks it, or
// names another pod in it, was made up by whoever reached the port.
bool is_deleted_pod(const AdmissionRequest& req) {
  if (!req.old_object.is_object()) return false;
  auto meta = req.old_object.find("metadata");
  if (meta == req.old_object.end() || !meta->is_object()) return false;
  auto text = [&](const char* key) {
    auto it = meta->find(key);
    return it != meta->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string ns = text("namespace");
  return text("name") == req.name && (ns.empty() || ns == req.namespace_);
}

void deny(AdmissionOutcome& out, int code, std::string reason, std::string message) {
  out.response.allowed = false;
  out.response.status_code = code;
  out.response.status_reason = std::move(reason);
  out.response.status_message = std::move(message);
  out.decision = "deny";
}

std::map<std::string, std::string> exportgate_labels(const json& object) {
  std::map<std::string, std::string> out;
  if (!object.is_object()) return out;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return out;
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return out;
  for (const auto& [k, v] : labels->items()) {
    if (k.starts_with(kLabelPrefix)) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

// Namespaces: only policy admins may add, change or remove exportgate.io/ labels, because the
// jurisdiction comes from them. An admin's change is allowed and recorded: moving a tenant to
// another jurisdiction changes what it may run, and the decision log is the evidence of who did
// it and when (recorded even without --decision-log-all).
void guard_namespace(const AdmissionRequest& req, const policy::Policy& policy,
                     AdmissionOutcome& out) {
  auto before = exportgate_labels(req.old_object);
  auto after = exportgate_labels(req.object);
  if (before == after) return;
  std::string changes;
  auto add_change = [&](const std::string& k, const std::string* from, const std::string* to) {
    if (!changes.empty()) changes += ", ";
    changes += k + " " + (from ? "\"" + *from + "\"" : "(none)") + " -> " +
               (to ? "\"" + *to + "\"" : "(removed)");
  };
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it == before.end()) {
      add_change(k, nullptr, &v);
    } else if (it->second != v) {
      add_change(k, &it->second, &v);
    }
  }
  for (const auto& [k, v] : before) {
    if (!after.count(k)) add_change(k, &v, nullptr);
  }
  const std::string ns = req.name.empty() ? req.namespace_ : req.name;
  if (is_policy_admin(policy, req.username, req.groups)) {
    out.record = {
        {"uid", req.uid},
        {"user", req.username},
        {"operation", req.operation},
        {"kind", "Namespace"},
        {"namespace", ns},
        {"decision", "allow"},
        {"code", "namespace-label-change"},
        {"reasons",
         {"policy admin \"" + req.username + "\" changed the " + std::string(kLabelPrefix) +
          " labels of namespace \"" + ns + "\" (" + changes + ")"}},
        {"labels_before", before},
        {"labels_after", after},
        {"dry_run", req.dry_run},
        {"policy", policy.name},
        {"policy_hash", policy.hash}};
    return;
  }
  deny(
      out, 403, "Forbidden",
      "exportgate: user \"" + req.username + "\" may not change the " + std::string(kLabelPrefix) +
          " labels of namespace \"" + ns + "\" (" + changes +
          "): only the policy's admins may set a namespace's tenant, jurisdiction or headquarters");
  out.code = "namespace-label-guard";
  out.record = {{"uid", req.uid},
                {"user", req.username},
                {"namespace", ns},
                {"decision", "deny"},
                {"code", "namespace-label-guard"},
                {"reasons", {out.response.status_message}}};
}

void fill_audit(AdmissionOutcome& out, const policy::TenantContext& tenant,
                const policy::Decision& d, const policy::Policy& policy) {
  auto& a = out.response.audit_annotations;
  a["tenant"] = tenant.tenant;
  a["jurisdiction"] = tenant.jurisdiction.empty() ? "unknown" : tenant.jurisdiction;
  a["tier"] = tenant.tier.empty() ? "unknown" : tenant.tier;
  a["tpp"] = tpp_text(d.requested_tpp);
  a["decision"] = out.decision;
  a["policy-hash"] = policy.hash;
}

json decision_record(const AdmissionRequest& req, const policy::WorkloadDemand& demand,
                     const policy::TenantContext& tenant, const policy::Decision& d,
                     const std::string& decision, const policy::Policy& policy) {
  return {{"uid", req.uid},
          {"user", req.username},
          {"operation", req.operation},
          {"kind", req.kind.kind},
          {"name", demand.name.empty() ? req.name : demand.name},
          {"namespace", req.namespace_},
          {"tenant", tenant.tenant},
          {"jurisdiction", tenant.jurisdiction},
          {"tier", tenant.tier},
          {"headquarters", tenant.headquarters},
          {"accelerators", demand.describe_accelerators()},
          {"tpp", d.requested_tpp},
          {"total_tpp", demand.total_tpp},
          {"decision", decision},
          {"code", d.code},
          {"rule", d.rule},
          {"reasons", d.reasons},
          {"warnings", d.warnings},
          {"dry_run", req.dry_run},
          {"policy", policy.name},
          {"policy_hash", policy.hash}};
}

// Demand of the request's object; the request namespace fills in a missing metadata.namespace.
policy::WorkloadDemand demand_of(const json& object, const AdmissionRequest& req,
                                 const policy::Policy& policy, const AdmissionEnv& env) {
  policy::ExtractOptions options;
  options.available_models = env.available_models;
  options.dra = env.dra;
  options.namespace_ = req.namespace_;
  auto demand = policy::extract_demand(object, policy, options);
  if (demand.namespace_.empty()) demand.namespace_ = req.namespace_;
  if (demand.name.empty()) demand.name = req.name;
  return demand;
}

// The value of one of the object's annotations ("" when absent).
std::string annotation_of(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto ann = meta->find("annotations");
  if (ann == meta->end() || !ann->is_object()) return "";
  auto it = ann->find(key);
  return it != ann->end() && it->is_string() ? it->get<std::string>() : "";
}

// exportgate owns the exportgate.io/ annotations: the patch sets the ones that describe the
// object and removes any other a client set, accelerators or not (issue 13).
void handle_mutate(const AdmissionRequest& req, const policy::Policy& policy,
                   const AdmissionEnv& env, AdmissionOutcome& out) {
  if ((req.operation != "CREATE" && req.operation != "UPDATE") || !req.sub_resource.empty()) {
    return;
  }
  std::map<std::string, std::string> annotations;
  try {
    auto demand = demand_of(req.object, req, policy, env);
    if (demand.recognized && demand.has_accelerators())
      annotations = exportgate_annotations(demand);
  } catch (const policy::ManifestError& e) {
    // Not ours to deny here: /validate answers malformed objects with the reason.
    out.response.warnings.push_back(clip(std::string("exportgate: ") + e.what()));
  }
  const bool claim = req.kind.group == "resource.k8s.io" && req.kind.kind == "ResourceClaim";
  if (env.annotate_admission_uid && (is_core(req, "Pod") || claim) && !annotations.empty()) {
    if (req.operation == "CREATE") {
      annotations[kAdmissionUidAnnotation] = req.uid;
    } else if (auto uid = annotation_of(req.old_object, kAdmissionUidAnnotation); !uid.empty()) {
      annotations[kAdmissionUidAnnotation] = uid;  // the one its admission stamped stays
    }
  }
  json patch = annotation_patch(req.object, annotations);
  if (!patch.empty()) out.response.patch = std::move(patch);
}

// The ledger could not take the reservation (API unreachable or too contended): deny by default,
// since admitting could pass a cap no replica can check; or admit with a warning when configured.
void ledger_unavailable(const AdmissionRequest& req, const policy::WorkloadDemand& demand,
                        const policy::TenantContext& tenant, policy::Decision d,
                        const policy::Policy& policy, const AdmissionEnv& env,
                        const std::string& error, AdmissionOutcome& out) {
  out.ledger_unavailable = true;
  out.usage = UsageScope{
      tenant.tenant,
      policy::allocation_key(policy, tenant.jurisdiction, policy::workload_site(policy, demand)),
      d.tenant_cap_tpp, d.jurisdiction_cap_tpp};
  const std::string what = "exportgate: " + demand.describe_accelerators() + " (" +
                           tpp_text(d.requested_tpp) + " TPP) for tenant \"" + tenant.tenant +
                           "\" in " + tenant.jurisdiction + " (" + tenant.tier +
                           ") needs the usage ledger to check its cap, and the usage ledger is "
                           "unavailable: " +
                           error;
  d.code = "ledger-unavailable";
  if (env.allow_when_ledger_unavailable) {
    out.decision = "warn";
    out.response.warnings.push_back(
        clip(what + "; admitted without reservation (--ledger-unavailable allow)"));
    d.verdict = policy::Verdict::kWarn;
    d.reasons = {what};
  } else {
    deny(out, 503, "ServiceUnavailable",
         what + "; denied (--ledger-unavailable deny), retry later");
    out.code = d.code;
    d.verdict = policy::Verdict::kDeny;
    d.reasons = {out.response.status_message};
  }
  fill_audit(out, tenant, d, policy);
  out.record = decision_record(req, demand, tenant, d, out.decision, policy);
}

// The tenant's usage counted under other allocation keys than the snapshot's: with
// spec.siteNodeLabel a tenant's Pods may run in several countries, and the cluster ledger keeps
// one figure per key (the in-memory ledger's tenant figure is already its total, so this is 0
// there). Not read without the map: every usage of a tenant then has one key.
double tenant_usage_elsewhere(const UsageLedger& ledger, const policy::Policy& policy,
                              const std::string& tenant, const policy::UsageSnapshot& here) {
  if (!policy.site_node_label) return 0;
  const auto totals = ledger.totals();
  auto it = totals.tenants.find(tenant);
  return it == totals.tenants.end() ? 0.0 : std::max(0.0, it->second - here.tenant_tpp);
}

void handle_validate(const AdmissionRequest& req, const policy::Policy& policy, UsageLedger& ledger,
                     const AdmissionEnv& env, AdmissionOutcome& out) {
  const bool is_pod = is_core(req, "Pod") && req.sub_resource.empty();

  // DELETE releases what the pod held (the apiserver sends oldObject when the rule has DELETE).
  // A review without the pod it deletes is not the apiserver's: it releases nothing.
  if (req.operation == "DELETE") {
    if (is_pod && !req.dry_run && !req.name.empty() && is_deleted_pod(req)) {
      if (auto released = ledger.release(req.namespace_ + "/" + req.name)) {
        out.tenant = released->tenant;
        out.jurisdiction = released->jurisdiction;
        out.usage = UsageScope{released->tenant, released->jurisdiction, {}, {}};
      }
    }
    return;
  }
  if (req.operation == "CONNECT") return;
  // Every path that writes a namespace's labels: the object itself and its status and finalize
  // subresources (the apiserver keeps metadata changes made through them).
  if (is_core(req, "Namespace")) {
    guard_namespace(req, policy, out);
    return;
  }
  // Scale subresources carry only a replica count; the pods they add are checked at creation.
  if (!req.sub_resource.empty()) return;
  // Pod updates cannot change accelerator requests (resize covers cpu and memory only).
  if (is_pod && req.operation == "UPDATE") return;

  policy::WorkloadDemand demand;
  try {
    demand = demand_of(req.object, req, policy, env);
  } catch (const policy::ManifestError& e) {
    deny(out, 400, "BadRequest", std::string("exportgate: cannot read the object: ") + e.what());
    out.decision = "error";
    out.code = "malformed-object";
    return;
  }
  if (!demand.recognized || !demand.has_accelerators()) return;  // fast path: costs nothing
  // A DRA claim is decided at its creation whatever workloadEarlyCheck says: the Pod that uses
  // it carries no device request of its own.
  if (!is_pod && !is_dra_claim(req) && !policy.workload_early_check) return;

  std::optional<std::map<std::string, std::string>> labels;
  if (env.namespace_labels) labels = env.namespace_labels(req.namespace_);
  auto tenant = policy::resolve_tenant(policy, req.namespace_, labels ? &*labels : nullptr);
  out.tenant = tenant.tenant;
  out.jurisdiction = tenant.jurisdiction;
  out.tier = tenant.tier;

  // A workload update replaces its old pods: do not count the old demand twice.
  double already_counted = 0;
  if (!is_pod && req.operation == "UPDATE" && req.old_object.is_object()) {
    try {
      already_counted = policy::capped_tpp(demand_of(req.old_object, req, policy, env));
    } catch (const policy::ManifestError&) {
      already_counted = 0;
    }
  }

  // A ResourceClaim holds its devices like a Pod: reserved at admission, claimed by the stored
  // claim's admission uid once it is allocated (the reconciler), released when it is deleted.
  const bool is_claim = req.kind.group == "resource.k8s.io" && req.kind.kind == "ResourceClaim";
  const bool reserves = (is_pod || is_claim) && req.operation == "CREATE" && !req.dry_run;
  const std::string key = req.name.empty() ? ""
                          : is_claim       ? req.namespace_ + "/resourceclaims/" + req.name
                                           : req.namespace_ + "/" + req.name;
  // A Pod of a Kueue workload whose exportgate check is Ready is charged against the
  // workload's reservation: the room left there is already counted in the tenant's usage.
  const std::string link = is_pod && reserves ? controller_link(req.object, req.namespace_) : "";
  const double own_charge = link.empty() ? 0 : policy::capped_tpp(demand);
  policy::Decision d;
  // The ledger counts usage under the allocation key: where the chips are installed (the
  // country the workload's node constraints pin it to, or the policy's site) when the policy
  // says, else the tenant's jurisdiction.
  const std::string alloc =
      policy::allocation_key(policy, tenant.jurisdiction, policy::workload_site(policy, demand));
  bool reclaimed = false;
  for (int attempt = 0;; ++attempt) {
    auto usage = ledger.snapshot(tenant.tenant, alloc);
    // A tenant cap counts the tenant's usage in every country: with nodes mapped to countries its
    // Pods may be counted under several keys (the cluster ledger's tenant figure is per key).
    const double tenant_elsewhere = tenant_usage_elsewhere(ledger, policy, tenant.tenant, usage);
    usage.tenant_tpp += tenant_elsewhere;
    if (!link.empty()) {
      already_counted = std::min(own_charge, ledger.headroom(alloc, link));
    }
    // The ledger's jurisdiction total holds every tenant; only licensed use draws down the
    // country allocation (LPP use does not), so the allocation is judged on that part, and the
    // atomic check below gets the cap moved up by the part that does not draw it down.
    const double jurisdiction_total = usage.jurisdiction_tpp;
    double drawn = 0;
    bool self_draws = false;
    if (!tenant.jurisdiction.empty()) {
      for (const auto& t : policy::allocation_tenants(policy, alloc)) {
        self_draws |= t == tenant.tenant;
        drawn += t == tenant.tenant ? usage.tenant_tpp - tenant_elsewhere
                                    : ledger.snapshot(t, alloc).tenant_tpp;
      }
    }
    usage.tenant_tpp = std::max(0.0, usage.tenant_tpp - already_counted);
    usage.jurisdiction_tpp = std::max(0.0, drawn - (self_draws ? already_counted : 0.0));
    d = policy::evaluate(demand, tenant, usage, policy);
    // A cap denial counts other replicas' leased headroom as used: ask it back once and decide
    // again, so the cap denies only when admitted Pods fill it.
    if (d.verdict == policy::Verdict::kDeny && !reclaimed &&
        (d.code == "tenant-cap" || d.code == "jurisdiction-cap")) {
      reclaimed = true;
      if (ledger.reclaim(alloc, tenant.tenant)) continue;
    }
    if (!reserves || d.verdict == policy::Verdict::kDeny || !(d.requested_tpp > 0)) break;
    Reservation r{key, tenant.tenant, alloc, d.requested_tpp, req.uid, req.namespace_, link};
    // Claimed by the uid /mutate stamped (it ran before this call, with a uid of its own).
    r.claim_uid = annotation_of(req.object, kAdmissionUidAnnotation);
    // Caps are enforced atomically only when this decision relied on them (enforce mode).
    const bool enforce = !d.would_deny;
    bool reserved = false;
    try {
      std::optional<double> jurisdiction_cap;
      if (enforce && d.jurisdiction_cap_tpp) {
        jurisdiction_cap = *d.jurisdiction_cap_tpp + std::max(0.0, jurisdiction_total - drawn);
      }
      std::optional<double> tenant_cap;
      if (enforce && d.tenant_cap_tpp) tenant_cap = *d.tenant_cap_tpp - tenant_elsewhere;
      reserved = ledger.reserve(r, tenant_cap, jurisdiction_cap);
    } catch (const LedgerUnavailable& e) {
      ledger_unavailable(req, demand, tenant, d, policy, env, e.what(), out);
      return;
    }
    if (reserved) break;
    if (attempt + 1 >= kReserveAttempts) {
      deny(out, 429, "TooManyRequests",
           "exportgate: usage of tenant \"" + tenant.tenant +
               "\" changed concurrently too often to reserve capacity; retry");
      out.decision = "error";
      out.code = "reserve-conflict";
      return;
    }
  }
  out.usage = UsageScope{tenant.tenant, alloc, d.tenant_cap_tpp, d.jurisdiction_cap_tpp};
  // A suspended workload in a Kueue queue waits there for a cap; its Pods are checked at their
  // creation. Only cap denials: a jurisdiction denial is final whatever the queue.
  if (!is_pod && d.verdict == policy::Verdict::kDeny && waits_in_queue(d.code) &&
      kueue_queued(req.object)) {
    d.verdict = policy::Verdict::kWarn;
    for (const auto& r : d.reasons) {
      // First, so that a clipped warning still says why it was admitted.
      std::string_view what = r;
      if (what.starts_with("exportgate: denied ")) what.remove_prefix(19);
      d.warnings.push_back("exportgate: admitted to wait in its Kueue queue (" + d.code +
                           "; its Pods are checked when created): " + std::string(what));
    }
  }
  out.decision = std::string(policy::to_string(d.verdict));
  for (const auto& w : d.warnings) out.response.warnings.push_back(clip(w));
  if (d.verdict == policy::Verdict::kDeny) {
    std::string message;
    for (const auto& r : d.reasons) message += (message.empty() ? "" : "; ") + r;
    deny(out, 403, "Forbidden", std::move(message));
    out.code = d.code;
  }
  fill_audit(out, tenant, d, policy);
  if (d.verdict != policy::Verdict::kAllow || env.record_allows) {
    out.record = decision_record(req, demand, tenant, d, out.decision, policy);
  }
}

}  // namespace

bool is_policy_admin(const policy::Policy& policy, const std::string& user,
                     const std::vector<std::string>& groups) {
  const auto& a = policy.admins;
  if (!user.empty() && std::find(a.users.begin(), a.users.end(), user) != a.users.end()) {
    return true;
  }
  for (const auto& g : groups) {
    if (std::find(a.groups.begin(), a.groups.end(), g) != a.groups.end()) return true;
  }
  return false;
}

AdmissionOutcome handle_admission(const AdmissionRequest& request, Endpoint endpoint,
                                  const policy::Policy& policy, UsageLedger& ledger,
                                  const AdmissionEnv& env) {
  AdmissionOutcome out;
  out.response.uid = request.uid;
  if (endpoint == Endpoint::kMutate) {
    handle_mutate(request, policy, env, out);
  } else {
    handle_validate(request, policy, ledger, env, out);
  }
  return out;
}

}  // namespace exportgate::webhook
