// Kubernetes Events for the background audit's findings: one Warning Event
// (reason ExportControlViolation) per violating object and violation, never one per pass.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "policy/audit.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/log.hpp"
#include "webhook/rfc3339.hpp"

namespace exportgate::webhook {

inline constexpr std::string_view kAuditEventReason = "ExportControlViolation";
inline constexpr std::string_view kAuditReportingController = "exportgate.io/audit";

// The Event's name: deterministic in the object's uid and the violation's code, so a successor
// replica (or a restart) that reports the same violation meets the existing Event (409) instead
// of adding another. "<object name>.<16 hex digits>", at most 253 characters.
std::string audit_event_name(const policy::AuditFinding& finding);

// The core/v1 Event for a finding.
nlohmann::json audit_event(const policy::AuditFinding& finding, const std::string& identity,
                           SystemTime now);

// True for the apiserver's 403 on a create in a namespace being deleted (not an RBAC problem).
bool namespace_terminating(const KubeResponse& res);

class AuditEventRecorder {
 public:
  AuditEventRecorder(KubeClient& client, std::string identity, Logger& log);

  // Records an Event for every deny finding not reported since it appeared; forgets findings
  // that are gone, so a violation that comes back is reported again. Returns the number of
  // Events created or refreshed. Throws KubeUnavailable.
  int record(const std::vector<policy::AuditFinding>& findings, SystemTime now);

 private:
  KubeClient& client_;
  std::string identity_;
  Logger& log_;
  std::set<std::string> reported_;  // event names of violations already reported
};

}  // namespace exportgate::webhook
