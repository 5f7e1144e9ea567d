// Ledger data and math (see ledger_model.hpp).
#include "webhook/ledger_model.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "policy/json_member.hpp"
#include "webhook/resource_version.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {

using nlohmann::json;
using policy::json_string;

namespace {

double number(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number() || it->get<double>() < 0) {
    throw LedgerFormatError(where + "." + key + ": expected a non-negative number");
  }
  return it->get<double>();
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

namespace {

// What the Pods of each held workload link draw: their TPP in use and their pending Pod
// reservations.
std::map<std::string, double> drawn_by_link(const std::vector<LedgerReservation>& rs) {
  std::map<std::string, double> drawn;
  for (const auto& r : rs) {
    if (r.workload && !r.link.empty()) drawn[r.link] = 0;
  }
  for (const auto& r : rs) {
    if (r.link.empty()) continue;
    auto it = drawn.find(r.link);
    if (it == drawn.end()) continue;
    it->second += r.workload ? r.pods_in_use : r.tpp;
  }
  return drawn;
}

}  // namespace

std::map<std::string, double> LedgerState::reserved_by_tenant() const {
  const auto drawn = drawn_by_link(reservations);
  std::map<std::string, double> out;
  for (const auto& r : reservations) {
    auto it = r.link.empty() ? drawn.end() : drawn.find(r.link);
    if (r.workload) {
      out[r.tenant] += std::max(r.tpp, it == drawn.end() ? 0.0 : it->second);
    } else if (it == drawn.end()) {
      out[r.tenant] += r.tpp;
    } else {
      out[r.tenant] += 0;  // inside its workload's charge
    }
  }
  return out;
}

double LedgerState::headroom(const std::string& link) const {
  if (link.empty()) return 0;
  double held = 0;
  bool any = false;
  for (const auto& r : reservations) {
    if (r.workload && r.link == link) {
      held += r.tpp;
      any = true;
    }
  }
  if (!any) return 0;
  return std::max(0.0, held - drawn_by_link(reservations)[link]);
}

void LedgerState::refresh_reserved() {
  for (auto& [_, u] : tenants) u.reserved = 0;
  for (const auto& [t, v] : reserved_by_tenant()) tenants[t].reserved = v;
}

double LedgerState::reserved() const {
  double s = 0;
  for (const auto& [_, v] : reserved_by_tenant()) s += v;
  return s;
}

double LedgerState::leased() const {
  double s = 0;
  for (const auto& l : leases) s += l.tpp;
  return s;
}

double LedgerState::leased(const std::string& tenant) const {
  double s = 0;
  for (const auto& l : leases) s += l.tenant == tenant ? l.tpp : 0;
  return s;
}

const LedgerLease* LedgerState::lease(const std::string& holder, const std::string& tenant) const {
  for (const auto& l : leases) {
    if (l.holder == holder && l.tenant == tenant) return &l;
  }
  return nullptr;
}

LedgerLease* LedgerState::lease(const std::string& holder, const std::string& tenant) {
  return const_cast<LedgerLease*>(std::as_const(*this).lease(holder, tenant));
}

std::string lease_key(const LedgerLease& l) {
  return l.holder + "|" + l.tenant + "|" + std::to_string(l.generation);
}

double LedgerState::tenant_total(const std::string& tenant) const {
  double s = leased(tenant);
  if (auto it = tenants.find(tenant); it != tenants.end()) s += it->second.in_use;
  const auto reserved = reserved_by_tenant();
  if (auto it = reserved.find(tenant); it != reserved.end()) s += it->second;
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
  s.jurisdiction = json_string(spec, "jurisdiction");
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
      lr.uid = json_string(r, "uid");
      lr.tenant = json_string(r, "tenant");
      if (lr.uid.empty() || lr.tenant.empty()) {
        throw LedgerFormatError(where + ": uid and tenant are required");
      }
      lr.tpp = number(r, "tpp", where);
      lr.namespace_ = json_string(r, "namespace");
      lr.pod = json_string(r, "pod");
      auto created = parse_time(json_string(r, "created"));
      if (!created) throw LedgerFormatError(where + ".created: expected an RFC 3339 time");
      lr.created = *created;
      lr.link = json_string(r, "link");
      if (auto w = r.find("workload"); w != r.end() && !w->is_null()) {
        if (!w->is_boolean()) throw LedgerFormatError(where + ".workload: expected a boolean");
        lr.workload = w->get<bool>();
      }
      lr.pods_in_use = number(r, "podsInUseTPP", where);
      lr.claim_uid = json_string(r, "claimUid");
      s.reservations.push_back(std::move(lr));
    }
  }
  if (auto ls = spec.find("leases"); ls != spec.end() && !ls->is_null()) {
    if (!ls->is_array()) throw LedgerFormatError("spec.leases: expected a list");
    for (size_t i = 0; i < ls->size(); ++i) {
      const json& l = (*ls)[i];
      const std::string where = "spec.leases[" + std::to_string(i) + "]";
      if (!l.is_object()) throw LedgerFormatError(where + ": expected an object");
      LedgerLease ll;
      ll.holder = json_string(l, "holder");
      ll.tenant = json_string(l, "tenant");
      if (ll.holder.empty() || ll.tenant.empty()) {
        throw LedgerFormatError(where + ": holder and tenant are required");
      }
      ll.tpp = number(l, "tpp", where);
      // An integer, not number(): a double past 2^64 cast to an integer is undefined behaviour.
      if (auto g = l.find("generation"); g != l.end() && !g->is_null()) {
        if (!g->is_number_integer() || (!g->is_number_unsigned() && g->get<std::int64_t>() < 0)) {
          throw LedgerFormatError(where + ".generation: expected a non-negative integer");
        }
        ll.generation = g->get<std::uint64_t>();
      }
      if (auto renewed = parse_time(json_string(l, "renewed"))) ll.renewed = *renewed;
      s.leases.push_back(std::move(ll));
    }
  }
  s.reclaim = json_string(spec, "reclaim");
  if (auto ct = json_string(spec, "countedThrough"); !ct.empty()) {
    const auto through = parse_resource_version(ct);
    if (!through) throw LedgerFormatError("spec.countedThrough: expected a resourceVersion number");
    s.counted_through = *through;
  }
  if (auto lr = json_string(spec, "lastReconcileTime"); !lr.empty())
    s.last_reconcile = parse_time(lr);
  s.refresh_reserved();
  return s;
}

