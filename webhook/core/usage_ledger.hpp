// Controlled TPP in use per tenant and per jurisdiction. The interface is small on purpose: the
// in-memory ledger here serves standalone mode; ClusterLedger (ledger_cluster.hpp) keeps the
// counts in the Kubernetes API for cluster mode.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/evaluate.hpp"

namespace exportgate::webhook {

// The ledger cannot be read or written (Kubernetes API unreachable, or too much contention to
// reserve in time). Requests that need the ledger follow the configured fallback.
class LedgerUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Reservation {
  std::string key;  // "namespace/pod-name"; "" when the pod has no name yet (cannot be released)
  std::string tenant;
  std::string jurisdiction;  // "" when unknown (then only the tenant is charged)
  double tpp = 0;            // controlled TPP
  std::string uid = {};      // AdmissionReview uid: the stored Pod claims it by annotation
  std::string namespace_ = {};
  // controller_link() of a Pod: it draws on the Kueue workload reservation of that link.
  std::string link = {};
  // The exportgate.io/admission-uid /mutate stamped on the object, which its stored copy carries
  // ("" when none): the API server gives each webhook call its own uid, so it is not `uid`.
  std::string claim_uid = {};
};

// Whether usage after a reservation stays within the tenant's and the jurisdiction's caps
// (nullopt = uncapped): the one cap check of both ledgers. Caps are compared with a little slack
// so float rounding never denies an exact fit.
bool within_caps(double tenant_usage, std::optional<double> tenant_cap, double jurisdiction_usage,
                 std::optional<double> jurisdiction_cap);

struct UsageTotals {
  std::map<std::string, double> tenants;
  std::map<std::string, double> jurisdictions;
};

class UsageLedger {
 public:
  virtual ~UsageLedger() = default;
  virtual policy::UsageSnapshot snapshot(const std::string& tenant,
                                         const std::string& jurisdiction) const = 0;
  // Adds `r` only if usage then stays within the caps given (nullopt = uncapped), checked
  // atomically with the update (compare-and-swap). false = another request took the room since
  // the snapshot: re-evaluate. A reservation with a key already held never lowers usage (the
  // create may be a forgery, or be refused by the apiserver as a duplicate after admission): the
  // larger charge stays. Throws LedgerUnavailable.
  virtual bool reserve(const Reservation& r, std::optional<double> tenant_cap,
                       std::optional<double> jurisdiction_cap) = 0;
  // Releases the reservation held under `key`; nullopt when there is none (already released, or
  // admitted before this process started).
  virtual std::optional<Reservation> release(const std::string& key) = 0;
  virtual UsageTotals totals() const = 0;
  // TPP still free in the Kueue workload reservation of `link` (ledger_model.hpp): a Pod of that
  // workload is charged against it. Only the cluster ledger holds workload reservations.
  virtual double headroom(const std::string& /*jurisdiction*/, const std::string& /*link*/) const {
    return 0;
  }
  // Called before a cap denial. Returns true when TPP counted as used was only held for other
  // admissions (the cluster ledger's leased headroom) and has been asked back: decide again.
  virtual bool reclaim(const std::string& /*jurisdiction*/, const std::string& /*tenant*/) {
    return false;
  }
};

// Standalone mode: counts live in this process only. It never sees pods finish (no watch), so
// usage is released only by a Pod DELETE review that carries the deleted pod (oldObject), which
// anything that reaches the port can send unless --client-ca is set.
//
// It holds one entry per admitted accelerator pod, so its size is the memory budget (100,000
// pods in < 64 MiB): an entry is the key once (the map's) and 16 bytes, with the tenant and the
// jurisdiction as ids into a table of names. release() gives back the key, tenant, jurisdiction
// and TPP; uid and namespace_ are not kept (only the cluster ledger stores them).
class InMemoryLedger : public UsageLedger {
 public:
  policy::UsageSnapshot snapshot(const std::string& tenant,
                                 const std::string& jurisdiction) const override;
  bool reserve(const Reservation& r, std::optional<double> tenant_cap,
               std::optional<double> jurisdiction_cap) override;
  std::optional<Reservation> release(const std::string& key) override;
  UsageTotals totals() const override;

  size_t size() const;

 private:
  using NameId = uint32_t;
  static constexpr NameId kNoName = ~NameId{0};  // no jurisdiction
  struct Entry {
    NameId tenant;
    NameId jurisdiction;
    double tpp;
  };
  NameId intern_locked(const std::string& name);
  void subtract_locked(const Entry& e);

  mutable std::mutex mu_;
  std::unordered_map<std::string, double> tenants_;
  std::unordered_map<std::string, double> jurisdictions_;
  // Tenant and jurisdiction names by id. Names are never forgotten: there are as many as
  // tenants and jurisdictions the policy knows, not pods.
  std::vector<std::string> names_;
  std::unordered_map<std::string, NameId> name_ids_;
  std::unordered_map<std::string, Entry> by_key_;
};

}  // namespace exportgate::webhook
