// The TPPLedger object as data, and the pure ledger math: reserving TPP under caps, and the
// reconciler's correction of usage from the Pods that exist. No I/O, no clocks (time is passed in).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "webhook/owner_link.hpp"
#include "webhook/rfc3339.hpp"

namespace exportgate::webhook {

inline constexpr char kLedgerApiVersion[] = "exportgate.io/v1alpha1";
inline constexpr char kLedgerKind[] = "TPPLedger";
inline constexpr char kLedgerResource[] = "tppledgers";

class LedgerFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Uid prefix of a Kueue Workload's reservation ("kueue:<workload uid>", kueue_check.hpp).
inline constexpr char kWorkloadReservationPrefix[] = "kueue:";

// TPP held by an admitted Pod that no stored Pod has claimed yet, or by a Kueue Workload whose
// exportgate AdmissionCheck is Ready (`workload`).
struct LedgerReservation {
  std::string uid;  // AdmissionReview uid; kWorkloadReservationPrefix + Workload uid
  std::string tenant;
  double tpp = 0;
  std::string namespace_;
  std::string pod;  // "" when the pod had no name at admission (generateName)
  SystemTime created;
  // "namespace/uid" of the controlling owner (the Job) that a Workload's Pods name in their
  // ownerReferences. On a workload reservation: what its Pods are matched by. On a Pod's: the
  // owner it named at admission, so it draws on that workload's reservation. "" for neither.
  std::string link;
  bool workload = false;   // a Workload's reservation: never expires; the check controller ends it
  double pods_in_use = 0;  // workload only: TPP of its linked Pods in use (the reconciler)
  // What its stored Pod carries in exportgate.io/admission-uid: the uid of the /mutate call, which
  // is not the /validate call's `uid` (each webhook call has its own). "" : `uid` itself.
  std::string claim_uid = {};
  const std::string& claimed_by() const { return claim_uid.empty() ? uid : claim_uid; }
};

// Pods of a Kueue Workload whose check is Ready are charged against the workload's reservation:
// the workload counts max(reserved, its Pods in use + their pending reservations), never less
// than what the Pods use (so a Pod that names the owner without belonging to it gains nothing).

struct TenantUsage {
  double in_use = 0;    // from stored, unfinished Pods (written by the reconciler)
  double reserved = 0;  // sum of the tenant's reservations
};

// Headroom a replica holds for one tenant (docs/cluster-mode.md, "Leased headroom"): carved out
// of the caps by a compare-and-swap like a reservation and counted as used by every decision,
// so the replica can admit that tenant's Pods up to `tpp` without writing. Its flushes move
// what it admitted into ordinary reservations.
struct LedgerLease {
  std::string holder;  // the replica's identity plus a per-process nonce
  std::string tenant;
  double tpp = 0;
  // Bumped by every write of the holder: the reconciler drops a lease whose generation it has
  // seen unchanged for longer than a holder may use it (on its own clock, so skew is harmless).
  std::uint64_t generation = 0;
  SystemTime renewed;  // informational
};

// One TPPLedger object: all usage of one jurisdiction, so a reservation checks the tenant cap and
// the jurisdiction cap in one compare-and-swap.
struct LedgerState {
  std::string jurisdiction;
  std::map<std::string, TenantUsage> tenants;
  std::vector<LedgerReservation> reservations;
  std::vector<LedgerLease> leases;
  // Set by a replica about to deny on a cap while leases hold room: holders return their
  // unconsumed headroom at their next flush. Compared for change only.
  std::string reclaim;
  // The Pod resourceVersion up to which the reconciler's cache held every Pod when it last set
  // the in-use figures (0: unknown). A Pod first seen at or before it is counted in inUseTPP.
  std::uint64_t counted_through = 0;
  std::optional<SystemTime> last_reconcile;

