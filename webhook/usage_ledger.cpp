// The in-memory usage ledger (see usage_ledger.hpp).
#include "webhook/usage_ledger.hpp"

#include <algorithm>

namespace exportgate::webhook {

namespace {
double get(const std::unordered_map<std::string, double>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0.0 : it->second;
}
// Caps are compared with a little slack so float rounding never denies an exact fit.
bool within(double value, std::optional<double> cap) {
  return !cap || value <= *cap * (1 + 1e-12);
}
}  // namespace

policy::UsageSnapshot InMemoryLedger::snapshot(const std::string& tenant,
                                               const std::string& jurisdiction) const {
  std::lock_guard lock(mu_);
  return {get(tenants_, tenant), jurisdiction.empty() ? 0.0 : get(jurisdictions_, jurisdiction)};
}

void InMemoryLedger::subtract_locked(const Reservation& r) {
  tenants_[r.tenant] = std::max(0.0, get(tenants_, r.tenant) - r.tpp);
  if (!r.jurisdiction.empty()) {
    jurisdictions_[r.jurisdiction] = std::max(0.0, get(jurisdictions_, r.jurisdiction) - r.tpp);
  }
}

bool InMemoryLedger::reserve(const Reservation& r, std::optional<double> tenant_cap,
                             std::optional<double> jurisdiction_cap) {
  std::lock_guard lock(mu_);
  const Reservation* replaced = nullptr;
  if (!r.key.empty()) {
    auto it = by_key_.find(r.key);
    if (it != by_key_.end()) replaced = &it->second;
  }
  auto credit = [&](const std::string& name, bool jurisdiction) {
    if (!replaced) return 0.0;
    return (jurisdiction ? replaced->jurisdiction : replaced->tenant) == name ? replaced->tpp : 0.0;
  };
  double tenant_after = get(tenants_, r.tenant) - credit(r.tenant, false) + r.tpp;
  double jur_after = r.jurisdiction.empty() ? 0.0
                                            : get(jurisdictions_, r.jurisdiction) -
                                                  credit(r.jurisdiction, true) + r.tpp;
  if (!within(tenant_after, tenant_cap)) return false;
  if (!r.jurisdiction.empty() && !within(jur_after, jurisdiction_cap)) return false;
  if (replaced) {
    subtract_locked(*replaced);
    by_key_.erase(r.key);
  }
  tenants_[r.tenant] += r.tpp;
  if (!r.jurisdiction.empty()) jurisdictions_[r.jurisdiction] += r.tpp;
  if (!r.key.empty()) by_key_[r.key] = r;
  return true;
}

std::optional<Reservation> InMemoryLedger::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  Reservation r = std::move(it->second);
  by_key_.erase(it);
  subtract_locked(r);
  return r;
}

UsageTotals InMemoryLedger::totals() const {
  std::lock_guard lock(mu_);
  UsageTotals t;
  t.tenants.insert(tenants_.begin(), tenants_.end());
  t.jurisdictions.insert(jurisdictions_.begin(), jurisdictions_.end());
  return t;
}

}  // namespace exportgate::webhook
