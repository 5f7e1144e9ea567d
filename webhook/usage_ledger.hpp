// Controlled TPP in use per tenant and per jurisdiction. The interface is small on purpose: the
// in-memory ledger here serves standalone mode; ClusterLedger (ledger_cluster.hpp) keeps the
// counts in the Kubernetes API for cluster mode.
#pragma once

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
};

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
  // the snapshot: re-evaluate. A reservation with a key already held replaces the old one (a
  // pod name is unique in a namespace, so the old pod is gone). Throws LedgerUnavailable.
  virtual bool reserve(const Reservation& r, std::optional<double> tenant_cap,
                       std::optional<double> jurisdiction_cap) = 0;
  // Releases the reservation held under `key`; nullopt when there is none (already released, or
  // admitted before this process started).
  virtual std::optional<Reservation> release(const std::string& key) = 0;
  virtual UsageTotals totals() const = 0;
};

// Standalone mode: counts live in this process only. It never sees pods finish (no watch), so
// usage is released only when a Pod DELETE passes through the webhook.
class InMemoryLedger : public UsageLedger {
 public:
  policy::UsageSnapshot snapshot(const std::string& tenant,
                                 const std::string& jurisdiction) const override;
  bool reserve(const Reservation& r, std::optional<double> tenant_cap,
               std::optional<double> jurisdiction_cap) override;
  std::optional<Reservation> release(const std::string& key) override;
  UsageTotals totals() const override;

 private:
  void subtract_locked(const Reservation& r);
  mutable std::mutex mu_;
  std::unordered_map<std::string, double> tenants_;
  std::unordered_map<std::string, double> jurisdictions_;
  std::unordered_map<std::string, Reservation> by_key_;
};

}  // namespace exportgate::webhook
