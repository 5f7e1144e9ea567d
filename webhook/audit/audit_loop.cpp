// The background audit (see audit_loop.hpp).
#include "webhook/audit_loop.hpp"

#include <malloc.h>

#include "webhook/audit_run.hpp"
#include "webhook/metrics.hpp"

namespace exportgate::webhook {

std::map<std::tuple<std::string, std::string, std::string>, double> audit_violation_counts(
    const policy::AuditReport& report) {
  std::map<std::tuple<std::string, std::string, std::string>, double> counts;
  for (const auto& f : report.findings) {
    if (f.decision == policy::Verdict::kDeny) counts[{f.tenant, f.jurisdiction, f.code}] += 1;
  }
  for (const auto& c : report.caps) {
    if (c.decision == policy::Verdict::kDeny) counts[{c.tenant, c.jurisdiction, c.code}] += 1;
  }
  return counts;
}

AuditLoop::AuditLoop(KubeClient& client, PolicyStore& policies, AuditLoopOptions options,
                     Metrics& metrics, Logger& log)
    : client_(client),
      policies_(policies),
      options_(std::move(options)),
      metrics_(metrics),
      log_(log),
      events_(client, options_.identity, log),
      reports_(client, log),
      worker_(
          {options_.interval}, [this] { return pass(); },
          [this](bool ok, const std::string& error) {
            if (!error.empty()) log_.warn("audit failed", {{"error", error}});
            const double now =
                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
            metrics_.audit_run(ok, now);
          }) {}

AuditLoop::~AuditLoop() {
  stop();
}

void AuditLoop::start() {
  if (options_.interval.count() <= 0) return;  // disabled
  worker_.start();
}

void AuditLoop::stop() {
  worker_.stop();
}

void AuditLoop::set_active(bool active) {
  worker_.set_active(active);
  // Only the leader's numbers mean anything; a replica that lost the Lease shows none.
  if (!active) metrics_.set_audit_violations({});
}

bool AuditLoop::pass() {
  const bool ok = run_once();
  // A pass parses every Pod of the cluster, page by page, between allocations that outlive
  // it; glibc keeps the freed pages in its arenas rather than return them. Give them back
  // (issue 19: a replica with 100,000 Pods; one call per pass, a few ms).
  malloc_trim(0);
  return ok;
}

bool AuditLoop::run_once() {
  auto policy = policies_.current();
  if (!policy) return false;
  try {
    AuditRunOptions options;
    options.cancelled = [this] { return worker_.stopping() || !worker_.active(); };
    AuditRun run = run_audit(client_, *policy, options);
    // The Lease may have moved while the pass ran: the new leader reports from now on.
    if (!worker_.active()) return true;
    metrics_.set_audit_violations(audit_violation_counts(run.report));
    const int events = events_.record(run.report.findings, std::chrono::system_clock::now());
    if (events > 0) metrics_.audit_events(events);
    DenialsByNamespace denials;
    if (options_.denials) denials = options_.denials->snapshot(std::chrono::system_clock::now());
    const int reports = reports_.sync(policy_reports(run.report, policy->name, &denials));
    log_.info("audit", {{"violations", run.report.violations()},
                        {"warnings", run.report.warnings()},
                        {"pods", run.report.pods},
                        {"workloads", run.report.workloads},
                        {"events", events},
                        {"policy_reports_written", reports},
                        {"policy_hash", policy->hash}});
    return true;
  } catch (const KubeUnavailable& e) {
    log_.warn("audit failed", {{"error", e.what()}});
  } catch (const AuditApiError& e) {
    log_.warn("audit failed", {{"error", e.what()}});
  }
  return false;
}

}  // namespace exportgate::webhook
