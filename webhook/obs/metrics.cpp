// Prometheus metric definitions (see metrics.hpp).
#include "webhook/metrics.hpp"

#include <stdexcept>

namespace exportgate::webhook {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

#ifndef EXPORTGATE_VERSION
#define EXPORTGATE_VERSION "dev"
#endif

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("exportgate_admission_requests_total")
                    .Help("AdmissionReview requests by endpoint, operation, kind, decision, tier "
                          "and jurisdiction")
                    .Register(*registry_)),
      duration_(BuildHistogram()
                    .Name("exportgate_admission_duration_seconds")
                    .Help("Time from request received to response ready, by endpoint")
                    .Register(*registry_)),
      reloads_(BuildCounter()
                   .Name("exportgate_policy_reloads_total")
                   .Help("Policy reloads by result")
                   .Register(*registry_)),
      policy_info_(BuildGauge()
                       .Name("exportgate_policy_info")
                       .Help("The active policy (value 1)")
                       .Register(*registry_)),
      last_reload_success_(BuildGauge()
                               .Name("exportgate_policy_last_reload_success")
                               .Help("1 when the last policy (re)load succeeded, else 0")
                               .Register(*registry_)
                               .Add({})),
      cert_expiry_(BuildGauge()
                       .Name("exportgate_tls_certificate_expiry_timestamp_seconds")
                       .Help("notAfter of the serving certificate, Unix seconds")
                       .Register(*registry_)
                       .Add({})),
      tpp_in_use_(BuildGauge()
                      .Name("exportgate_tpp_in_use")
                      .Help("Controlled TPP admitted and in use, by scope (tenant|jurisdiction)")
                      .Register(*registry_)),
      tpp_limit_(BuildGauge()
                     .Name("exportgate_tpp_limit")
                     .Help("TPP cap, by scope (tenant|jurisdiction)")
                     .Register(*registry_)),
      tpp_reserved_(BuildGauge()
                        .Name("exportgate_tpp_reserved")
                        .Help("Controlled TPP reserved by admissions not yet claimed by a stored "
                              "Pod, by scope (tenant|jurisdiction); cluster mode")
                        .Register(*registry_)),
      ledger_conflicts_(BuildCounter()
                            .Name("exportgate_ledger_conflicts_total")
                            .Help("TPPLedger writes answered 409 Conflict (another replica wrote "
                                  "first)")
                            .Register(*registry_)
                            .Add({})),
      ledger_retries_(BuildCounter()
                          .Name("exportgate_ledger_retries_total")
                          .Help("TPPLedger write attempts after the first of a compare-and-swap")
                          .Register(*registry_)
                          .Add({})),
      ledger_unavailable_(BuildCounter()
                              .Name("exportgate_ledger_unavailable_total")
                              .Help("Requests decided by the --ledger-unavailable fallback "
                                    "because the ledger could not be written")
                              .Register(*registry_)
                              .Add({})),
      ledger_lease_admissions_(BuildCounter()
                                   .Name("exportgate_ledger_lease_admissions_total")
                                   .Help("Capped requests admitted under this replica's leased "
                                         "headroom, without a TPPLedger write of their own")
                                   .Register(*registry_)
                                   .Add({})),
      reconcile_runs_(BuildCounter()
                          .Name("exportgate_reconcile_runs_total")
                          .Help("Reconciler runs by result (ok|error)")
                          .Register(*registry_)),
      reconcile_corrections_(BuildCounter()
                                 .Name("exportgate_reconcile_corrections_total")
                                 .Help("Ledger corrections by kind: usage (in-use TPP differed "
                                       "from the Pods), expired (reservation never claimed)")
                                 .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("exportgate_reconciler_leader")
                  .Help("1 while this replica holds the reconciler Lease")
                  .Register(*registry_)
                  .Add({})),
      cache_synced_(BuildGauge()
                        .Name("exportgate_cache_synced")
                        .Help("1 once the cache of a resource has listed (cluster mode)")
                        .Register(*registry_)),
      audit_violations_(BuildGauge()
                            .Name("exportgate_audit_violations")
                            .Help("Objects and caps in violation at the last background audit, "
                                  "by tenant, jurisdiction and reason code")
                            .Register(*registry_)),
      audit_runs_(BuildCounter()
                      .Name("exportgate_audit_runs_total")
                      .Help("Background audit passes by result (ok|error)")
                      .Register(*registry_)),
      audit_last_run_(BuildGauge()
                          .Name("exportgate_audit_last_run_timestamp_seconds")
                          .Help("When the last successful background audit pass ended, Unix "
                                "seconds")
                          .Register(*registry_)
                          .Add({})),
      audit_events_(BuildCounter()
                        .Name("exportgate_audit_events_total")
                        .Help("Kubernetes Events created or refreshed by the background audit")
                        .Register(*registry_)
                        .Add({})) {
  BuildGauge()
      .Name("exportgate_build_info")
      .Help("Build information (value 1)")
      .Register(*registry_)
      .Add({{"version", EXPORTGATE_VERSION}})
      .Set(1);
  // Both results exist from the start so rate() works before the first reload.
  reloads_.Add({{"result", "success"}});
  reloads_.Add({{"result", "failure"}});
  reconcile_runs_.Add({{"result", "ok"}});
  reconcile_runs_.Add({{"result", "error"}});
  reconcile_corrections_.Add({{"kind", "usage"}});
  reconcile_corrections_.Add({{"kind", "expired"}});
  audit_runs_.Add({{"result", "ok"}});
  audit_runs_.Add({{"result", "error"}});
}

