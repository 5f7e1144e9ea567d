// Audit output (see audit_output.hpp).
#include "webhook/audit_output.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "policy/policy_numbers.hpp"
#include "policy/tier.hpp"

namespace exportgate::webhook {

namespace {

using nlohmann::json;
namespace pol = exportgate::policy;

json object_json(const pol::AuditObjectRef& r) {
  json j = {{"apiVersion", r.api_version},
            {"kind", r.kind},
            {"namespace", r.namespace_},
            {"name", r.name},
            {"uid", r.uid},
            {"owner", nullptr}};
  if (!r.owner_kind.empty()) j["owner"] = {{"kind", r.owner_kind}, {"name", r.owner_name}};
  return j;
}

json finding_json(const pol::AuditFinding& f) {
  json j = object_json(f.object);
  j["tenant"] = f.tenant;
  j["jurisdiction"] = f.jurisdiction;
  j["tier"] = f.tier;
  j["accelerators"] = f.accelerators;
  j["accelerator_count"] = f.accelerator_count;
  j["tpp"] = f.tpp;
  j["decision"] = pol::to_string(f.decision);
  j["code"] = f.code;
  j["rule"] = f.rule;
  j["reason"] = f.reason;
  return j;
}

json cap_json(const pol::CapFinding& c) {
  json pods = json::array();
  for (const auto& p : c.pods) pods.push_back({{"namespace", p.namespace_}, {"name", p.name}});
  return {{"scope", c.scope},
          {"tenant", c.tenant},
          {"jurisdiction", c.jurisdiction},
          {"tier", c.tier},
          {"cap_tpp", c.cap_tpp},
          {"in_use_tpp", c.in_use_tpp},
          {"decision", pol::to_string(c.decision)},
          {"code", c.code},
          {"rule", c.rule},
          {"reason", c.reason},
          {"pods", std::move(pods)}};
}

std::string owner_text(const pol::AuditObjectRef& r) {
  return r.owner_kind.empty() ? "-" : r.owner_kind + "/" + r.owner_name;
}

void print_rows(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  // Every column but the last (the reason) is padded to its widest cell.
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i + 1 < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out << row[i];
      if (i + 1 < row.size()) out << std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << "\n";
  }
}

}  // namespace

json audit_json(const AuditRun& run, const pol::Policy& policy,
                const std::string& namespace_scope) {
  const auto& r = run.report;
  json violations = json::array();
  json warnings = json::array();
  for (const auto& f : r.findings) {
    (f.decision == pol::Verdict::kDeny ? violations : warnings).push_back(finding_json(f));
  }
  json caps = json::array();
  for (const auto& c : r.caps) caps.push_back(cap_json(c));
  json kinds = json::array();
  json skipped = json::array();
  for (const auto& k : run.kinds) {
    const std::string api_version =
        k.group.empty() ? k.version : k.group + (k.version.empty() ? "" : "/" + k.version);
    if (k.listed) {
      kinds.push_back({{"apiVersion", api_version}, {"kind", k.kind}, {"objects", k.objects}});
    } else {
      skipped.push_back({{"group", k.group}, {"kind", k.kind}, {"reason", k.skipped}});
    }
  }
  return {{"apiVersion", "exportgate.io/v1alpha1"},
          {"kind", "AuditReport"},
          {"time", format_time(run.time)},
          {"cluster", {{"server", run.server}}},
          {"policy",
           {{"name", policy.name},
            {"hash", policy.hash},
            {"preset", policy.preset},
            {"mode", pol::to_string(policy.mode)}}},
          {"scope",
           {{"namespace", namespace_scope.empty() ? json(nullptr) : json(namespace_scope)},
            {"caps_checked", r.caps_checked}}},
          {"counts",
           {{"pods", r.pods},
            {"workloads", r.workloads},
            {"finished_skipped", r.finished},
            {"violations", r.violations()},
            {"warnings", r.warnings()}}},
          {"violations", std::move(violations)},
          {"warnings", std::move(warnings)},
          {"caps", std::move(caps)},
          {"kinds", std::move(kinds)},
          {"skipped_kinds", std::move(skipped)},
          {"notes", run.notes}};
}

void print_audit_table(const AuditRun& run, const pol::Policy& policy, std::ostream& out) {
  const auto& r = run.report;
  out << "audit of " << run.server << " at " << format_time(run.time) << " with policy "
      << policy.name << " (hash " << policy.hash << ", mode " << pol::to_string(policy.mode)
      << ")\n";
  out << r.pods << " pods and " << r.workloads << " workloads evaluated (" << r.finished
      << " finished skipped): " << r.violations() << " violations, " << r.warnings()
      << " warnings\n";
  if (!r.findings.empty()) {
    std::vector<std::vector<std::string>> rows = {{"KIND", "NAMESPACE", "NAME", "OWNER", "TENANT",
                                                   "JURISDICTION", "TIER", "ACCELERATORS", "TPP",
                                                   "DECISION", "REASON"}};
    for (const auto& f : r.findings) {
      rows.push_back({f.object.kind, f.object.namespace_, f.object.name, owner_text(f.object),
                      f.tenant, f.jurisdiction.empty() ? "-" : f.jurisdiction,
                      f.tier.empty() ? "-" : pol::tier_display(f.tier),
                      f.accelerators.empty() ? "-" : f.accelerators, pol::format_thousands(f.tpp),
                      std::string(pol::to_string(f.decision)), f.code + ": " + f.reason});
    }
    out << "\n";
    print_rows(rows, out);
  }
  if (!r.caps.empty()) {
    out << "\ncaps:\n";
    for (const auto& c : r.caps) {
      out << "  " << pol::to_string(c.decision) << " " << c.code << ": " << c.reason << "\n";
      for (const auto& p : c.pods) out << "    pod " << p.namespace_ << "/" << p.name << "\n";
    }
  }
  for (const auto& k : run.kinds) {
    if (!k.listed) out << "skipped " << k.kind << ": " << k.skipped << "\n";
  }
  for (const auto& n : run.notes) out << "note: " << n << "\n";
}

}  // namespace exportgate::webhook
