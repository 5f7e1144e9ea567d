// Tenants' PolicyReports from an audit pass: one per namespace with TPP in use against the
// tenant's cap (and what is left), every violation as a result on its object, none for a
// namespace with nothing in use and nothing wrong, and identical reports for an unchanged state.
#include "webhook/policy_report.hpp"

#include <gtest/gtest.h>

#include "policy/policy_loader.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: report-test}
spec:
  preset: diffusion-2025
  tenants:
  - {name: acme, jurisdiction: IN, namespaces: [acme], capTPP: 300000}
)";

json pod(const std::string& ns, const std::string& name, int gpus) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + name}}},
      {"spec",
       {{"containers", json::array({{{"name", "main"},
                                     {"image", "x"},
                                     {"resources", {{"limits", {{"nvidia.com/gpu", gpus}}}}}}})},
        {"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}}}}},
      {"status", {{"phase", "Running"}}}};
}

std::map<std::string, json> reports_for(const std::vector<json>& pods) {
  const auto policy = policy::load_policy(kPolicy, "policy.yaml");
  policy::Auditor auditor(policy);
  auditor.set_namespace_labels("acme", {});
  auditor.set_namespace_labels("cn-lab", {{"exportgate.io/jurisdiction", "CN"}});
  auditor.set_namespace_labels("idle", {{"exportgate.io/jurisdiction", "DE"}});
  for (const auto& p : pods) auditor.add(p);
  return policy_reports(std::move(auditor).finish(), policy.name);
}

TEST(PolicyReport, UsageAgainstTheTenantCapAndWhatIsLeft) {
  auto reports = reports_for({pod("acme", "a", 8)});
  ASSERT_EQ(reports.size(), 1u);
  const json& r = reports.at("acme");
  EXPECT_EQ(r["apiVersion"], "wgpolicyk8s.io/v1alpha2");
  EXPECT_EQ(r["kind"], "PolicyReport");
  EXPECT_EQ(r["metadata"]["name"], "exportgate");
  EXPECT_EQ(r["metadata"]["namespace"], "acme");
  EXPECT_EQ(r["metadata"]["labels"]["app.kubernetes.io/managed-by"], "exportgate");
  ASSERT_EQ(r["results"].size(), 1u);
  const json& usage = r["results"][0];
  EXPECT_EQ(usage["rule"], "tpp-usage");
  EXPECT_EQ(usage["result"], "pass");
  EXPECT_EQ(usage["properties"]["tppInUse"], "126656");
  EXPECT_EQ(usage["properties"]["tenantCapTPP"], "300000");
  EXPECT_EQ(usage["properties"]["tppLeft"], "173344");
  EXPECT_NE(usage["message"].get<std::string>().find("173,344 TPP left"), std::string::npos)
      << usage["message"];
  EXPECT_EQ(r["summary"]["pass"], 1);
  EXPECT_EQ(r["summary"]["fail"], 0);
}

TEST(PolicyReport, CapPassedIsAFailNamingThePods) {
  auto reports = reports_for({pod("acme", "a", 8), pod("acme", "b", 8), pod("acme", "c", 8)});
  const json& r = reports.at("acme");
  EXPECT_EQ(r["summary"]["fail"], 2);  // usage over the cap, and the cap finding
  bool cap = false;
  for (const auto& x : r["results"]) {
    if (x["rule"] != "tenant-cap") continue;
    cap = true;
    EXPECT_EQ(x["result"], "fail");
    EXPECT_EQ(x["resources"].size(), 3u);
  }
  EXPECT_TRUE(cap) << r.dump(2);
}

TEST(PolicyReport, ViolationIsAResultOnItsObjectOnlyInItsNamespace) {
  auto reports = reports_for({pod("cn-lab", "train", 8), pod("acme", "a", 8)});
  ASSERT_EQ(reports.size(), 2u);
  const json& r = reports.at("cn-lab");
  ASSERT_GE(r["results"].size(), 1u);
  bool found = false;
  for (const auto& x : r["results"]) {
    if (x["rule"] != "tier-prohibited") continue;
    found = true;
    EXPECT_EQ(x["result"], "fail");
    EXPECT_EQ(x["resources"][0]["name"], "train");
    EXPECT_EQ(x["resources"][0]["uid"], "uid-train");
    EXPECT_NE(x["message"].get<std::string>().find("CN (Tier 3)"), std::string::npos);
  }
  EXPECT_TRUE(found) << r.dump(2);
  // acme's report says nothing of cn-lab.
  EXPECT_EQ(reports.at("acme").dump().find("cn-lab"), std::string::npos);
}

TEST(PolicyReport, NothingInUseAndNothingWrongGivesNoReport) {
  EXPECT_TRUE(reports_for({pod("idle", "cpu", 0)}).empty());
  EXPECT_TRUE(reports_for({}).empty());
}

TEST(PolicyReport, UnchangedStateGivesAnIdenticalReport) {
  EXPECT_EQ(reports_for({pod("acme", "a", 8)}), reports_for({pod("acme", "a", 8)}));
}

}  // namespace
}  // namespace exportgate::webhook