void Metrics::observe_request(const RequestLabels& l, double seconds) {
  std::string key;
  key.reserve(l.endpoint.size() + l.operation.size() + l.kind.size() + l.decision.size() +
              l.tier.size() + l.jurisdiction.size() + l.reason.size() + 6);
  for (const std::string* v :
       {&l.endpoint, &l.operation, &l.kind, &l.decision, &l.tier, &l.reason}) {
    key += *v;
    key += '\0';
  }
  key += l.jurisdiction;
  RequestSeries series{};
  {
    std::shared_lock lock(series_mu_);
    if (auto it = series_.find(key); it != series_.end()) series = it->second;
  }
  if (!series.requests) {
    // 100 us .. 10 s: admission answers in microseconds; the apiserver gives up at 10 s.
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
    series.requests = &requests_.Add({{"endpoint", l.endpoint},
                                      {"operation", l.operation},
                                      {"kind", l.kind},
                                      {"decision", l.decision},
                                      {"tier", l.tier},
                                      {"jurisdiction", l.jurisdiction},
                                      {"reason", l.reason}});
    series.duration = &duration_.Add({{"endpoint", l.endpoint}}, kBuckets);
    std::unique_lock lock(series_mu_);
    series_.emplace(std::move(key), series);
  }
  series.requests->Increment();
  series.duration->Observe(seconds);
}

void Metrics::policy_reload(bool success) {
  reloads_.Add({{"result", success ? "success" : "failure"}}).Increment();
  last_reload_success_.Set(success ? 1 : 0);
}

void Metrics::policy_loaded_at_start() {
  last_reload_success_.Set(1);
}

void Metrics::set_policy_info(const std::string& name, const std::string& hash,
                              const std::string& preset, const std::string& mode) {
  std::lock_guard lock(info_mu_);
  if (current_info_) policy_info_.Remove(current_info_);
  current_info_ =
      &policy_info_.Add({{"name", name}, {"hash", hash}, {"preset", preset}, {"mode", mode}});
  current_info_->Set(1);
}

void Metrics::set_certificate_expiry(int64_t unix_seconds) {
  cert_expiry_.Set(static_cast<double>(unix_seconds));
}

void Metrics::set_tpp(const TppGauges& g) {
  const prometheus::Labels labels{{"scope", g.scope}, {"name", g.name}};
  if (g.in_use) tpp_in_use_.Add(labels).Set(*g.in_use);
  if (g.limit) tpp_limit_.Add(labels).Set(*g.limit);
  if (g.reserved) tpp_reserved_.Add(labels).Set(*g.reserved);
}

void Metrics::ledger_conflict() {
  ledger_conflicts_.Increment();
}

void Metrics::ledger_lease_admit() {
  ledger_lease_admissions_.Increment();
}

void Metrics::ledger_retry() {
  ledger_retries_.Increment();
}

void Metrics::ledger_unavailable() {
  ledger_unavailable_.Increment();
}

void Metrics::reconcile_run(bool ok) {
  reconcile_runs_.Add({{"result", ok ? "ok" : "error"}}).Increment();
}

void Metrics::reconcile_corrections(const std::string& kind, int n) {
  reconcile_corrections_.Add({{"kind", kind}}).Increment(n);
}

void Metrics::set_leader(bool leading) {
  leader_.Set(leading ? 1 : 0);
}

void Metrics::set_cache_synced(const std::string& resource, bool synced) {
  cache_synced_.Add({{"resource", resource}}).Set(synced ? 1 : 0);
}

void Metrics::set_audit_violations(const std::map<AuditKey, double>& counts) {
  std::lock_guard lock(audit_mu_);
  for (auto it = audit_series_.begin(); it != audit_series_.end();) {
    if (counts.count(it->first)) {
      ++it;
      continue;
    }
    audit_violations_.Remove(it->second);
    it = audit_series_.erase(it);
  }
  for (const auto& [key, n] : counts) {
    auto& gauge = audit_series_[key];
    if (!gauge) {
      const auto& [tenant, jurisdiction, reason] = key;
      gauge = &audit_violations_.Add(
          {{"tenant", tenant}, {"jurisdiction", jurisdiction}, {"reason", reason}});
    }
    gauge->Set(n);
  }
}

void Metrics::audit_run(bool ok, double unix_seconds) {
  audit_runs_.Add({{"result", ok ? "ok" : "error"}}).Increment();
  if (ok) audit_last_run_.Set(unix_seconds);
}

void Metrics::audit_events(int n) {
  audit_events_.Increment(n);
}

namespace {
// Contributes no metrics; runs a refresh when a scrape collects (Exposer collects in the order
// collectables were registered, so register it before the registry).
class RefreshOnCollect : public prometheus::Collectable {
 public:
  explicit RefreshOnCollect(std::function<void()> fn) : fn_(std::move(fn)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    fn_();
    return {};
  }

 private:
  std::function<void()> fn_;
};
}  // namespace

MetricsEndpoint::MetricsEndpoint(const std::string& listen,
                                 const std::shared_ptr<prometheus::Registry>& registry,
                                 std::function<void()> before_collect) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen for metrics on " + listen + ": " + e.what());
  }
  if (before_collect) {
    refresher_ = std::make_shared<RefreshOnCollect>(std::move(before_collect));
    exposer_->RegisterCollectable(refresher_);
  }
  exposer_->RegisterCollectable(registry);
}

int MetricsEndpoint::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace exportgate::webhook
