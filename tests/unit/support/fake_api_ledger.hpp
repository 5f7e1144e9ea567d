// A ClusterLedger in namespace "eg" against the in-memory API server (fake_kube_api.hpp), with
// the client, logger and metrics a replica gives it: the set-up of the ledger and reconciler
// tests. Faults and objects go through `api` before the first call.
#pragma once

#include <sstream>
#include <string>

#include "tests/unit/fake_kube_api.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/ledger_cluster.hpp"
#include "webhook/log.hpp"
#include "webhook/metrics.hpp"

namespace exportgate::testing {

// Where the ledger keeps Singapore's TPPLedger.
inline const std::string kSgLedgerPath =
    "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-sg";

inline webhook::LedgerOptions ledger_in_eg() {
  webhook::LedgerOptions o;
  o.namespace_ = "eg";
  return o;
}

struct FakeApiLedger {
  enum class LedgerMetrics { kNone, kCounted };
  explicit FakeApiLedger(webhook::LedgerOptions options = ledger_in_eg(),
                         LedgerMetrics counted = LedgerMetrics::kNone)
      : ledger(client, std::move(options), counted == LedgerMetrics::kCounted ? &metrics : nullptr,
               log) {}

  FakeKubeApi api;
  webhook::KubeClient client{api.kube_config()};
  std::ostringstream log_text;
  webhook::Logger log{webhook::LogLevel::kError, &log_text};
  webhook::Metrics metrics;
  webhook::ClusterLedger ledger;
};

}  // namespace exportgate::testing
