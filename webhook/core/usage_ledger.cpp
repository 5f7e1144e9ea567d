// The in-memory usage ledger (see usage_ledger.hpp).
#include "webhook/usage_ledger.hpp"

#include <algorithm>

namespace exportgate::webhook {

namespace {
double get(const std::unordered_map<std::string, double>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0.0 : it->second;
}
bool within(double value, std::optional<double> cap) {
  return !cap || value <= *cap * (1 + 1e-12);
}
}  // namespace

bool within_caps(double tenant_usage, std::optional<double> tenant_cap, double jurisdiction_usage,
                 std::optional<double> jurisdiction_cap) {
  return within(tenant_usage, tenant_cap) && within(jurisdiction_usage, jurisdiction_cap);
}

policy::UsageSnapshot InMemoryLedger::snapshot(const std::string& tenant,
                                               const std::string& jurisdiction) const {
  std::lock_guard lock(mu_);
  return {get(tenants_, tenant), jurisdiction.empty() ? 0.0 : get(jurisdictions_, jurisdiction)};
}

InMemoryLedger::NameId InMemoryLedger::intern_locked(const std::string& name) {
  auto [it, added] = name_ids_.try_emplace(name, static_cast<NameId>(names_.size()));
  if (added) names_.push_back(name);
  return it->second;
}

void InMemoryLedger::subtract_locked(const Entry& e) {
  const std::string& tenant = names_[e.tenant];
  tenants_[tenant] = std::max(0.0, get(tenants_, tenant) - e.tpp);
  if (e.jurisdiction != kNoName) {
    const std::string& jurisdiction = names_[e.jurisdiction];
    jurisdictions_[jurisdiction] = std::max(0.0, get(jurisdictions_, jurisdiction) - e.tpp);
  }
}

bool InMemoryLedger::reserve(const Reservation& r, std::optional<double> tenant_cap,
                             std::optional<double> jurisdiction_cap) {
  std::lock_guard lock(mu_);
  // A create for a name that already holds a reservation may be a lie (the apiserver rejects a
  // duplicate name only after admission), so it never lowers or moves the charge: under the same
  // names the larger of the two stays; under other names the new charge is added and not kept
  // under the key (the old one stays until its DELETE).
  Entry* held = nullptr;
  if (!r.key.empty()) {
    auto it = by_key_.find(r.key);
    if (it != by_key_.end()) held = &it->second;
  }
  bool same_names = false;
  if (held) {
    const bool same_jurisdiction =
        r.jurisdiction.empty()
            ? held->jurisdiction == kNoName
            : held->jurisdiction != kNoName && names_[held->jurisdiction] == r.jurisdiction;
    same_names = names_[held->tenant] == r.tenant && same_jurisdiction;
  }
  const double added = same_names ? std::max(0.0, r.tpp - held->tpp) : r.tpp;
  // Without a jurisdiction only the tenant is charged, so only its cap applies.
  const double jurisdiction_usage =
      r.jurisdiction.empty() ? 0.0 : get(jurisdictions_, r.jurisdiction) + added;
  if (!within_caps(get(tenants_, r.tenant) + added, tenant_cap, jurisdiction_usage,
                   r.jurisdiction.empty() ? std::nullopt : jurisdiction_cap)) {
    return false;
  }
  tenants_[r.tenant] += added;
  if (!r.jurisdiction.empty()) jurisdictions_[r.jurisdiction] += added;
  if (r.key.empty()) return true;  // nothing to release later
  if (same_names) {
    held->tpp += added;
  } else if (!held) {
    by_key_.emplace(r.key,
                    Entry{intern_locked(r.tenant),
                          r.jurisdiction.empty() ? kNoName : intern_locked(r.jurisdiction), r.tpp});
  }
  return true;
}

std::optional<Reservation> InMemoryLedger::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  const Entry e = it->second;
  by_key_.erase(it);
  subtract_locked(e);
  return Reservation{key, names_[e.tenant], e.jurisdiction == kNoName ? "" : names_[e.jurisdiction],
                     e.tpp};
}

size_t InMemoryLedger::size() const {
  std::lock_guard lock(mu_);
  return by_key_.size();
}

UsageTotals InMemoryLedger::totals() const {
  std::lock_guard lock(mu_);
  UsageTotals t;
  t.tenants.insert(tenants_.begin(), tenants_.end());
  t.jurisdictions.insert(jurisdictions_.begin(), jurisdictions_.end());
  return t;
}

}  // namespace exportgate::webhook
