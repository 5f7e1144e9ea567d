// One audit pass against the Kubernetes API: lists Namespaces (labels), Nodes (accelerator
// models), Pods and every pod-owning workload kind the policy knows, page by page, and feeds
// them to the policy engine's Auditor. Read-only: it sends nothing but GET requests.
#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/audit.hpp"
#include "policy/policy.hpp"
#include "webhook/kube_client.hpp"
#include "webhook/rfc3339.hpp"

namespace exportgate::webhook {

// The API answered in a way that makes the audit incomplete (401, 403, 410 on a continued list,
// a body that is not a list). The message names the request and the answer.
class AuditApiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A kind the audit lists, and what came of it.
struct AuditedKind {
  std::string group;     // "" for core
  std::string version;   // "v1"; "" until discovered (custom kinds)
  std::string resource;  // plural, "deployments"
  std::string kind;      // "Deployment"
  bool listed = false;
  std::string skipped;  // why not listed: "API not served (404)" ...
  int64_t objects = 0;  // objects seen
};

struct AuditRunOptions {
  std::string namespace_;  // "" = all namespaces
  int page_size = 500;     // objects per list request (limit/continue)
  // Checked before every request; true stops the pass with AuditApiError (shutdown, Lease lost),
  // so stopping never waits for a whole pass over a big cluster.
  std::function<bool()> cancelled;
};

struct AuditRun {
  policy::AuditReport report;
  std::vector<AuditedKind> kinds;  // Pods first, then workloads in a fixed order
  std::vector<std::string> notes;  // e.g. "nodes not readable: ..."
  std::string server;              // https://host:port
  SystemTime time;                 // when the listing started
};

// Runs the audit. Throws KubeUnavailable when the API server cannot be reached (or answers 5xx),
// AuditApiError for answers that make the result incomplete. A kind whose API is not served is
// recorded as skipped, not an error.
AuditRun run_audit(KubeClient& client, const policy::Policy& policy,
                   const AuditRunOptions& options = {});

// The kinds the audit lists for `policy`: Pods, the built-in workloads, then the policy's custom
// workload kinds (version and resource found by discovery).
std::vector<AuditedKind> audited_kinds(const policy::Policy& policy);

}  // namespace exportgate::webhook
