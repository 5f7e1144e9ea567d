// This replica's leased headroom (docs/cluster-mode.md, "Leased headroom"): for each
// (jurisdiction, tenant), the TPP its lease in the TPPLedger holds, the Pods admitted under it and
// not yet flushed into reservations, and the write in flight. Pure bookkeeping under a mutex: the
// ClusterLedger applies plan() inside its compare-and-swap writes and reports how they ended.
//
// The rule every number here keeps: what this replica admits under a lease never exceeds what
// the object holds for it. While a write that changes the lease is in flight, the room is the
// smaller of the lease before it and the lease it would leave; a write whose outcome is unknown
// leaves that smaller figure, so an answer lost after the API server took it can only under-use.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "webhook/ledger_model.hpp"

namespace exportgate::webhook {

struct LeaseSettings {
  bool enabled = false;
  std::string holder;  // identity + per-process nonce: a restarted replica never adopts a lease
  std::chrono::milliseconds flush_interval{100};
  // A holder admits under a lease at most this long after sending the write that renewed it;
  // the reconciler drops a lease unchanged for this plus the reservation TTL.
  std::chrono::milliseconds term{10'000};
  std::chrono::milliseconds idle{1'000};      // unused this long: returned
  std::chrono::milliseconds cooldown{2'000};  // after a reclaim: no new headroom
  std::chrono::milliseconds window{1'000};    // a lease covers this much of the recent demand
  double refill = 0.5;  // grow a lease when less than this share of it is left
  // Admissions are moved into reservations at the latest this long after they were made.
  std::chrono::milliseconds max_unflushed{1'000};
  double min_requests = 16;  // no lease while the room left is under this many of the largest Pod
  int min_holders = 3;       // a lease is at most room / (2 x max(this, holders))
};

class LeaseBook {
 public:
  using Steady = std::chrono::steady_clock;
  enum class Outcome { kWritten, kNotWritten, kUnknown };

  explicit LeaseBook(LeaseSettings settings) : settings_(std::move(settings)) {}
  const LeaseSettings& settings() const { return settings_; }

  // Admits `r` (jurisdiction `j`) under this replica's lease when its room covers r.tpp and the
  // lease was granted under caps no looser than the request's. Records the demand either way,
  // which sizes the next lease. Idempotent for a uid already admitted here.
  bool try_consume(const std::string& j, const LedgerReservation& r,
                   std::optional<double> tenant_cap, std::optional<double> jurisdiction_cap,
                   Steady::time_point now);

  // Inside a compare-and-swap edit of `j`'s state (called again on each attempt): moves every
  // admission logged so far into reservations, sets this replica's leases to their new size, and
  // returns whether it changed anything. `token` is what begin() returned; a stale token (the
  // flush gave up) changes nothing.
  bool plan(const std::string& j, std::uint64_t token, LedgerState& state, SystemTime wall,
            Steady::time_point now);
  std::uint64_t begin(const std::string& j);
  // How the write carrying the last plan() ended; `sent` is a time before it was sent.
  void finish(const std::string& j, std::uint64_t token, Outcome outcome, Steady::time_point sent);

  // Jurisdictions with a lease, logged admissions or recent demand.
  std::vector<std::string> jurisdictions() const;
  // Headroom of this replica's lease for `tenant` that `state` counts but nothing has used: what
  // a decision of this replica may treat as free.
  double unused(const std::string& j, const std::string& tenant, const LedgerState& state) const;
  // Return every lease of `j` at the next flush and lease nothing for the cooldown.
  void give_back(const std::string& j, Steady::time_point now);
  // This replica's Pod cache holds the Pod carrying admission uid `claim_uid` as of revision
  // `revision`. Once the ledger's countedThrough reaches it, the in-use figure counts the Pod and
  // its lease admission leaves the lease without becoming a reservation.
  // Like a reservation's claim (claim_matches), only the Pod the admission was for counts: same
  // namespace, same name when the admission had one, at least the TPP admitted.
  void pod_seen(const std::string& claim_uid, const PodClaim& pod, std::uint64_t revision);

 private:
  struct Slot {
    double granted = 0;                  // the lease in the object, in units of `consumed`
    std::vector<LedgerReservation> log;  // admitted under the lease, not yet flushed
    double consumed = 0;                 // sum of log
    Steady::time_point valid_until{};    // no admission under the lease after this
    std::optional<double> grant_tenant_cap, grant_jurisdiction_cap;  // caps it was granted under
    std::optional<double> want_tenant_cap, want_jurisdiction_cap;    // the latest request's
    bool caps_known = false;
    double largest = 0;  // largest request seen
    double demand = 0;   // TPP requested since demand_since
    Steady::time_point demand_since{};
    Steady::time_point last_use{};
    // The plan of the write in flight (valid while `planned`).
    bool planned = false;
    double plan_target = 0;
    size_t plan_count = 0;
    double plan_flushed = 0;
    std::optional<double> plan_tenant_cap, plan_jurisdiction_cap;
    double room() const;  // what an admission may still use
  };
  struct Jurisdiction {
    std::map<std::string, Slot> tenants;
    std::uint64_t token = 0;
    std::string reclaim_seen;
    bool reclaim_known = false;
    Steady::time_point cooldown_until{};
  };
  double size_for(const Slot& s, const std::string& tenant, const LedgerState& state, double base,
                  Steady::time_point now, const Jurisdiction& jd) const;

  LeaseSettings settings_;
  mutable std::mutex mu_;
  // claimed_by() of every logged admission -> the admission, and the revision its Pod was seen
  // at (0: not yet).
  struct Seen {
    LedgerReservation admission;
    std::uint64_t revision = 0;
  };
  std::map<std::string, Seen> seen_;
  std::map<std::string, Jurisdiction> by_jurisdiction_;
};

}  // namespace exportgate::webhook