  double in_use() const;
  double reserved() const;
  double leased() const;
  double leased(const std::string& tenant) const;
  double tenant_total(const std::string& tenant) const;  // in use + reserved + leased
  double total() const { return in_use() + reserved() + leased(); }
  // The lease of `holder` for `tenant`; nullptr when none.
  const LedgerLease* lease(const std::string& holder, const std::string& tenant) const;
  LedgerLease* lease(const std::string& holder, const std::string& tenant);
  bool holds(const std::string& uid) const;
  // What each tenant's reservations count (workload reservations as above).
  std::map<std::string, double> reserved_by_tenant() const;
  // Room left in the workload reservations of `link` for its Pods (0 when none).
  double headroom(const std::string& link) const;
  // Recomputes tenants[].reserved from the reservations.
  void refresh_reserved();
};

// "jurisdiction-in": the object name for a jurisdiction code ("unknown" for "").
std::string ledger_object_name(const std::string& jurisdiction);

// spec <-> state. from_spec throws LedgerFormatError naming the field.
LedgerState ledger_from_spec(const nlohmann::json& spec);
nlohmann::json ledger_to_spec(const LedgerState& state);

// Adds `r` when the tenant's and the jurisdiction's usage (in use + reserved) then stay within
// the caps (nullopt = uncapped). A uid already held is accepted without change (idempotent
// retries). Returns whether it was accepted.
bool try_reserve(LedgerState& state, const LedgerReservation& r, std::optional<double> tenant_cap,
                 std::optional<double> jurisdiction_cap);

// A stored Pod that carries an admission uid. The annotation is only a claim: a tenant can
// write any value into it (on create past a failed /mutate, by update, through pods/status).
struct PodClaim {
  std::string namespace_;
  std::string name;
  double tpp = 0;       // the Pod's controlled TPP, recomputed from its spec
  bool in_use = false;  // counted in the tenant's in-use TPP now
};

// Stored, unfinished Pods that name one controlling owner ("namespace/uid").
struct LinkedUsage {
  std::string tenant;
  double tpp = 0;
};

struct ReconcileInput {
  // tenant -> TPP of its stored, unfinished Pods that name no controlling owner
  std::map<std::string, double> in_use;
  // exportgate.io/admission-uid -> stored Pods that carry it (matched with claimed_by())
  std::multimap<std::string, PodClaim> claims;
  SystemTime now;
  std::chrono::seconds reservation_ttl{30};
  // owner link -> its Pods: counted in the workload reservation of that link when one is held,
  // in the tenant's in-use TPP otherwise.
  std::map<std::string, LinkedUsage> linked = {};
  // lease_key() of leases whose holder can no longer use them (unchanged past their term): dropped.
  std::set<std::string> expired_leases = {};
};

// "holder|tenant|generation": a lease as the reconciler watches it for expiry.
std::string lease_key(const LedgerLease& l);

// Whether `pod` may end reservation `r` that carries its uid: only when the ledger's own record
// matches it (same namespace, the pod name the admission saw when it had one) and the Pod counts
// at least the reservation's TPP, so ending the reservation never lowers usage. A spoofed uid on
// another pod claims nothing; the reservation then expires after the TTL as if unclaimed.
bool claim_matches(const LedgerReservation& r, const PodClaim& pod);

struct ReconcileResult {
  bool changed = false;
  int usage_corrections = 0;  // tenants whose in-use TPP differed from the Pods
  int claimed = 0;            // reservations handed over to their stored Pod
  int expired = 0;            // reservations no Pod claimed within the TTL
  int leases_expired = 0;     // leases dropped: their holder stopped renewing them
};

// Removes the reservation of `uid` (and its TPP from its tenant). A workload reservation's Pods
// in use move into the tenant's in-use TPP, so they stay counted until the next reconcile.
// Returns whether it was held.
bool drop_reservation(LedgerState& state, const std::string& uid);

// Sets each tenant's in-use TPP from `input`, drops reservations claimed by a matching Pod
// (claim_matches) and those older than the TTL, and recomputes the reserved sums. Tenants with
// nothing left are removed.
ReconcileResult reconcile_ledger(LedgerState& state, const ReconcileInput& input);

}  // namespace exportgate::webhook
