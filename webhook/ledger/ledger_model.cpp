// Ledger data and math (see ledger_model.hpp).
#include "webhook/ledger_model.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace exportgate::webhook {

using nlohmann::json;

namespace {

// Caps are compared with a little slack so float rounding never denies an exact fit.
bool within(double value, std::optional<double> cap) {
  return !cap || value <= *cap * (1 + 1e-12);
}

double number(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number() || it->get<double>() < 0) {
    throw LedgerFormatError(where + "." + key + ": expected a non-negative number");
  }
  return it->get<double>();
}

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// TPP values are whole numbers in practice; rounding keeps the object free of float noise.
double tidy(double v) {
  return std::round(v * 1000) / 1000;
}

}  // namespace

double LedgerState::in_use() const {
  double s = 0;
  for (const auto& [_, u] : tenants) s += u.in_use;
  return s;
}

double LedgerState::reserved() const {
  double s = 0;
  for (const auto& r : reservations) s += r.tpp;
  return s;
}

double LedgerState::tenant_total(const std::string& tenant) const {
  double s = 0;
  if (auto it = tenants.find(tenant); it != tenants.end()) s += it->second.in_use;
  for (const auto& r : reservations) {
    if (r.tenant == tenant) s += r.tpp;
  }
  return s;
}

bool LedgerState::holds(const std::string& uid) const {
  return std::any_of(reservations.begin(), reservations.end(),
                     [&](const LedgerReservation& r) { return r.uid == uid; });
}

std::string ledger_object_name(const std::string& jurisdiction) {
  std::string code = jurisdiction.empty() ? "unknown" : jurisdiction;
  std::transform(code.begin(), code.end(), code.begin(), ::tolower);
  return "jurisdiction-" + code;
}

LedgerState ledger_from_spec(const json& spec) {
  if (!spec.is_object()) throw LedgerFormatError("spec: expected an object");
  LedgerState s;
  s.jurisdiction = text(spec, "jurisdiction");
  if (auto t = spec.find("tenants"); t != spec.end() && !t->is_null()) {
    if (!t->is_object()) throw LedgerFormatError("spec.tenants: expected an object");
    for (const auto& [name, u] : t->items()) {
      if (!u.is_object()) throw LedgerFormatError("spec.tenants." + name + ": expected an object");
      s.tenants[name].in_use = number(u, "inUseTPP", "spec.tenants." + name);
    }
  }
  if (auto rs = spec.find("reservations"); rs != spec.end() && !rs->is_null()) {
    if (!rs->is_array()) throw LedgerFormatError("spec.reservations: expected a list");
    for (size_t i = 0; i < rs->size(); ++i) {
      const json& r = (*rs)[i];
      const std::string where = "spec.reservations[" + std::to_string(i) + "]";
      if (!r.is_object()) throw LedgerFormatError(where + ": expected an object");
      LedgerReservation lr;
      lr.uid = text(r, "uid");
      lr.tenant = text(r, "tenant");
      if (lr.uid.empty() || lr.tenant.empty()) {
        throw LedgerFormatError(where + ": uid and tenant are required");
      }
      lr.tpp = number(r, "tpp", where);
      lr.namespace_ = text(r, "namespace");
      lr.pod = text(r, "pod");
      auto created = parse_time(text(r, "created"));
      if (!created) throw LedgerFormatError(where + ".created: expected an RFC 3339 time");
      lr.created = *created;
      s.reservations.push_back(std::move(lr));
    }
  }
  if (auto lr = text(spec, "lastReconcileTime"); !lr.empty()) s.last_reconcile = parse_time(lr);
  for (const auto& r : s.reservations) s.tenants[r.tenant].reserved += r.tpp;
  return s;
}

