// The Kueue AdmissionCheck controller (see kueue_check.hpp).
#include "webhook/kueue_check.hpp"

#include <algorithm>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/json_member.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"
#include "policy/tenancy.hpp"
#include "webhook/kueue_workload.hpp"
#include "webhook/owner_link.hpp"

namespace exportgate::webhook {

using nlohmann::json;
using policy::json_member_or_null;
using policy::json_string;

namespace {

// Kueue caps messages at 32 KiB; one line of ours is far below, but a reason list may not be.
constexpr size_t kMaxMessage = 2'048;

bool condition_true(const json& object, const char* type) {
  const json& conds = json_member_or_null(json_member_or_null(object, "status"), "conditions");
  if (!conds.is_array()) return false;
  return std::any_of(conds.begin(), conds.end(), [&](const json& c) {
    return json_string(c, "type") == type && json_string(c, "status") == "True";
  });
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > kMaxMessage) s = s.substr(0, kMaxMessage - 3) + "...";
  return s;
}

std::string join_reasons(const std::vector<std::string>& reasons) {
  std::string out;
  for (const auto& r : reasons) out += (out.empty() ? "" : "; ") + r;
  return out;
}

// Usage as the admission handler judges it: the tenant's total, and of the jurisdiction only what
// draws down its country allocation (licensed tenants; policy::allocation_tenants). Sets
// `jurisdiction_total` to everything the ledger of `alloc` holds (the allocation key: the
// tenant's jurisdiction, or where the workload runs; policy::allocation_key).
policy::UsageSnapshot usage_for(const ClusterLedger& ledger, const policy::Policy& policy,
                                const policy::TenantContext& tenant, const std::string& alloc,
                                double& jurisdiction_total, double& drawn,
                                double& tenant_elsewhere) {
  auto usage = ledger.snapshot(tenant.tenant, alloc);
  jurisdiction_total = usage.jurisdiction_tpp;
  drawn = 0;
  if (!tenant.jurisdiction.empty()) {
    for (const auto& t : policy::allocation_tenants(policy, alloc)) {
      drawn += t == tenant.tenant ? usage.tenant_tpp : ledger.snapshot(t, alloc).tenant_tpp;
    }
  }
  usage.jurisdiction_tpp = drawn;
  // With nodes mapped to countries the tenant's usage may sit under several keys; a tenant cap
  // counts all of it (as the admission handler does).
  tenant_elsewhere = 0;
  if (policy.site_node_label) {
    const auto totals = ledger.totals();
    if (auto it = totals.tenants.find(tenant.tenant); it != totals.tenants.end()) {
      tenant_elsewhere = std::max(0.0, it->second - usage.tenant_tpp);
    }
  }
  usage.tenant_tpp += tenant_elsewhere;
  return usage;
}

// metav1.Time: RFC 3339 in whole seconds.
std::string kube_time() {
  return format_time(std::chrono::system_clock::now()).substr(0, 19) + "Z";
}

std::string reservation_uid(const json& workload) {
  return std::string(kWorkloadReservationPrefix) +
         json_string(json_member_or_null(workload, "metadata"), "uid");
}

}  // namespace

policy::WorkloadDemand kueue_workload_demand(const json& workload, const policy::Policy& policy,
                                             const std::vector<std::string>* models) {
  const json& pod_sets = json_member_or_null(json_member_or_null(workload, "spec"), "podSets");
  if (!pod_sets.is_array() || pod_sets.empty()) {
    throw policy::ManifestError("spec.podSets: expected a non-empty list");
  }
  for (size_t i = 0; i < pod_sets.size(); ++i) {
    if (!json_member_or_null(pod_sets[i], "template").is_object()) {
      throw policy::ManifestError("spec.podSets[" + std::to_string(i) +
                                  "].template: expected an object");
    }
  }
  policy::ExtractOptions options;
  options.available_models = models;
  options.namespace_ = json_string(json_member_or_null(workload, "metadata"), "namespace");
  auto demand = policy::extract_demand(workload, policy, options);
  if (!demand.recognized) throw policy::ManifestError("not a kueue.x-k8s.io Workload");
  return demand;
}

