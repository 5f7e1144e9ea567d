// The ledger reconciler (see reconciler.hpp).
#include "webhook/reconciler.hpp"

#include "policy/site.hpp"
#include "policy/tenancy.hpp"
#include "webhook/metrics.hpp"

namespace exportgate::webhook {

Reconciler::Reconciler(ReconcilerInputs inputs, ReconcilerOptions options, Metrics& metrics,
                       Logger& log)
    : in_(std::move(inputs)),
      options_(options),
      metrics_(metrics),
      log_(log),
      // Debounced: let a burst of Pod events settle into one pass.
      worker_(
          {options.interval, options.debounce}, [this] { return pass(true); },
          [this](bool ok, const std::string& error) {
            if (!error.empty()) log_.warn("reconcile failed", {{"error", error}});
            metrics_.reconcile_run(ok);
          }) {}

Reconciler::~Reconciler() {
  stop();
}

void Reconciler::start() {
  worker_.start();
}

void Reconciler::stop() {
  worker_.stop();
}

void Reconciler::set_active(bool active) {
  *active_ = active;
  worker_.set_active(active);
}

void Reconciler::trigger() {
  worker_.trigger();
}

std::map<std::string, std::set<std::string>> Reconciler::expired_leases() {
  const auto now = std::chrono::steady_clock::now();
  const auto limit = options_.lease_term + options_.reservation_ttl;
  std::map<std::string, std::set<std::string>> out;
  std::map<std::string, std::chrono::steady_clock::time_point> seen;
  for (const auto& [j, e] : in_.ledger->entries()) {
    for (const auto& l : e->state.leases) {
      const std::string key = lease_key(l);
      auto it = lease_seen_.find(key);
      const auto first = it == lease_seen_.end() ? now : it->second;
      seen[key] = first;
      // Its holder stopped admitting under it `term` after the write that set this generation,
      // which was before this replica first saw it; its Pods had the TTL to be stored.
      if (now - first > limit) out[j].insert(key);
    }
  }
  lease_seen_ = std::move(seen);
  return out;
}

bool Reconciler::pass(bool while_active) {
  if (!in_.synced || !in_.synced()) return true;
  auto policy = in_.policies->current();
  if (!policy) return true;
  // A reload may change what a Pod is charged (catalog, controlled models): count with this
  // policy, never with the one the Pod was first seen under.
  if (in_.recharge) in_.recharge(*policy);
  const auto now = std::chrono::system_clock::now();
  // Read before the cache: every Pod up to this revision is in what the pass counts.
  const uint64_t through = in_.pods_through ? in_.pods_through() : 0;

  // Usage by jurisdiction and tenant from the Pods, and every admission uid a Pod claims.
  std::map<std::string, std::map<std::string, double>> usage;
  // Pods that name a controlling owner, by jurisdiction and link: a held Kueue workload
  // reservation of that link counts them (ledger_model.hpp).
  std::map<std::string, std::map<std::string, LinkedUsage>> linked;
  std::multimap<std::string, PodClaim> claims;
  for (const auto& pod : in_.pods->all()) {
    const bool in_use = pod->in_use(now);
    if (!pod->admission_uid.empty()) {
      claims.emplace(
          pod->admission_uid.str(),
          PodClaim{pod->namespace_.str(), std::string(pod->name()), pod->controlled_tpp, in_use});
    }
    if (!in_use) continue;
    auto labels = in_.namespaces->get(pod->namespace_.str());
    auto tenant = policy::resolve_tenant(*policy, pod->namespace_.str(), labels.get());
    if (tenant.exempt || tenant.jurisdiction.empty()) continue;
    // Where the Pod's node constraints put it (spec.siteNodeLabel), as its admission counted it.
    const std::string alloc =
        policy::allocation_key(*policy, tenant.jurisdiction, pod->site_code());
    if (!pod->owner.empty()) {
      auto& l = linked[alloc][pod->namespace_.str() + "/" + pod->owner.str()];
      l.tenant = tenant.tenant;
      l.tpp += pod->controlled_tpp;
      continue;
    }
    usage[alloc][tenant.tenant] += pod->controlled_tpp;
  }
  // Allocated DRA claims hold their devices (each claim once, however many Pods use it).
  if (in_.dra_claims) {
    // A claim states no node when it is created: counted where "any node" is (its admission's).
    const std::string claim_site = policy::workload_site(*policy, policy::WorkloadDemand{});
    for (const auto& claim : in_.dra_claims(*policy)) {
      // Its reservation was made under the key namespace/resourceclaims/name (admission_handler).
      if (!claim.admission_uid.empty()) {
        claims.emplace(
            claim.admission_uid,
            PodClaim{claim.namespace_, "resourceclaims/" + claim.name, claim.controlled_tpp, true});
      }
      if (!(claim.controlled_tpp > 0)) continue;
      auto labels = in_.namespaces->get(claim.namespace_);
      auto tenant = policy::resolve_tenant(*policy, claim.namespace_, labels.get());
      if (tenant.exempt || tenant.jurisdiction.empty()) continue;
      usage[policy::allocation_key(*policy, tenant.jurisdiction, claim_site)][tenant.tenant] +=
          claim.controlled_tpp;
    }
  }
  auto expired = expired_leases();
  std::set<std::string> jurisdictions;
  for (const auto& [j, _] : usage) jurisdictions.insert(j);
  for (const auto& [j, _] : linked) jurisdictions.insert(j);
  for (const auto& [j, _] : in_.ledger->entries()) jurisdictions.insert(j);

  bool ok = true;
  for (const auto& j : jurisdictions) {
    if (while_active && !*active_) break;
    // Rides in this replica's group commit for the jurisdiction, so it does not race the
    // admissions this replica writes, and is applied again to every fresh read of a retry. Owns
    // its input: a write in flight may apply it after this pass gave up on it.
    auto input = std::make_shared<const ReconcileInput>(
        ReconcileInput{usage[j], claims, now, options_.reservation_ttl, linked[j], expired[j]});
    auto last = std::make_shared<ReconcileResult>();
    try {
      auto active = while_active ? active_ : nullptr;
      const bool wrote =
          in_.ledger->transform(j, [input, last, active, through](LedgerState& state) {
            // Leadership lost while this waited for a write: leave the ledger to the next leader.
            if (active && !*active) return false;
            // A cache behind the one the figures were last counted from (a new leader still
            // catching up, a relist): counting from it could drop Pods whose leased admissions
            // were released against that count. Wait for it.
            if (through < state.counted_through) return false;
            *last = reconcile_ledger(state, *input);
            // Lease holders release admissions whose Pods the count includes: tell them how far.
            const bool advance = through > state.counted_through && !state.leases.empty();
            if (!last->changed && !advance) return false;
            state.counted_through = through;
            state.last_reconcile = input->now;
            return true;
          });
      if (!wrote) continue;
      const ReconcileResult result = *last;
      if (result.usage_corrections)
        metrics_.reconcile_corrections("usage", result.usage_corrections);
      if (result.expired) metrics_.reconcile_corrections("expired", result.expired);
      if (result.leases_expired) {
        metrics_.reconcile_corrections("lease-expired", result.leases_expired);
        log_.info("dropped leases their holders stopped renewing",
                  {{"jurisdiction", j}, {"leases", result.leases_expired}});
      }
      log_.debug("ledger reconciled", {{"jurisdiction", j},
                                       {"usage_corrections", result.usage_corrections},
                                       {"claimed", result.claimed},
                                       {"expired", result.expired}});
    } catch (const LedgerUnavailable& e) {
      ok = false;
      log_.warn("reconcile failed", {{"jurisdiction", j}, {"error", e.what()}});
    }
  }
  return ok;
}

}  // namespace exportgate::webhook
