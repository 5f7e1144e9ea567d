// The audit's aggregation: per-object prohibitions on Pods and workloads, caps summed once over
// the Pods in use (never each Pod charged on top of the others), finished objects skipped,
// owner references, sorting, and a preview with another policy — all with the shipped presets.
#include "policy/audit.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "policy/policy_loader.hpp"

namespace exportgate::policy {
namespace {

using nlohmann::json;

// Tier 2 tenant "acme" (IN) with its own cap of 300,000 TPP: two 8 x H100 pods (253,312) fit,
// three (379,968) do not. IN's jurisdiction cap lowered to 600,000 TPP.
constexpr const char* kCappedPolicy = R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: audit-test}
spec:
  preset: diffusion-2025
  jurisdictionCaps: {IN: 600000}
  tenants:
  - {name: acme, jurisdiction: IN, namespaces: [acme], capTPP: 300000, authorization: licensed, licence: D1}
  - {name: beta, jurisdiction: IN, namespaces: [beta], authorization: licensed, licence: D2}
)";

constexpr double kPodTpp = 126'656;  // 8 x H100 (15,832 each)

json gpu_spec(int gpus) {
  json spec = {
      {"containers", json::array({{{"name", "main"},
                                   {"image", "x"},
                                   {"resources", {{"limits", {{"nvidia.com/gpu", gpus}}}}}}})}};
  if (gpus > 0) spec["nodeSelector"] = {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}};
  return spec;
}

json pod(const std::string& ns, const std::string& name, int gpus,
         const std::string& phase = "Running", const std::string& owner_kind = "") {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + name}}},
            {"spec", gpu_spec(gpus)},
            {"status", {{"phase", phase}}}};
  if (!owner_kind.empty()) {
    p["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                     {"kind", owner_kind},
                                                     {"name", "owner"},
                                                     {"controller", true}}});
  }
  return p;
}

json deployment(const std::string& ns, const std::string& name, int replicas, int gpus) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + name}}},
          {"spec", {{"replicas", replicas}, {"template", {{"spec", gpu_spec(gpus)}}}}}};
}

json job(const std::string& ns, const std::string& name, int gpus, bool complete) {
  json j = {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + name}}},
            {"spec", {{"parallelism", 1}, {"template", {{"spec", gpu_spec(gpus)}}}}}};
  if (complete) {
    j["status"] = {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}};
  }
  return j;
}

struct Namespace {
  std::string name;
  std::string jurisdiction;  // exportgate.io/jurisdiction label, "" = none
};

AuditReport audit(const Policy& policy, const std::vector<Namespace>& namespaces,
                  const std::vector<json>& objects, bool check_caps = true) {
  AuditOptions options;
  options.check_caps = check_caps;
  Auditor auditor(policy, options);
  for (const auto& ns : namespaces) {
    std::map<std::string, std::string> labels;
    if (!ns.jurisdiction.empty()) labels[std::string(kJurisdictionLabel)] = ns.jurisdiction;
    auditor.set_namespace_labels(ns.name, labels);
  }
  for (const auto& o : objects) auditor.add(o);
  return std::move(auditor).finish();
}

// "Kind/namespace/name=code" of every finding.
std::set<std::string> finding_set(const AuditReport& r) {
  std::set<std::string> out;
  for (const auto& f : r.findings) {
    out.insert(f.object.kind + "/" + f.object.namespace_ + "/" + f.object.name + "=" + f.code +
               (f.decision == Verdict::kWarn ? "(warn)" : ""));
  }
  return out;
}

struct ProhibitionCase {
  std::string name;
  std::string preset;
  std::vector<Namespace> namespaces;
  std::vector<json> objects;
  std::set<std::string> want;
};

class AuditProhibitions : public ::testing::TestWithParam<ProhibitionCase> {};

TEST_P(AuditProhibitions, ReportsExactlyTheViolatingObjects) {
  const auto& c = GetParam();
  const Policy policy = load_preset(c.preset);
  const AuditReport r = audit(policy, c.namespaces, c.objects);
  EXPECT_EQ(finding_set(r), c.want);
  EXPECT_EQ(r.violations(), c.want.size());
  EXPECT_TRUE(r.caps.empty());
}

const std::vector<Namespace> kNamespaces = {
    {"de", "DE"}, {"cn", "CN"}, {"nolabel", ""}, {"bad", "XX"}, {"kube-system", ""}};

