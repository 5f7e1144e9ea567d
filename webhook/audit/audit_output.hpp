// How an audit is shown: the JSON report (a stable schema, `exportgate audit -o json`) and the
// table for people.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "policy/policy.hpp"
#include "webhook/audit_run.hpp"

namespace exportgate::webhook {

// {"apiVersion":"exportgate.io/v1alpha1","kind":"AuditReport","time","cluster","policy","scope",
//  "counts","violations":[...],"warnings":[...],"caps":[...],"kinds":[...],"skipped_kinds":[...],
//  "notes":[...]} — see docs/compliance.md.
nlohmann::json audit_json(const AuditRun& run, const policy::Policy& policy,
                          const std::string& namespace_scope);

// A summary line, the objects in violation as a table (KIND NAMESPACE NAME OWNER TENANT
// JURISDICTION TIER ACCELERATORS TPP DECISION REASON), the caps passed, and skipped kinds.
void print_audit_table(const AuditRun& run, const policy::Policy& policy, std::ostream& out);

}  // namespace exportgate::webhook
