// PolicyReports for tenants (see policy_report.hpp).
#include "webhook/policy_report.hpp"

#include <algorithm>
#include <cmath>

#include "policy/policy_numbers.hpp"
#include "policy/tier.hpp"
#include "webhook/audit_events.hpp"
#include "webhook/kube_list.hpp"
#include "webhook/rfc3339.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {

constexpr size_t kMaxMessage = 1000;
constexpr size_t kMaxResources = 50;  // Pods named under one cap result

std::string clip(std::string s) {
  if (s.size() > kMaxMessage) s = s.substr(0, kMaxMessage - 3) + "...";
  return s;
}

std::string tpp_number(double v) {
  return std::to_string(static_cast<long long>(std::llround(v)));
}

json resource_of(const policy::AuditObjectRef& o) {
  json r = {{"apiVersion", o.api_version},
            {"kind", o.kind},
            {"namespace", o.namespace_},
            {"name", o.name}};
  if (!o.uid.empty()) r["uid"] = o.uid;
  return r;
}

std::string result_of(policy::Verdict v) {
  return v == policy::Verdict::kDeny ? "fail" : v == policy::Verdict::kWarn ? "warn" : "pass";
}

json base_result(const std::string& policy_name, const std::string& rule, const std::string& result,
                 std::string message) {
  return {{"policy", "exportgate/" + policy_name},
          {"rule", rule},
          {"result", result},
          {"message", clip(std::move(message))},
          {"source", "exportgate"},
          {"category", "export-control"},
          {"severity", result == "fail"   ? "high"
                       : result == "warn" ? "medium"
                                          : "info"}};
}

// "tenant "team-a" in SG (Tier 2) uses 126,656 of its tenant cap of 500,000 TPP (25%):
// 373,344 TPP left"
std::string usage_message(const policy::TenantUsage& u) {
  std::string s = "tenant \"" + u.tenant + "\" in " + u.jurisdiction + " (" +
                  policy::tier_display(u.tier) + ") uses " +
                  policy::format_thousands(u.in_use_tpp) + " TPP of controlled accelerators";
  if (u.tenant_cap_tpp) {
    const double cap = *u.tenant_cap_tpp;
    const double left = std::max(0.0, cap - u.in_use_tpp);
    s += " of its tenant cap of " + policy::format_thousands(cap) + " TPP";
    if (cap > 0) {
      s += " (" + std::to_string(static_cast<long long>(std::floor(100 * u.in_use_tpp / cap))) +
           "%)";
    }
    s += ": " + policy::format_thousands(left) + " TPP left";
  } else {
    s += " (no tenant cap)";
  }
  if (u.jurisdiction_cap_tpp) {
    s += "; jurisdiction " + u.jurisdiction + " uses " +
         policy::format_thousands(u.jurisdiction_in_use_tpp) + " of its cap of " +
         policy::format_thousands(*u.jurisdiction_cap_tpp) + " TPP";
  }
  return s;
}

}  // namespace

std::map<std::string, json> policy_reports(const policy::AuditReport& report,
                                           const std::string& policy_name,
                                           const DenialsByNamespace* denials) {
  std::map<std::string, json> results;  // namespace -> array of results
  auto add = [&](const std::string& ns, json r) {
    if (ns.empty()) return;
    results[ns].push_back(std::move(r));
  };
  // Usage first: the line a tenant looks for.
  for (const auto& u : report.usage) {
    std::string state = "pass";
    if (u.tenant_cap_tpp && u.in_use_tpp > *u.tenant_cap_tpp) state = "fail";
    if (u.jurisdiction_cap_tpp && u.jurisdiction_in_use_tpp > *u.jurisdiction_cap_tpp) {
      state = "fail";
    }
    json props = {{"tenant", u.tenant},
                  {"jurisdiction", u.jurisdiction},
                  {"tier", u.tier},
                  {"tppInUse", tpp_number(u.in_use_tpp)}};
    if (u.tenant_cap_tpp) {
      props["tenantCapTPP"] = tpp_number(*u.tenant_cap_tpp);
      props["tppLeft"] = tpp_number(std::max(0.0, *u.tenant_cap_tpp - u.in_use_tpp));
    }
    if (u.jurisdiction_cap_tpp) {
      props["jurisdictionTPPInUse"] = tpp_number(u.jurisdiction_in_use_tpp);
      props["jurisdictionCapTPP"] = tpp_number(*u.jurisdiction_cap_tpp);
    }
    for (const auto& ns : u.namespaces) {
      json r = base_result(policy_name, "tpp-usage", state, usage_message(u));
      r["properties"] = props;
      add(ns, std::move(r));
    }
  }
  for (const auto& f : report.findings) {
    json r = base_result(policy_name, f.code, result_of(f.decision), f.reason);
    r["resources"] = json::array({resource_of(f.object)});
    json props = {{"tenant", f.tenant}, {"jurisdiction", f.jurisdiction}, {"tier", f.tier}};
    if (f.tpp > 0) props["tpp"] = tpp_number(f.tpp);
    if (!f.accelerators.empty()) props["accelerators"] = f.accelerators;
    if (!f.rule.empty()) props["rule"] = clip(f.rule);
    r["properties"] = props;
    add(f.object.namespace_, std::move(r));
  }
  // A cap passed (or near) is shown in every namespace whose Pods count towards it.
  for (const auto& c : report.caps) {
    std::map<std::string, json> resources;
    for (const auto& p : c.pods) {
      auto& list = resources[p.namespace_];
      if (list.size() < kMaxResources) list.push_back(resource_of(p));
    }
    for (auto& [ns, list] : resources) {
      json r = base_result(policy_name, c.code, result_of(c.decision), c.reason);
      r["resources"] = std::move(list);
      json props = {{"scope", c.scope},
                    {"jurisdiction", c.jurisdiction},
                    {"tier", c.tier},
                    {"capTPP", tpp_number(c.cap_tpp)},
                    {"tppInUse", tpp_number(c.in_use_tpp)}};
      if (!c.tenant.empty()) props["tenant"] = c.tenant;
      r["properties"] = props;
      add(ns, std::move(r));
    }
  }
  // What was refused at admission lately, newest first: the requester saw the message, the
  // tenant's other members see it here.
  if (denials) {
    for (const auto& [ns, list] : *denials) {
      for (const auto& d : list) {
        const std::string when = format_time(d.last).substr(0, 19) + "Z";
        std::string message = "denied at admission";
        if (d.count > 1) message += " (" + std::to_string(d.count) + " times)";
        message += ": " + d.reason;
        json r = base_result(policy_name, d.code.empty() ? "denied" : d.code, "fail", message);
        r["resources"] = json::array({{{"kind", d.kind}, {"namespace", ns}, {"name", d.name}}});
        json props = {
            {"source", "admission"}, {"lastDenied", when}, {"count", std::to_string(d.count)}};
        if (!d.tenant.empty()) props["tenant"] = d.tenant;
        if (!d.jurisdiction.empty()) props["jurisdiction"] = d.jurisdiction;
        if (d.tpp > 0) props["tpp"] = tpp_number(d.tpp);
        r["properties"] = std::move(props);
        add(ns, std::move(r));
      }
    }
  }
  std::map<std::string, json> out;
  for (auto& [ns, list] : results) {
    json summary = {{"pass", 0}, {"fail", 0}, {"warn", 0}, {"error", 0}, {"skip", 0}};
    for (const auto& r : list) {
      auto& n = summary[r["result"].get<std::string>()];
      n = n.get<int>() + 1;
    }
    out[ns] = {{"apiVersion", "wgpolicyk8s.io/v1alpha2"},
               {"kind", "PolicyReport"},
               {"metadata",
                {{"name", kPolicyReportName},
                 {"namespace", ns},
                 {"labels", {{"app.kubernetes.io/managed-by", kPolicyReportManagedBy}}}}},
               {"summary", std::move(summary)},
               {"results", std::move(list)}};
  }
  return out;
}

