// Bounded metric label values (see metric_labels.hpp).
#include "webhook/metric_labels.hpp"

#include <array>
#include <string_view>
#include <utility>

namespace exportgate::webhook {

namespace {
// Group and kind of every built-in object the chart sends to the webhook.
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kBuiltinKinds = {{
    {"", "Pod"},
    {"", "Namespace"},
    {"", "ReplicationController"},
    {"apps", "Deployment"},
    {"apps", "ReplicaSet"},
    {"apps", "StatefulSet"},
    {"apps", "DaemonSet"},
    {"batch", "Job"},
    {"batch", "CronJob"},
    {"autoscaling", "Scale"},
    {"resource.k8s.io", "ResourceClaim"},
    {"resource.k8s.io", "ResourceClaimTemplate"},
    {"", "PodExecOptions"},
    {"", "PodAttachOptions"},
    {"", "Binding"},
}};
}  // namespace

std::string_view denial_reason(std::string_view code) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 18> kByCode = {{
      {"tier-prohibited", "jurisdiction"},
      {"licence-required", "jurisdiction"},
      {"licence-required-case-by-case", "jurisdiction"},
      {"bandwidth-licence-required", "jurisdiction"},
      {"prohibited-part", "jurisdiction"},
      {"headquarters-licence-required", "jurisdiction"},
      {"unknown-headquarters", "jurisdiction"},
      {"unknown-jurisdiction", "jurisdiction"},
      {"untenanted-namespace", "untenanted"},
      {"tenant-cap", "cap"},
      {"jurisdiction-cap", "cap"},
      {"site-unresolved", "site"},
      {"beyond-range", "beyond-range"},
      {"namespace-label-guard", "label-guard"},
      {"ledger-unavailable", "ledger-unavailable"},
      {"malformed-object", "malformed"},
      {"reserve-conflict", "conflict"},
      {"unreadable-object", "malformed"},
  }};
  if (code.empty()) return "";
  for (const auto& [c, reason] : kByCode) {
    if (c == code) return reason;
  }
  return "other";
}

std::string metric_kind(const GroupVersionKind& kind, const policy::Policy& policy) {
  for (const auto& [group, name] : kBuiltinKinds) {
    if (kind.group == group && kind.kind == name) return kind.kind;
  }
  // The policy's custom kinds: as many as the policy lists, fixed until the next reload.
  for (const auto& w : policy.workload_kinds) {
    if (kind.group == w.group && kind.kind == w.kind) return kind.kind;
  }
  return "other";
}

}  // namespace exportgate::webhook
