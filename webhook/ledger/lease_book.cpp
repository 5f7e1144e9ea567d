// This replica's leased headroom (see lease_book.hpp).
#include "webhook/lease_book.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {

namespace {

constexpr double kEps = 1e-9;

// A lease granted under `grant` serves a request checked against `request` when the request's cap
// is no tighter: what the lease's grant kept within `grant` is then within `request` too.
bool no_looser(const std::optional<double>& grant, const std::optional<double>& request) {
  if (!request) return true;
  return grant && *grant <= *request + 1e-6;
}

// Leases are written rounded to 0.001 TPP (ledger_to_spec); rounding down keeps the object's
// figure at or above what the holder may use.
double floor_milli(double v) {
  return v > 0 ? std::floor(v * 1000) / 1000 : 0;
}

}  // namespace

double LeaseBook::Slot::room() const {
  double bound = granted;
  if (planned) bound = std::min(bound, plan_target + plan_flushed);
  return bound - consumed;
}

bool LeaseBook::try_consume(const std::string& j, const LedgerReservation& r,
                            std::optional<double> tenant_cap,
                            std::optional<double> jurisdiction_cap, Steady::time_point now) {
  std::lock_guard lock(mu_);
  Slot& s = by_jurisdiction_[j].tenants[r.tenant];
  s.want_tenant_cap = tenant_cap;
  s.want_jurisdiction_cap = jurisdiction_cap;
  s.caps_known = true;
  s.largest = std::max(s.largest, r.tpp);
  if (s.demand_since == Steady::time_point{}) s.demand_since = now;
  s.demand += r.tpp;
  s.last_use = now;
  for (const auto& logged : s.log) {
    if (logged.uid == r.uid) return true;
  }
  if (!(now < s.valid_until)) return false;
  if (!no_looser(s.grant_tenant_cap, tenant_cap) ||
      !no_looser(s.grant_jurisdiction_cap, jurisdiction_cap)) {
    return false;
  }
  if (s.room() + kEps < r.tpp) return false;
  s.log.push_back(r);
  s.consumed += r.tpp;
  seen_.emplace(r.claimed_by(), Seen{r, 0});
  return true;
}

void LeaseBook::pod_seen(const std::string& claim_uid, const PodClaim& pod,
                         std::uint64_t revision) {
  std::lock_guard lock(mu_);
  auto it = seen_.find(claim_uid);
  if (it == seen_.end() || it->second.revision != 0 || revision == 0) return;
  if (pod.in_use && claim_matches(it->second.admission, pod)) it->second.revision = revision;
}

std::uint64_t LeaseBook::begin(const std::string& j) {
  std::lock_guard lock(mu_);
  return ++by_jurisdiction_[j].token;
}

double LeaseBook::size_for(const Slot& s, const std::string& tenant, const LedgerState& state,
                           double base, Steady::time_point now, const Jurisdiction& jd) const {
  if (!s.caps_known || now < jd.cooldown_until || now - s.last_use > settings_.idle) return 0;
  if (!s.want_tenant_cap && !s.want_jurisdiction_cap) return 0;  // uncapped: needs no ledger
  // Requests now checked against tighter caps than the lease was granted under (a reload):
  // give it back; the next one is granted under the caps of now.
  if (s.granted > 0 && (!no_looser(s.grant_tenant_cap, s.want_tenant_cap) ||
                        !no_looser(s.grant_jurisdiction_cap, s.want_jurisdiction_cap))) {
    return 0;
  }
  // The room the caps leave besides this lease.
  double room = std::numeric_limits<double>::infinity();
  if (s.want_tenant_cap)
    room = std::min(room, *s.want_tenant_cap - (state.tenant_total(tenant) - base));
  if (s.want_jurisdiction_cap)
    room = std::min(room, *s.want_jurisdiction_cap - (state.total() - base));
  // Near the caps, per-request reservations: no room left stranded in a lease.
  if (!(room >= settings_.min_requests * s.largest) || !(room > 0)) return 0;
  std::set<std::string> holders{settings_.holder};
  for (const auto& l : state.leases) holders.insert(l.holder);
  const double shares = 2.0 * std::max<double>(settings_.min_holders, holders.size());
  const double seconds = std::max(0.1, std::chrono::duration<double>(now - s.demand_since).count());
  const double rate = s.demand / seconds;  // TPP per second asked of this replica
  const double want =
      rate * std::chrono::duration<double>(settings_.window).count() + 2 * s.largest;
  return std::min(room / shares, want);
}