json ledger_to_spec(const LedgerState& s) {
  json tenants = json::object();
  auto reserved = s.reserved_by_tenant();
  for (const auto& [name, u] : s.tenants) {
    tenants[name] = {{"inUseTPP", tidy(u.in_use)}, {"reservedTPP", tidy(reserved[name])}};
  }
  for (const auto& l : s.leases) {
    json& t = tenants[l.tenant];
    if (!t.contains("inUseTPP")) t = {{"inUseTPP", 0}, {"reservedTPP", tidy(reserved[l.tenant])}};
    t["leasedTPP"] = tidy(s.leased(l.tenant));
  }
  json reservations = json::array();
  for (const auto& r : s.reservations) {
    json j = {{"uid", r.uid},
              {"tenant", r.tenant},
              {"tpp", tidy(r.tpp)},
              {"namespace", r.namespace_},
              {"created", format_time(r.created)}};
    if (!r.pod.empty()) j["pod"] = r.pod;
    if (!r.link.empty()) j["link"] = r.link;
    if (!r.claim_uid.empty()) j["claimUid"] = r.claim_uid;
    if (r.workload) {
      j["workload"] = true;
      j["podsInUseTPP"] = tidy(r.pods_in_use);
    }
    reservations.push_back(std::move(j));
  }
  json spec = {{"jurisdiction", s.jurisdiction},
               {"inUseTPP", tidy(s.in_use())},
               {"reservedTPP", tidy(s.reserved())},
               {"tenants", std::move(tenants)},
               {"reservations", std::move(reservations)}};
  if (!s.leases.empty()) {
    json leases = json::array();
    for (const auto& l : s.leases) {
      leases.push_back({{"holder", l.holder},
                        {"tenant", l.tenant},
                        {"tpp", tidy(l.tpp)},
                        {"generation", l.generation},
                        {"renewed", format_time(l.renewed)}});
    }
    spec["leasedTPP"] = tidy(s.leased());
    spec["leases"] = std::move(leases);
  }
  if (!s.reclaim.empty()) spec["reclaim"] = s.reclaim;
  if (s.counted_through) spec["countedThrough"] = std::to_string(s.counted_through);
  if (s.last_reconcile) spec["lastReconcileTime"] = format_time(*s.last_reconcile);
  return spec;
}