KueueCheckController::KueueCheckController(KueueCheckInputs inputs, KueueCheckOptions options,
                                           Logger& log)
    : in_(std::move(inputs)),
      options_(options),
      log_(log),
      worker_(
          {options.interval, options.debounce},
          [this] {
            run_once();
            return true;
          },
          [this](bool, const std::string& error) {
            if (!error.empty()) log_.warn("kueue admission check pass failed", {{"error", error}});
          }) {}

KueueCheckController::~KueueCheckController() {
  stop();
}

void KueueCheckController::start() {
  worker_.start();
}

void KueueCheckController::stop() {
  worker_.stop();
}

void KueueCheckController::set_active(bool active) {
  worker_.set_active(active);
}

void KueueCheckController::trigger() {
  worker_.trigger();
}

std::set<std::string> KueueCheckController::our_checks(KueuePassStats& stats) {
  std::set<std::string> names;
  auto res = in_.client->get(std::string(kKueueApi) + "/admissionchecks");
  if (res.status == 404) {
    if (!missing_logged_) {
      log_.info("kueue.x-k8s.io/v1beta2 AdmissionChecks not served: is Kueue installed?", {});
      missing_logged_ = true;
    }
    return names;
  }
  if (!res.ok()) throw KubeUnavailable("listing AdmissionChecks: " + res.describe());
  missing_logged_ = false;
  const json list = res.json();  // kept: json_member_or_null() returns references into it
  for (const auto& ac : json_member_or_null(list, "items")) {
    if (json_string(json_member_or_null(ac, "spec"), "controllerName") != kKueueControllerName)
      continue;
    const std::string name = json_string(json_member_or_null(ac, "metadata"), "name");
    names.insert(name);
    if (condition_true(ac, "Active")) continue;
    // Kueue keeps a ClusterQueue inactive until each of its checks' controllers says Active.
    json patch = {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
                  {"kind", "AdmissionCheck"},
                  {"metadata", {{"name", name}}},
                  {"status",
                   {{"conditions",
                     {{{"type", "Active"},
                       {"status", "True"},
                       {"reason", "Active"},
                       {"message", "exportgate checks TPP caps and jurisdictions"},
                       {"observedGeneration",
                        json_member_or_null(json_member_or_null(ac, "metadata"), "generation")},
                       {"lastTransitionTime", kube_time()}}}}}}};
    if (patch["status"]["conditions"][0]["observedGeneration"].is_null()) {
      patch["status"]["conditions"][0].erase("observedGeneration");
    }
    auto r = in_.client->request("APPLY",
                                 std::string(kKueueApi) + "/admissionchecks/" + name +
                                     "/status?fieldManager=" + kKueueFieldManager + "&force=true",
                                 patch.dump());
    ++stats.patches;
    if (!r.ok())
      log_.warn("cannot set AdmissionCheck Active", {{"name", name}, {"error", r.describe()}});
  }
  return names;
}

