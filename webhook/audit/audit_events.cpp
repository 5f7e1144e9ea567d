// Events for audit findings (see audit_events.hpp).
#include "webhook/audit_events.hpp"

#include "policy/json_limits.hpp"
#include "webhook/sha256.hpp"

namespace exportgate::webhook {

using nlohmann::json;

std::string audit_event_name(const policy::AuditFinding& f) {
  const std::string digest = sha256_hex(f.object.uid + "/" + f.code).substr(0, 16);
  // Object names are DNS subdomains (<= 253); leave room for ".<digest>".
  std::string base = f.object.name.substr(0, 253 - 17);
  while (!base.empty() && (base.back() == '.' || base.back() == '-')) base.pop_back();
  return (base.empty() ? std::string("object") : base) + "." + digest;
}

json audit_event(const policy::AuditFinding& f, const std::string& identity, SystemTime now) {
  const std::string time = format_time(now);
  // Seconds precision for the legacy timestamps (metav1.Time), microseconds for eventTime.
  const std::string seconds = time.substr(0, 19) + "Z";
  std::string message = f.reason;
  if (message.size() > 1000) message = message.substr(0, 997) + "...";  // API limit 1024
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata",
           {{"name", audit_event_name(f)},
            {"namespace", f.object.namespace_},
            {"labels", {{"exportgate.io/audit-code", f.code}}}}},
          {"involvedObject",
           {{"apiVersion", f.object.api_version},
            {"kind", f.object.kind},
            {"namespace", f.object.namespace_},
            {"name", f.object.name},
            {"uid", f.object.uid}}},
          {"reason", kAuditEventReason},
          {"message", message},
          {"type", "Warning"},
          {"action", "Audit"},
          {"source", {{"component", "exportgate-audit"}}},
          {"reportingComponent", kAuditReportingController},
          {"reportingInstance", identity.substr(0, 128)},
          {"firstTimestamp", seconds},
          {"lastTimestamp", seconds},
          {"eventTime", time},
          {"count", 1}};
}

// The apiserver's NamespaceLifecycle admission refuses new objects in a namespace being deleted
// with a 403 whose Status names the cause NamespaceTerminating (what client-go checks with
// HasStatusCause; a StatusCause's type is serialised as "reason"): not a missing RBAC verb.
bool namespace_terminating(const KubeResponse& res) {
  if (res.status != 403) return false;
  const json status = policy::parse_json_bounded_or_discarded(res.body);
  if (!status.is_object()) return false;
  const auto details = status.find("details");
  if (details == status.end() || !details->is_object()) return false;
  const auto causes = details->find("causes");
  if (causes == details->end() || !causes->is_array()) return false;
  for (const auto& c : *causes) {
    if (c.is_object() && c.value("reason", "") == "NamespaceTerminating") return true;
  }
  return false;
}

AuditEventRecorder::AuditEventRecorder(KubeClient& client, std::string identity, Logger& log)
    : client_(client), identity_(std::move(identity)), log_(log) {}

int AuditEventRecorder::record(const std::vector<policy::AuditFinding>& findings, SystemTime now) {
  std::set<std::string> current;
  int written = 0;
  for (const auto& f : findings) {
    if (f.decision != policy::Verdict::kDeny || f.object.uid.empty()) continue;
    const std::string name = audit_event_name(f);
    current.insert(name);
    if (reported_.count(name)) continue;
    const json event = audit_event(f, identity_, now);
    const std::string collection = "/api/v1/namespaces/" + f.object.namespace_ + "/events";
    KubeResponse res = client_.request("POST", collection, event.dump());
    if (res.status == 409) {
      // Reported before by another replica or an earlier run of this one: say it still holds
      // rather than add a second Event for the same violation.
      const json patch = {{"lastTimestamp", event["lastTimestamp"]}, {"message", event["message"]}};
      res = client_.request("PATCH", collection + "/" + name, patch.dump());
    }
    if (!res.ok() && namespace_terminating(res)) {
      // The namespace and the object are going away: nothing to fix, and nowhere to record.
      log_.debug("audit event not recorded: namespace terminating",
                 {{"object", f.object.namespace_ + "/" + f.object.name}});
      continue;
    }
    if (!res.ok()) {
      log_.warn("audit event not recorded", {{"object", f.object.namespace_ + "/" + f.object.name},
                                             {"kind", f.object.kind},
                                             {"error", res.describe()}});
      continue;  // tried again next pass
    }
    reported_.insert(name);
    ++written;
  }
  // Forget what is no longer violating, so a violation that returns is reported again.
  for (auto it = reported_.begin(); it != reported_.end();) {
    it = current.count(*it) ? std::next(it) : reported_.erase(it);
  }
  return written;
}

}  // namespace exportgate::webhook