PolicyReportWriter::PolicyReportWriter(KubeClient& client, Logger& log)
    : client_(client), log_(log) {}

int PolicyReportWriter::sync(const std::map<std::string, json>& reports) {
  // The reports exportgate wrote earlier (this replica or a former leader), by namespace.
  std::map<std::string, json> existing;
  ListPaging paging;
  paging.on_item = [&](json& item) {
    const json& meta = item.value("metadata", json::object());
    if (meta.value("name", "") != kPolicyReportName) return;
    existing[meta.value("namespace", "")] = std::move(item);
  };
  paging.on_refused = [&](const KubeResponse& res, const std::string&, bool) {
    if (res.status != 404) {
      log_.warn("policy reports not listed", {{"error", res.describe()}});
    } else if (!warned_absent_) {
      log_.warn(
          "policy reports not written: the API serves no wgpolicyk8s.io/v1alpha2 "
          "PolicyReport (install the CRD, or the chart with policyReports.installCRD)",
          nlohmann::json::object());
      warned_absent_ = true;
    }
    return PageRefused::kStop;
  };
  paging.on_page = [&](const ListPage&, const std::string&) { warned_absent_ = false; };
  const std::string path = std::string(kPolicyReportApi) +
                           "/policyreports?labelSelector=app.kubernetes.io%2Fmanaged-by%3D" +
                           std::string(kPolicyReportManagedBy);
  try {
    if (!for_each_page(client_, path, paging)) return 0;
  } catch (const ListDecodeError& e) {
    throw KubeUnavailable(e.what());  // as any unreadable answer: the pass failed
  }

  int changed = 0;
  for (const auto& [ns, report] : reports) {
    const std::string collection =
        std::string(kPolicyReportApi) + "/namespaces/" + ns + "/policyreports";
    auto it = existing.find(ns);
    KubeResponse res;
    if (it == existing.end()) {
      res = client_.request("POST", collection, report.dump());
    } else if (it->second.value("summary", json()) == report["summary"] &&
               it->second.value("results", json()) == report["results"]) {
      continue;  // unchanged
    } else {
      // Merge patch replaces the arrays whole: the report is exactly this pass's.
      const json patch = {{"summary", report["summary"]}, {"results", report["results"]}};
      res =
          client_.request("PATCH", collection + "/" + std::string(kPolicyReportName), patch.dump());
    }
    if (!res.ok() && namespace_terminating(res)) continue;
    if (!res.ok()) {
      log_.warn("policy report not written", {{"namespace", ns}, {"error", res.describe()}});
      continue;  // tried again next pass
    }
    ++changed;
  }
  for (const auto& [ns, report] : existing) {
    if (reports.count(ns)) continue;
    KubeResponse res =
        client_.request("DELETE", std::string(kPolicyReportApi) + "/namespaces/" + ns +
                                      "/policyreports/" + std::string(kPolicyReportName));
    if (!res.ok() && res.status != 404) {
      log_.warn("policy report not deleted", {{"namespace", ns}, {"error", res.describe()}});
      continue;
    }
    ++changed;
  }
  return changed;
}

}  // namespace exportgate::webhook