CheckVerdict KueueCheckController::judge(const json& workload, const policy::Policy& policy,
                                         const std::string& current_state, bool& holds) {
  holds = false;
  const json& meta = json_member_or_null(workload, "metadata");
  const std::string ns = json_string(meta, "namespace");
  std::optional<Labels> labels;
  if (in_.namespace_labels) labels = in_.namespace_labels(ns);
  const auto tenant = policy::resolve_tenant(policy, ns, labels ? &*labels : nullptr);
  if (tenant.exempt) return {"Ready", "exportgate: namespace exempt from the policy"};

  std::shared_ptr<const std::vector<std::string>> models;
  if (in_.models) models = in_.models(policy);
  policy::WorkloadDemand demand;
  try {
    demand = kueue_workload_demand(workload, policy, models.get());
  } catch (const policy::ManifestError& e) {
    // Fail closed: what cannot be read cannot be charged.
    return {"Rejected",
            std::string("exportgate: cannot read the workload's pod sets: ") + e.what()};
  }
  if (!demand.has_accelerators()) return {"Ready", "exportgate: no accelerators requested"};

  const std::string uid = reservation_uid(workload);
  ClusterLedger& ledger = *in_.ledger;
  const std::string alloc =
      policy::allocation_key(policy, tenant.jurisdiction, policy::workload_site(policy, demand));
  for (int attempt = 0; attempt < 4; ++attempt) {
    double jurisdiction_total = 0;
    double drawn = 0;
    double tenant_elsewhere = 0;
    const auto usage =
        usage_for(ledger, policy, tenant, alloc, jurisdiction_total, drawn, tenant_elsewhere);
    const auto d = policy::evaluate(demand, tenant, usage, policy);
    // Ready once (or reserved before its Ready was written): its Pods may run, so it stays
    // charged and Ready; judging it again would count its own reservation twice.
    const auto entries = ledger.entries();
    const auto held = entries.find(alloc);
    const bool ready_before =
        current_state == "Ready" || (held != entries.end() && held->second->state.holds(uid));
    if (d.verdict == policy::Verdict::kDeny && !ready_before) {
      const std::string why = one_line(join_reasons(d.reasons));
      if (waits_in_queue(d.code)) return {"Pending", why};
      return {"Rejected", why};
    }
    const bool capped = d.tenant_cap_tpp || d.jurisdiction_cap_tpp;
    if (!capped || !(d.requested_tpp > 0)) {
      return {"Ready", "exportgate: admitted (" + demand.describe_accelerators() + ")"};
    }
    // Caps are enforced atomically only when this decision relied on them (enforce mode); a
    // check that was Ready already stays Ready: its Pods may run, so it is charged, not undone.
    const bool enforce = !d.would_deny && !ready_before;
    std::optional<double> tenant_cap;
    if (enforce && d.tenant_cap_tpp) tenant_cap = *d.tenant_cap_tpp - tenant_elsewhere;
    std::optional<double> jurisdiction_cap;
    if (enforce && d.jurisdiction_cap_tpp) {
      jurisdiction_cap = *d.jurisdiction_cap_tpp + std::max(0.0, jurisdiction_total - drawn);
    }
    LedgerReservation r;
    r.uid = uid;
    r.tenant = tenant.tenant;
    r.tpp = d.requested_tpp;
    r.namespace_ = ns;
    r.pod = "workloads/" + json_string(meta, "name");
    r.created = std::chrono::system_clock::now();
    r.link = controller_link(workload);
    r.workload = true;
    bool accepted = false;
    ledger.update(alloc, [&](LedgerState& state, bool fresh) {
      const bool held = state.holds(uid);
      accepted = try_reserve(state, r, tenant_cap, jurisdiction_cap);
      // Never leave a workload waiting on a cached view that may predate a release.
      if (!accepted && !fresh) return LedgerEdit{false, true};
      return LedgerEdit{accepted && !held, false};
    });
    if (accepted) {
      holds = true;
      return {"Ready", "exportgate: " + policy::format_thousands(d.requested_tpp) +
                           " TPP reserved for tenant " + tenant.tenant + " (" +
                           demand.describe_accelerators() + ")"};
    }
  }
  return {"Pending", "exportgate: the tenant's usage changed concurrently; judged again shortly"};
}

void KueueCheckController::patch_check(const json& workload, const std::string& check,
                                       const CheckVerdict& v, const json& current,
                                       KueuePassStats& stats) {
  if (json_string(current, "state") == v.state && json_string(current, "message") == v.message)
    return;
  const json& meta = json_member_or_null(workload, "metadata");
  std::string when = json_string(current, "lastTransitionTime");
  if (json_string(current, "state") != v.state || when.empty()) when = kube_time();
  json patch = {{"apiVersion", "kueue.x-k8s.io/v1beta2"},
                {"kind", "Workload"},
                {"metadata",
                 {{"name", json_string(meta, "name")},
                  {"namespace", json_string(meta, "namespace")},
                  {"uid", json_string(meta, "uid")}}},
                {"status",
                 {{"admissionChecks",
                   {{{"name", check},
                     {"state", v.state},
                     {"message", v.message},
                     {"lastTransitionTime", when}}}}}}};
  if (v.state == "Rejected") {
    // Kueue's own condition only names the rejected check (Deactivated: "Admission check(s):
    // ..., were rejected"); this one says why, where `kubectl describe workload` shows it.
    patch["status"]["conditions"] = {{{"type", kRejectedCondition},
                                      {"status", "True"},
                                      {"reason", "ExportControl"},
                                      {"message", v.message},
                                      {"lastTransitionTime", when}}};
  }
  const std::string path =
      std::string(kKueueApi) + "/namespaces/" + json_string(meta, "namespace") + "/workloads/" +
      json_string(meta, "name") + "/status?fieldManager=" + kKueueFieldManager + "&force=true";
  auto res = in_.client->request("APPLY", path, patch.dump());
  ++stats.patches;
  if (!res.ok()) {
    log_.warn("cannot write the Workload's admission check",
              {{"workload", object_key(workload)}, {"error", res.describe()}});
    return;
  }
  log_.info("kueue admission check",
            {{"workload", object_key(workload)}, {"state", v.state}, {"message", v.message}});
}

