// Prometheus metrics of the webhook (names are part of the external contract: exportgate_*),
// and the pull exposer that serves them on the metrics port.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <unordered_map>

namespace exportgate::webhook {

struct RequestLabels {
  std::string endpoint;      // "validate" | "mutate"
  std::string operation;     // "CREATE", ... ("" when the request could not be decoded)
  std::string kind;          // "Pod", "Deployment", ...
  std::string decision;      // allow | warn | deny | error
  std::string tier;          // "tier1", ... or "" when unknown
  std::string jurisdiction;  // "SG", ... or ""
  std::string reason;        // deny/error: denial_reason() of its code; "" otherwise
};

// Values for the TPP gauges of one scope; a value left unset keeps its gauge as it is.
struct TppGauges {
  std::string scope;  // "tenant" or "jurisdiction"
  std::string name;
  std::optional<double> in_use;
  std::optional<double> limit;
  // Cluster mode: TPP reserved by admissions that no stored Pod has claimed yet.
  std::optional<double> reserved;
};

class Metrics {
 public:
  Metrics();

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  void observe_request(const RequestLabels& labels, double seconds);
  void policy_reload(bool success);  // a reload attempt (counted)
  void policy_loaded_at_start();     // the initial load (not a reload)
  void set_policy_info(const std::string& name, const std::string& hash, const std::string& preset,
                       const std::string& mode);
  void set_certificate_expiry(int64_t unix_seconds);
  // The TPP gauges of one tenant or jurisdiction: the one writer of exportgate_tpp_* for the
  // standalone server and the cluster ledger watch.
  void set_tpp(const TppGauges& g);
  void ledger_conflict();     // a TPPLedger write answered 409 Conflict
  void ledger_retry();        // a TPPLedger write attempt after the first
  void ledger_unavailable();  // a request decided by the ledger-unavailable fallback
  void ledger_lease_admit();  // a capped request admitted under this replica's leased headroom
  void reconcile_run(bool ok);
  void reconcile_corrections(const std::string& kind, int n);  // kind: usage | expired
  void set_leader(bool leading);
  void set_cache_synced(const std::string& resource, bool synced);
  // Background audit: violations by (tenant, jurisdiction, reason code) of the last pass; series
  // of earlier passes that are not in `counts` are removed, not left at their old value.
  using AuditKey = std::tuple<std::string, std::string, std::string>;
  void set_audit_violations(const std::map<AuditKey, double>& counts);
  void audit_run(bool ok, double unix_seconds);  // unix_seconds: when a successful pass ended
  void audit_events(int n);                      // Events created or refreshed

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Gauge>& policy_info_;
  prometheus::Gauge& last_reload_success_;
  prometheus::Gauge& cert_expiry_;
  prometheus::Family<prometheus::Gauge>& tpp_in_use_;
  prometheus::Family<prometheus::Gauge>& tpp_limit_;
  prometheus::Family<prometheus::Gauge>& tpp_reserved_;
  prometheus::Counter& ledger_conflicts_;
  prometheus::Counter& ledger_retries_;
  prometheus::Counter& ledger_unavailable_;
  prometheus::Counter& ledger_lease_admissions_;
  prometheus::Family<prometheus::Counter>& reconcile_runs_;
  prometheus::Family<prometheus::Counter>& reconcile_corrections_;
  prometheus::Gauge& leader_;
  prometheus::Family<prometheus::Gauge>& cache_synced_;
  prometheus::Family<prometheus::Gauge>& audit_violations_;
  prometheus::Family<prometheus::Counter>& audit_runs_;
  prometheus::Gauge& audit_last_run_;
  prometheus::Counter& audit_events_;
  std::mutex audit_mu_;
  std::map<AuditKey, prometheus::Gauge*> audit_series_;
  std::mutex info_mu_;
  prometheus::Gauge* current_info_ = nullptr;
  // The series of observe_request by label values (joined by '\0'): Family::Add builds a label
  // map, hashes it and locks the family on every call, about 10,000 instructions per request.
  // Series of these families are never removed, so the pointers stay valid.
  struct RequestSeries {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
  };
  std::shared_mutex series_mu_;
  std::unordered_map<std::string, RequestSeries> series_;
};

// Serves GET /metrics for a registry on HOST:PORT (port 0 = any). Throws std::runtime_error
// when it cannot bind. before_collect runs at every scrape, before the registry is read, so
// gauges that mirror state (cache_synced) are current even when nothing else refreshes them.
class MetricsEndpoint {
 public:
  MetricsEndpoint(const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry,
                  std::function<void()> before_collect = {});
  int port() const;

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Collectable> refresher_;
};

}  // namespace exportgate::webhook