namespace exportgate::webhook {
namespace {

json deny_record(const std::string& ns, const std::string& name, const std::string& code) {
  return {{"decision", "deny"}, {"namespace", ns},      {"kind", "Pod"},
          {"name", name},       {"code", code},         {"reasons", {"exportgate: denied " + name}},
          {"tenant", "acme"},   {"jurisdiction", "IN"}, {"tpp", 126656.0},
          {"dry_run", false}};
}

// Issue 17: a namespace's report lists what was denied there at admission, newest first, one
// result per object and code with a count; bounded per namespace and forgotten after the ttl.
TEST(PolicyReport, RecentAdmissionDenialsAppearBoundedAndExpire) {
  using std::chrono::minutes;
  const auto t0 = std::chrono::system_clock::time_point{} + std::chrono::hours(500'000);
  RecentDenials denials({/*per_namespace=*/2, /*namespaces=*/2, std::chrono::seconds(3'600)});
  denials.record(deny_record("acme", "a", "tenant-cap"), t0);
  denials.record(deny_record("acme", "a", "tenant-cap"), t0 + minutes(1));  // same: counted
  denials.record(deny_record("acme", "b", "tenant-cap"), t0 + minutes(2));
  auto allow = deny_record("acme", "c", "");
  allow["decision"] = "warn";
  denials.record(allow, t0 + minutes(3));  // not a denial
  auto dry = deny_record("acme", "d", "tenant-cap");
  dry["dry_run"] = true;
  denials.record(dry, t0 + minutes(3));  // a dry run holds nothing
  auto snap = denials.snapshot(t0 + minutes(4));
  ASSERT_EQ(snap["acme"].size(), 2u);
  EXPECT_EQ(snap["acme"][0].name, "b");
  EXPECT_EQ(snap["acme"][1].name, "a");
  EXPECT_EQ(snap["acme"][1].count, 2u);

  // The report: the denials beside the usage line, failing, with their reason.
  const auto policy = policy::load_policy(kPolicy, "policy.yaml");
  policy::Auditor auditor(policy);
  auditor.set_namespace_labels("acme", {});
  auditor.add(pod("acme", "running", 8));
  auto reports = policy_reports(std::move(auditor).finish(), policy.name, &snap);
  const json& r = reports.at("acme");
  ASSERT_EQ(r["results"].size(), 3u);
  EXPECT_EQ(r["results"][0]["rule"], "tpp-usage");
  const json& denied = r["results"][1];
  EXPECT_EQ(denied["rule"], "tenant-cap");
  EXPECT_EQ(denied["result"], "fail");
  EXPECT_EQ(denied["properties"]["source"], "admission");
  EXPECT_EQ(denied["resources"][0]["name"], "b");
  EXPECT_NE(denied["message"].get<std::string>().find("exportgate: denied b"), std::string::npos);
  EXPECT_NE(r["results"][2]["message"].get<std::string>().find("(2 times)"), std::string::npos);
  EXPECT_EQ(r["summary"]["fail"], 2);

  // A third namespace pushes out the one whose newest denial is oldest.
  denials.record(deny_record("other", "x", "tier-prohibited"), t0 + minutes(5));
  denials.record(deny_record("third", "y", "tier-prohibited"), t0 + minutes(6));
  snap = denials.snapshot(t0 + minutes(7));
  EXPECT_EQ(snap.size(), 2u);
  EXPECT_FALSE(snap.contains("acme"));
  // After the ttl nothing is left, so a namespace with nothing else gets no report.
  snap = denials.snapshot(t0 + minutes(70));
  EXPECT_TRUE(snap.empty());
}

}  // namespace
}  // namespace exportgate::webhook