KueuePassStats KueueCheckController::run_once() {
  KueuePassStats stats;
  auto base = in_.policies->current();
  if (!base) return stats;
  if (!with_kind_ || kinds_hash_ != base->hash) {
    auto p = std::make_shared<policy::Policy>(*base);
    policy::PodTemplatePath tp;
    tp.template_path = "spec.podSets[*].template";
    tp.replica_paths = {"spec.podSets[*].count"};
    std::erase_if(p->workload_kinds, [](const policy::WorkloadKind& k) {
      return k.group == "kueue.x-k8s.io" && k.kind == "Workload";
    });
    p->workload_kinds.push_back({"kueue.x-k8s.io", "Workload", {tp}});
    with_kind_ = std::move(p);
    kinds_hash_ = base->hash;
  }
  const policy::Policy& policy = *with_kind_;

  const auto checks = our_checks(stats);
  if (checks.empty()) return stats;
  auto res = in_.client->get(std::string(kKueueApi) + "/workloads");
  if (!res.ok()) throw KubeUnavailable("listing Workloads: " + res.describe());

  // The Workloads gated on our checks that may hold TPP: quota reserved by Kueue (it asks checks
  // only then), not finished, not rejected. Every other workload reservation ends first, so the
  // TPP it frees serves the workloads judged below in this same pass.
  struct Gated {
    const json* workload;
    const json* check;
  };
  const json list = res.json();
  std::vector<Gated> gated;
  std::set<std::string> live;
  for (const auto& wl : json_member_or_null(list, "items")) {
    const json* ours = nullptr;
    for (const auto& acs :
         json_member_or_null(json_member_or_null(wl, "status"), "admissionChecks")) {
      if (checks.contains(json_string(acs, "name"))) ours = &acs;
    }
    if (!ours) continue;
    ++stats.workloads;
    if (condition_true(wl, "Finished") || !condition_true(wl, "QuotaReserved")) continue;
    if (json_string(*ours, "state") == "Rejected") continue;
    gated.push_back({&wl, ours});
    live.insert(reservation_uid(wl));
  }
  for (const auto& [j, entry] : in_.ledger->entries()) {
    std::vector<std::string> ended;
    for (const auto& r : entry->state.reservations) {
      if (r.workload && !live.contains(r.uid)) ended.push_back(r.uid);
    }
    if (ended.empty()) continue;
    try {
      in_.ledger->update(j, [&](LedgerState& state, bool) {
        bool dropped = false;
        for (const auto& uid : ended) dropped |= drop_reservation(state, uid);
        return LedgerEdit{dropped, false};
      });
      stats.released += static_cast<int>(ended.size());
      log_.info("kueue workload reservations ended",
                {{"jurisdiction", j}, {"count", ended.size()}});
    } catch (const LedgerUnavailable& e) {
      log_.warn("cannot end workload reservations", {{"jurisdiction", j}, {"error", e.what()}});
    }
  }

  for (const auto& g : gated) {
    const std::string state = json_string(*g.check, "state");
    bool holds = false;
    CheckVerdict v;
    try {
      v = judge(*g.workload, policy, state, holds);
    } catch (const LedgerUnavailable& e) {
      if (state == "Ready") continue;  // no verdict: it keeps what it holds
      v = {"Pending", one_line(std::string("exportgate: the TPP ledger is unavailable (") +
                               e.what() + "); judged again shortly")};
    }
    if (v.state == "Ready") ++stats.ready;
    if (v.state == "Pending") ++stats.pending;
    if (v.state == "Rejected") ++stats.rejected;
    patch_check(*g.workload, json_string(*g.check, "name"), v, *g.check, stats);
  }
  return stats;
}

}  // namespace exportgate::webhook