bool LeaseBook::plan(const std::string& j, std::uint64_t token, LedgerState& state, SystemTime wall,
                     Steady::time_point now) {
  std::lock_guard lock(mu_);
  auto jit = by_jurisdiction_.find(j);
  if (jit == by_jurisdiction_.end() || jit->second.token != token) return false;
  Jurisdiction& jd = jit->second;
  if (!jd.reclaim_known) {
    jd.reclaim_seen = state.reclaim;
    jd.reclaim_known = true;
  } else if (state.reclaim != jd.reclaim_seen) {
    // Another replica is about to deny on a cap while leases hold room: give it back.
    jd.reclaim_seen = state.reclaim;
    jd.cooldown_until = now + settings_.cooldown;
  }
  std::unordered_set<std::string> held;
  for (const auto& r : state.reservations) held.insert(r.uid);
  struct Next {
    Slot* slot;
    std::string tenant;
    double base;
    double target;
    bool grown;
  };
  // First decide, without touching the state: each write sends the whole object, so this
  // replica writes only when something needs it, not at every flush interval.
  std::vector<Next> next;
  bool due = false;
  for (auto& [tenant, s] : jd.tenants) {
    s.planned = false;
    const LedgerLease* mine = state.lease(settings_.holder, tenant);
    const double in_object = mine ? mine->tpp : 0;
    double moved = 0;
    bool stale = false;  // an admission logged for a while: its reservation should exist
    for (const auto& item : s.log) {
      if (held.contains(item.uid)) continue;
      moved += item.tpp;
      stale |= wall - item.created > settings_.max_unflushed;
    }
    const double base = std::max(0.0, in_object - moved);
    // `state` counts the moved admissions inside the lease: the room besides `base` is right.
    double target = floor_milli(size_for(s, tenant, state, base, now, jd));
    const bool grown = target > base + kEps;
    if (!grown && target > base - kEps) target = base;
    const double left = s.room();  // what admissions may still use now
    due |= stale;
    due |= in_object > 0 && !(target > 0);             // given back
    due |= !(in_object > 0) && target > 0;             // a new lease
    due |= target > 0 && target < 0.5 * base;          // shrunk by half
    due |= grown && left < settings_.refill * target;  // running low
    // Renew before half the term is gone, so a busy holder never stops at its deadline.
    due |= target > 0 && s.valid_until - now < settings_.term / 2;
    next.push_back({&s, tenant, base, target, grown});
  }
  if (!due) return false;
  // Admissions move into reservations whatever the caps say now: they are admitted, and the
  // lease counted them until this write.
  // A Pod the in-use figure already counts needs no reservation: the lease gave its TPP to
  // inUseTPP (countedThrough is at or past the revision this replica saw the Pod at).
  auto counted = [&](const LedgerReservation& item) {
    auto it = seen_.find(item.claimed_by());
    return state.counted_through > 0 && it != seen_.end() && it->second.revision > 0 &&
           it->second.revision <= state.counted_through;
  };
  for (auto& n : next) {
    for (const auto& item : n.slot->log) {
      if (counted(item)) continue;
      if (held.insert(item.uid).second) state.reservations.push_back(item);
    }
    LedgerLease* mine = state.lease(settings_.holder, n.tenant);
    if (mine == nullptr && n.target > 0) {
      state.leases.push_back({settings_.holder, n.tenant, 0, 0, wall});
      mine = &state.leases.back();
    }
    if (mine) mine->tpp = n.target;
  }
  for (auto& l : state.leases) {
    if (l.holder != settings_.holder) continue;
    // Every write of the holder renews all its leases: the reconciler sees each change.
    ++l.generation;
    l.renewed = wall;
  }
  // A grown lease must fit the caps it is granted under, counted like a reservation (the sizing
  // leaves half the room, so this only guards the arithmetic).
  for (auto& n : next) {
    Slot& s = *n.slot;
    if (n.grown && !within_caps(state.tenant_total(n.tenant), s.want_tenant_cap, state.total(),
                                s.want_jurisdiction_cap)) {
      if (LedgerLease* mine = state.lease(settings_.holder, n.tenant)) mine->tpp = n.base;
      n.target = n.base;
      n.grown = false;
    }
    s.planned = true;
    s.plan_target = n.target;
    s.plan_count = s.log.size();
    s.plan_flushed = s.consumed;
    s.plan_tenant_cap = n.grown ? s.want_tenant_cap : s.grant_tenant_cap;
    s.plan_jurisdiction_cap = n.grown ? s.want_jurisdiction_cap : s.grant_jurisdiction_cap;
  }
  std::erase_if(state.leases,
                [&](const LedgerLease& l) { return l.holder == settings_.holder && !(l.tpp > 0); });
  state.refresh_reserved();
  return true;
}