bool try_reserve(LedgerState& state, const LedgerReservation& r, std::optional<double> tenant_cap,
                 std::optional<double> jurisdiction_cap) {
  if (state.holds(r.uid)) return true;
  const double tenant_before = state.tenant_total(r.tenant);
  const double total_before = state.total();
  state.reservations.push_back(r);
  const double tenant_after = state.tenant_total(r.tenant);
  const double total_after = state.total();
  // A Pod inside its workload's reservation adds nothing, and is accepted even at the cap.
  const bool adds = tenant_after > tenant_before || total_after > total_before || r.link.empty();
  if (adds && !within_caps(tenant_after, tenant_cap, total_after, jurisdiction_cap)) {
    state.reservations.pop_back();
    return false;
  }
  state.refresh_reserved();
  return true;
}

bool drop_reservation(LedgerState& state, const std::string& uid) {
  auto it = std::find_if(state.reservations.begin(), state.reservations.end(),
                         [&](const LedgerReservation& r) { return r.uid == uid; });
  if (it == state.reservations.end()) return false;
  if (it->workload && it->pods_in_use > 0) state.tenants[it->tenant].in_use += it->pods_in_use;
  state.reservations.erase(it);
  state.refresh_reserved();
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
    auto [first, last] = input.claims.equal_range(r.claimed_by());
    return std::any_of(first, last, [&](const auto& c) { return claim_matches(r, c.second); });
  };
  for (auto& r : state.reservations) {
    if (r.workload) {
      // Ended by the Kueue check controller (workload finished, evicted, deleted), not the TTL.
      kept.push_back(std::move(r));
    } else if (claimed(r)) {
      ++res.claimed;
    } else if (input.now - r.created > input.reservation_ttl) {
      ++res.expired;
    } else {
      kept.push_back(std::move(r));
    }
  }
  state.reservations = std::move(kept);
  res.leases_expired = static_cast<int>(std::erase_if(state.leases, [&](const LedgerLease& l) {
    return input.expired_leases.contains(lease_key(l));
  }));
  std::map<std::string, TenantUsage> tenants;
  for (const auto& [name, tpp] : input.in_use) {
    if (tpp > 0) tenants[name].in_use = tpp;
  }
  // Pods of a held workload link are its charge; any other Pods are plain usage.
  int workload_corrections = 0;
  std::set<std::string> held_links;
  for (auto& r : state.reservations) {
    if (!r.workload) continue;
    held_links.insert(r.link);
    auto it = input.linked.find(r.link);
    const double pods = it == input.linked.end() ? 0 : it->second.tpp;
    if (std::abs(pods - r.pods_in_use) > 1e-6) ++workload_corrections;
    r.pods_in_use = pods;
  }
  for (const auto& [link, u] : input.linked) {
    if (!held_links.contains(link) && u.tpp > 0) tenants[u.tenant].in_use += u.tpp;
  }
  for (const auto& [t, v] : state.reserved_by_tenant()) tenants[t].reserved = v;
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
                res.leases_expired > 0 || workload_corrections > 0 ||
                tenants.size() != state.tenants.size();
  state.tenants = std::move(tenants);
  return res;
}

}  // namespace exportgate::webhook
