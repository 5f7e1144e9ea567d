// Settings of cluster mode (`exportgate serve --in-cluster | --kubeconfig FILE`).
#pragma once

#include <chrono>
#include <string>

namespace exportgate::webhook {

struct ClusterOptions {
  bool in_cluster = false;
  std::string kubeconfig;        // path; "" unless --kubeconfig
  std::string ledger_namespace;  // "" = the pod's namespace in-cluster, else exportgate-system
  std::string identity;          // Lease holder; "" = hostname + pid
  std::chrono::seconds lease_duration{15};
  std::chrono::milliseconds reconcile_interval{5'000};
  std::chrono::seconds reservation_ttl{30};
  // A reservation (all compare-and-swap attempts) gives up after this and the request takes the
  // ledger-unavailable path. Keep it below the webhook's timeoutSeconds.
  std::chrono::milliseconds ledger_timeout{3'000};
  bool allow_when_ledger_unavailable = false;  // --ledger-unavailable allow
  bool ledger_leases = true;                   // --ledger-leases (leased headroom)
  // Background audit period while this replica holds the Lease (--audit-interval); 0 = off.
  std::chrono::milliseconds audit_interval{300'000};
  // The Kueue AdmissionCheck controller (kueue_check.hpp), run while holding the Lease.
  bool kueue_admission_check = false;
  std::chrono::milliseconds kueue_interval{5'000};

  bool enabled() const { return in_cluster || !kubeconfig.empty(); }
};

}  // namespace exportgate::webhook