INSTANTIATE_TEST_SUITE_P(
    Presets, AuditProhibitions,
    ::testing::Values(
        ProhibitionCase{"tier1_nothing",
                        "diffusion-2025",
                        kNamespaces,
                        {pod("de", "a", 8), deployment("de", "d", 2, 8), job("de", "j", 8, false),
                         pod("cn", "cpu", 0), pod("nolabel", "cpu", 0)},
                        {}},
        ProhibitionCase{"tier3_gpu_objects_only",
                        "diffusion-2025",
                        kNamespaces,
                        {pod("cn", "a", 8, "Running", "ReplicaSet"), pod("cn", "cpu", 0),
                         deployment("cn", "d", 2, 8), deployment("cn", "web", 3, 0),
                         job("cn", "j", 8, false), pod("de", "a", 8)},
                        {"Deployment/cn/d=tier-prohibited", "Job/cn/j=tier-prohibited",
                         "Pod/cn/a=tier-prohibited"}},
        ProhibitionCase{"finished_pods_and_jobs_skipped",
                        "diffusion-2025",
                        kNamespaces,
                        {pod("cn", "done", 8, "Succeeded"), pod("cn", "failed", 8, "Failed"),
                         job("cn", "j", 8, true), pod("cn", "pending", 8, "Pending")},
                        {"Pod/cn/pending=tier-prohibited"}},
        ProhibitionCase{"unknown_and_invalid_jurisdiction",
                        "diffusion-2025",
                        kNamespaces,
                        {pod("nolabel", "a", 8), pod("bad", "b", 8), pod("kube-system", "c", 8)},
                        {"Pod/bad/b=unknown-jurisdiction", "Pod/nolabel/a=unknown-jurisdiction"}},
        ProhibitionCase{"controls_2023_licence_required",
                        "controls-2023",
                        kNamespaces,
                        {pod("cn", "a", 8), pod("de", "b", 8)},
                        {"Pod/cn/a=licence-required"}},
        ProhibitionCase{"unreadable_object_reported",
                        "diffusion-2025",
                        kNamespaces,
                        {json{{"apiVersion", "v1"},
                              {"kind", "Pod"},
                              {"metadata", {{"name", "broken"}, {"namespace", "de"}}},
                              {"spec", {{"containers", "not-a-list"}}}},
                         json{{"apiVersion", "v1"},
                              {"kind", "ConfigMap"},
                              {"metadata", {{"name", "cm"}, {"namespace", "cn"}}}}},
                        {"Pod/de/broken=unreadable-object"}}),
    [](const auto& info) { return info.param.name; });

TEST(Audit, FindingCarriesTheEvidence) {
  const Policy policy = load_preset("diffusion-2025");
  const AuditReport r =
      audit(policy, kNamespaces, {pod("cn", "train-0", 8, "Running", "ReplicaSet")});
  ASSERT_EQ(r.findings.size(), 1u);
  const AuditFinding& f = r.findings[0];
  EXPECT_EQ(f.object.uid, "uid-train-0");
  EXPECT_EQ(f.object.owner_kind, "ReplicaSet");
  EXPECT_EQ(f.object.owner_name, "owner");
  EXPECT_EQ(f.tenant, "cn");
  EXPECT_EQ(f.jurisdiction, "CN");
  EXPECT_EQ(f.tier, "tier3");
  EXPECT_EQ(f.tpp, kPodTpp);
  EXPECT_EQ(f.accelerator_count, 8);
  EXPECT_NE(f.accelerators.find("H100"), std::string::npos) << f.accelerators;
  EXPECT_NE(f.reason.find("126,656"), std::string::npos) << f.reason;
  EXPECT_NE(f.reason.find("CN (Tier 3)"), std::string::npos) << f.reason;
  EXPECT_FALSE(f.rule.empty());
  EXPECT_EQ(r.pods, 1);
}

struct CapCase {
  std::string name;
  std::vector<json> objects;
  // "scope:tenant:jurisdiction=decision:pods"
  std::set<std::string> want_caps;
  std::set<std::string> want_findings;
};

class AuditCaps : public ::testing::TestWithParam<CapCase> {};

TEST_P(AuditCaps, ChecksTheSumOfPodsInUseOnce) {
  const auto& c = GetParam();
  const Policy policy = load_policy(kCappedPolicy, "audit-test.yaml");
  const AuditReport r = audit(policy, {{"acme", ""}, {"beta", ""}}, c.objects);
  std::set<std::string> caps;
  for (const auto& cap : r.caps) {
    caps.insert(cap.scope + ":" + cap.tenant + ":" + cap.jurisdiction + "=" +
                std::string(to_string(cap.decision)) + ":" + std::to_string(cap.pods.size()));
  }
  EXPECT_EQ(caps, c.want_caps);
  EXPECT_EQ(finding_set(r), c.want_findings);
}