json ledger_to_spec(const LedgerState& s) {
  json tenants = json::object();
  std::map<std::string, double> reserved;
  for (const auto& r : s.reservations) reserved[r.tenant] += r.tpp;
  for (const auto& [name, u] : s.tenants) {
    tenants[name] = {{"inUseTPP", tidy(u.in_use)}, {"reservedTPP", tidy(reserved[name])}};
  }
  json reservations = json::array();
  for (const auto& r : s.reservations) {
    json j = {{"uid", r.uid},
              {"tenant", r.tenant},
              {"tpp", tidy(r.tpp)},
              {"namespace", r.namespace_},
              {"created", format_time(r.created)}};
    if (!r.pod.empty()) j["pod"] = r.pod;
    reservations.push_back(std::move(j));
  }
  json spec = {{"jurisdiction", s.jurisdiction},
               {"inUseTPP", tidy(s.in_use())},
               {"reservedTPP", tidy(s.reserved())},
               {"tenants", std::move(tenants)},
               {"reservations", std::move(reservations)}};
  if (s.last_reconcile) spec["lastReconcileTime"] = format_time(*s.last_reconcile);
  return spec;
}

bool try_reserve(LedgerState& state, const LedgerReservation& r, std::optional<double> tenant_cap,
                 std::optional<double> jurisdiction_cap) {
  if (state.holds(r.uid)) return true;
  if (!within(state.tenant_total(r.tenant) + r.tpp, tenant_cap)) return false;
  if (!within(state.total() + r.tpp, jurisdiction_cap)) return false;
  state.reservations.push_back(r);
  state.tenants[r.tenant].reserved += r.tpp;
  return true;
}

bool drop_reservation(LedgerState& state, const std::string& uid) {
  auto it = std::find_if(state.reservations.begin(), state.reservations.end(),
                         [&](const LedgerReservation& r) { return r.uid == uid; });
  if (it == state.reservations.end()) return false;
  auto& tenant = state.tenants[it->tenant];
  tenant.reserved = std::max(0.0, tenant.reserved - it->tpp);
  state.reservations.erase(it);
  return true;
}

bool claim_matches(const LedgerReservation& r, const PodClaim& pod) {
  if (pod.namespace_ != r.namespace_) return false;
  // A named reservation is the stored pod of that name, finished or not; an unnamed one
  // (generateName) only a pod that is counted now.
  if (r.pod.empty() ? !pod.in_use : pod.name != r.pod) return false;
  // The ledger keeps TPP rounded to 0.001 (tidy); allow that much.
  return pod.tpp + 0.001 >= r.tpp;
}

ReconcileResult reconcile_ledger(LedgerState& state, const ReconcileInput& input) {
  ReconcileResult res;
  std::vector<LedgerReservation> kept;
  auto claimed = [&](const LedgerReservation& r) {
    auto [first, last] = input.claims.equal_range(r.uid);
    return std::any_of(first, last, [&](const auto& c) { return claim_matches(r, c.second); });
  };
  for (auto& r : state.reservations) {
    if (claimed(r)) {
      ++res.claimed;
    } else if (input.now - r.created > input.reservation_ttl) {
      ++res.expired;
    } else {
      kept.push_back(std::move(r));
    }
  }
  state.reservations = std::move(kept);
  std::map<std::string, TenantUsage> tenants;
  for (const auto& [name, tpp] : input.in_use) {
    if (tpp > 0) tenants[name].in_use = tpp;
  }
  for (const auto& r : state.reservations) tenants[r.tenant].reserved += r.tpp;
  // Corrections: in-use figures that differ from what the Pods say.
  std::set<std::string> names;
  for (const auto& [n, _] : state.tenants) names.insert(n);
  for (const auto& [n, _] : tenants) names.insert(n);
  for (const auto& n : names) {
    auto a = state.tenants.find(n);
    auto b = tenants.find(n);
    const double before = a == state.tenants.end() ? 0 : a->second.in_use;
    const double after = b == tenants.end() ? 0 : b->second.in_use;
    if (std::abs(before - after) > 1e-6) ++res.usage_corrections;
  }
  res.changed = res.usage_corrections > 0 || res.claimed > 0 || res.expired > 0 ||
                tenants.size() != state.tenants.size();
  state.tenants = std::move(tenants);
  return res;
}

}  // namespace exportgate::webhook
