// Tenants' view of their own state: one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace
// (named "exportgate"), written by the background audit on the Lease holder. It holds the TPP the
// namespace's tenant has in use against its caps and every violation of objects in the
// namespace, so `kubectl get policyreport -n team-a` (the `view` role can read it) answers "how
// much is left, and what is wrong" without access to exportgate's namespace.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "policy/audit.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/log.hpp"
#include "webhook/recent_denials.hpp"

namespace exportgate::webhook {

inline constexpr std::string_view kPolicyReportName = "exportgate";
inline constexpr std::string_view kPolicyReportApi = "/apis/wgpolicyk8s.io/v1alpha2";
// The label every report exportgate writes carries: the writer deletes only those.
inline constexpr std::string_view kPolicyReportManagedBy = "exportgate";

// The reports for an audit pass, by namespace: a namespace gets one when its tenant has
// controlled TPP in use there, an object there violates (or comes near) a limit, or a request
// there was denied at admission recently (`denials`, rule = the decision code, with property
// source=admission). Results carry no wall-clock time of the pass, so an unchanged state gives
// an identical report (no write).
using DenialsByNamespace = std::map<std::string, std::vector<RecentDenial>>;
std::map<std::string, nlohmann::json> policy_reports(const policy::AuditReport& report,
                                                     const std::string& policy_name,
                                                     const DenialsByNamespace* denials = nullptr);

// Makes the cluster's exportgate PolicyReports what `policy_reports` says: creates, patches
// what changed, deletes the reports of namespaces that have none any more. Needs list, create,
// patch and delete on policyreports.
class PolicyReportWriter {
 public:
  PolicyReportWriter(KubeClient& client, Logger& log);

  // Returns the number of reports created, changed or deleted. Throws KubeUnavailable. When the
  // API does not serve PolicyReports (no CRD) it logs that once per change of state and does
  // nothing.
  int sync(const std::map<std::string, nlohmann::json>& reports);

 private:
  KubeClient& client_;
  Logger& log_;
  bool warned_absent_ = false;
};

}  // namespace exportgate::webhook