INSTANTIATE_TEST_SUITE_P(
    TenantAndJurisdiction, AuditCaps,
    ::testing::Values(
        // 2 pods = 253,312 of 300,000 (84%): under the tenant cap and under 90%.
        CapCase{"under_caps", {pod("acme", "p1", 8), pod("acme", "p2", 8)}, {}, {}},
        // 3 pods = 379,968 > 300,000: one tenant-cap finding listing the 3 pods, not 3 denials.
        CapCase{"tenant_over",
                {pod("acme", "p1", 8), pod("acme", "p2", 8), pod("acme", "p3", 8),
                 pod("acme", "old", 8, "Succeeded")},
                {"tenant:acme:IN=deny:3"},
                {}},
        // A Deployment's own demand is not added to its Pods' usage (they are the usage).
        CapCase{"workloads_not_counted_twice",
                {deployment("acme", "d", 2, 8), pod("acme", "d-1", 8, "Running", "ReplicaSet"),
                 pod("acme", "d-2", 8, "Running", "ReplicaSet")},
                {},
                {}},
        // A workload that alone asks more than the tenant cap is reported as an object.
        CapCase{"workload_over_cap_by_itself",
                {deployment("acme", "big", 3, 8)},
                {},
                {"Deployment/acme/big=tenant-cap"}},
        // Two tenants under their own caps, together over IN's 600,000: a jurisdiction finding.
        CapCase{"jurisdiction_over",
                {pod("acme", "a1", 8), pod("acme", "a2", 8), pod("beta", "b1", 8),
                 pod("beta", "b2", 8), pod("beta", "b3", 8)},
                {"jurisdiction::IN=deny:5"},
                {}},
        // 18 H100s = 284,976 TPP = 94% of the tenant cap (warning at 90%), 47% of IN's.
        CapCase{"tenant_near_cap",
                {pod("acme", "p1", 8), pod("acme", "p2", 8), pod("acme", "p3", 2)},
                {"tenant:acme:IN=warn:3"},
                {}}),
    [](const auto& info) { return info.param.name; });

TEST(Audit, CapFindingNamesTheUsageAndTheCap) {
  const Policy policy = load_policy(kCappedPolicy, "audit-test.yaml");
  const AuditReport r = audit(policy, {{"acme", ""}},
                              {pod("acme", "p3", 8), pod("acme", "p1", 8), pod("acme", "p2", 8)});
  ASSERT_EQ(r.caps.size(), 1u);
  const CapFinding& c = r.caps[0];
  EXPECT_EQ(c.code, "tenant-cap");
  EXPECT_EQ(c.in_use_tpp, 3 * kPodTpp);
  EXPECT_EQ(c.cap_tpp, 300'000);
  EXPECT_EQ(c.reason,
            "exportgate: tenant \"acme\" in IN (Tier 2) has 379,968 TPP in use by 3 pods, over "
            "its tenant cap of 300,000 TPP [" +
                c.rule + "]");
  ASSERT_EQ(c.pods.size(), 3u);
  EXPECT_EQ(c.pods[0].name, "p1");  // sorted
  EXPECT_EQ(c.pods[2].name, "p3");
  EXPECT_EQ(r.violations(), 1u);
}

TEST(Audit, OneNamespaceReportsCapsPerObjectInstead) {
  // With only part of the cluster listed, sums are not formed (they could only under-count);
  // a pod over the cap by itself is still reported.
  const Policy policy = load_policy(kCappedPolicy, "audit-test.yaml");
  const AuditReport r = audit(policy, {{"acme", ""}},
                              {pod("acme", "p1", 8), pod("acme", "p2", 8), pod("acme", "big", 24)},
                              /*check_caps=*/false);
  EXPECT_FALSE(r.caps_checked);
  EXPECT_TRUE(r.caps.empty());
  EXPECT_EQ(finding_set(r), std::set<std::string>{"Pod/acme/big=tenant-cap"});
}

TEST(Audit, PreviewWithAnotherPolicyChangesTheVerdicts) {
  // The same objects under diffusion-2025 and controls-2023: the rescission moves CN from
  // "prohibited" to "licence required" and AE from Tier 2 to licence-required.
  const std::vector<Namespace> namespaces = {{"cn", "CN"}, {"ae", "AE"}, {"fr", "FR"}};
  const std::vector<json> objects = {pod("cn", "a", 8), pod("ae", "b", 8), pod("fr", "c", 8)};
  // Under diffusion-2025 AE is a capped Tier 2, where a namespace without a tenant gets no
  // controlled accelerators (issue 13).
  EXPECT_EQ(finding_set(audit(load_preset("diffusion-2025"), namespaces, objects)),
            (std::set<std::string>{"Pod/ae/b=untenanted-namespace", "Pod/cn/a=tier-prohibited"}));
  EXPECT_EQ(finding_set(audit(load_preset("controls-2023"), namespaces, objects)),
            (std::set<std::string>{"Pod/ae/b=licence-required", "Pod/cn/a=licence-required"}));
}

TEST(Audit, CustomWorkloadKindsFromThePolicy) {
  const Policy policy = load_preset("diffusion-2025");
  json jobset = {
      {"apiVersion", "jobset.x-k8s.io/v1alpha2"},
      {"kind", "JobSet"},
      {"metadata", {{"name", "js"}, {"namespace", "cn"}, {"uid", "u"}}},
      {"spec",
       {{"replicatedJobs",
         json::array({{{"name", "w"},
                       {"replicas", 2},
                       {"template", {{"spec", {{"template", {{"spec", gpu_spec(8)}}}}}}}}})}}}};
  EXPECT_TRUE(is_audited_kind(jobset, policy));
  EXPECT_FALSE(is_audited_kind(json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}}, policy));
  EXPECT_EQ(finding_set(audit(policy, kNamespaces, {jobset})),
            (std::set<std::string>{"JobSet/cn/js=tier-prohibited"}));
}

}  // namespace
}  // namespace exportgate::policy