void LeaseBook::finish(const std::string& j, std::uint64_t token, Outcome outcome,
                       Steady::time_point sent) {
  std::lock_guard lock(mu_);
  auto jit = by_jurisdiction_.find(j);
  if (jit == by_jurisdiction_.end() || jit->second.token != token) return;
  Jurisdiction& jd = jit->second;
  ++jd.token;  // a plan() still running in a late batch changes nothing now
  for (auto it = jd.tenants.begin(); it != jd.tenants.end();) {
    Slot& s = it->second;
    if (s.planned) {
      s.planned = false;
      if (outcome == Outcome::kWritten) {
        s.granted = s.plan_target;
        for (size_t i = 0; i < s.plan_count; ++i) seen_.erase(s.log[i].claimed_by());
        s.log.erase(s.log.begin(), s.log.begin() + static_cast<std::ptrdiff_t>(s.plan_count));
        s.consumed = 0;
        for (const auto& item : s.log) s.consumed += item.tpp;
        s.valid_until = s.plan_target > 0 ? sent + settings_.term : Steady::time_point{};
        s.grant_tenant_cap = s.plan_tenant_cap;
        s.grant_jurisdiction_cap = s.plan_jurisdiction_cap;
      } else if (outcome == Outcome::kUnknown) {
        // The API server may have taken it: use no more than either state allows.
        s.granted = std::min(s.granted, s.plan_target + s.plan_flushed);
      }
    }
    // Demand decays to a one-second average.
    const auto now = Steady::now();
    if (now - s.demand_since > std::chrono::seconds(1)) {
      const double seconds = std::chrono::duration<double>(now - s.demand_since).count();
      s.demand /= seconds;
      s.demand_since = now - std::chrono::seconds(1);
    }
    const bool empty = !(s.granted > 0) && s.log.empty();
    if (empty && now - s.last_use > 10 * settings_.idle) {
      it = jd.tenants.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<std::string> LeaseBook::jurisdictions() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [j, jd] : by_jurisdiction_) {
    if (!jd.tenants.empty()) out.push_back(j);
  }
  return out;
}

double LeaseBook::unused(const std::string& j, const std::string& tenant,
                         const LedgerState& state) const {
  const LedgerLease* mine = state.lease(settings_.holder, tenant);
  if (!mine) return 0;
  std::lock_guard lock(mu_);
  double pending = 0;  // admitted under the lease and not a reservation in `state` yet
  auto jit = by_jurisdiction_.find(j);
  if (jit != by_jurisdiction_.end()) {
    if (auto sit = jit->second.tenants.find(tenant);
        sit != jit->second.tenants.end() && !sit->second.log.empty()) {
      // On every decision's path: one pass over each list, not the log times the reservations.
      std::unordered_map<std::string_view, double> logged;
      for (const auto& item : sit->second.log) {
        if (logged.emplace(item.uid, item.tpp).second) pending += item.tpp;
      }
      for (const auto& r : state.reservations) {
        if (auto it = logged.find(r.uid); it != logged.end()) {
          pending -= it->second;
          logged.erase(it);
        }
      }
    }
  }
  return std::max(0.0, mine->tpp - pending);
}

void LeaseBook::give_back(const std::string& j, Steady::time_point now) {
  std::lock_guard lock(mu_);
  by_jurisdiction_[j].cooldown_until = now + settings_.cooldown;
}

}  // namespace exportgate::webhook
