// The background audit of `serve` in cluster mode: every --audit-interval, while this replica
// holds the reconciler's Lease, runs the same audit as `exportgate audit` against the running
// policy, exports exportgate_audit_violations, records Events on violating objects and writes
// each namespace's PolicyReport (policy_report.hpp).
#pragma once

#include <chrono>
#include <map>

#include "policy/audit.hpp"
#include "webhook/audit_events.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/log.hpp"
#include "webhook/periodic_worker.hpp"
#include "webhook/policy_report.hpp"
#include "webhook/policy_store.hpp"

namespace exportgate::webhook {

class Metrics;

struct AuditLoopOptions {
  std::chrono::milliseconds interval{300'000};  // 0 = disabled
  std::string identity;                         // reportingInstance of the Events
  const RecentDenials* denials = nullptr;       // admission denials for the PolicyReports
};

// exportgate_audit_violations values of a report: one per deny finding, by tenant, jurisdiction
// and reason code (a cap finding counts once, under its scope's tenant or "" for a jurisdiction).
std::map<std::tuple<std::string, std::string, std::string>, double> audit_violation_counts(
    const policy::AuditReport& report);

class AuditLoop {
 public:
  AuditLoop(KubeClient& client, PolicyStore& policies, AuditLoopOptions options, Metrics& metrics,
            Logger& log);
  ~AuditLoop();
  AuditLoop(const AuditLoop&) = delete;
  AuditLoop& operator=(const AuditLoop&) = delete;

  void start();
  void stop();
  // Lease held: run now and then every interval. Lease lost: stop, and drop the gauges (the new
  // leader exports its own).
  void set_active(bool active);
  // One pass now. Returns false when the API could not be read.
  bool run_once();

 private:
  bool pass();  // run_once() and the memory it leaves given back

  KubeClient& client_;
  PolicyStore& policies_;
  AuditLoopOptions options_;
  Metrics& metrics_;
  Logger& log_;
  AuditEventRecorder events_;
  PolicyReportWriter reports_;
  PeriodicWorker worker_;  // last: its thread stops before the members it uses go
};

}  // namespace exportgate::webhook
