// The headquarters rule, one row per case with its source: 3A090 items need a licence for an
// entity headquartered in (or whose ultimate parent is headquartered in) D:5 or Macau, wherever
// it is (15 CFR 742.6(a)(6)(iii)(A), 88 FR 73458, in force since 2023-11-17; confirmed by BIS
// guidance of 2026-05-31:
// https://www.hklaw.com/en/insights/publications/2026/06/bis-publishes-guidance-license-requirements-advanced-computing-items).
// Also: where the headquarters comes from (policy tenant, admin label, check flag) and the
// label guard that keeps it admin-owned.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"
#include "tests/unit/support/admission_reviews.hpp"
#include "tests/unit/support/pinned_demand.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::policy {
namespace {

WorkloadDemand demand_of(const std::string& id, double count) {
  return testing::pinned_demand(id, count);
}

struct HqRow {
  std::string name;
  std::string preset;
  std::string jurisdiction;
  std::map<std::string, std::string> labels;  // besides the jurisdiction label
  std::string model;
  Verdict verdict;
  std::string code;
};
class Headquarters : public ::testing::TestWithParam<HqRow> {};

TEST_P(Headquarters, Decides) {
  const auto& row = GetParam();
  const Policy p = load_preset(row.preset);
  std::map<std::string, std::string> labels = row.labels;
  labels[std::string(kJurisdictionLabel)] = row.jurisdiction;
  labels[std::string(kTenantLabel)] = "acme";
  const TenantContext t = resolve_tenant(p, "team", &labels);
  const Decision d = evaluate(demand_of(row.model, 8), t, {}, p);
  EXPECT_EQ(d.verdict, row.verdict) << (d.reasons.empty() ? "" : d.reasons[0]);
  EXPECT_EQ(d.code, row.code);
  if (row.code == "headquarters-licence-required") {
    ASSERT_EQ(d.reasons.size(), 1u);
    EXPECT_NE(d.reasons[0].find("742.6(a)(6)(iii)(A)"), std::string::npos) << d.reasons[0];
    EXPECT_NE(d.reasons[0].find("headquartered in"), std::string::npos) << d.reasons[0];
  }
}

const std::string kHq(kHeadquartersLabel);

INSTANTIATE_TEST_SUITE_P(
    Rows, Headquarters,
    ::testing::Values(
        // 742.6(a)(6)(iii)(A): a company headquartered in CN, located in SG -> licence.
        HqRow{"sg_tenant_hq_cn",
              "controls-2023",
              "SG",
              {{kHq, "CN"}},
              "h100-sxm",
              Verdict::kDeny,
              "headquarters-licence-required"},
        HqRow{"sg_tenant_hq_macau",
              "controls-2023",
              "SG",
              {{kHq, "mo"}},
              "h100-sxm",
              Verdict::kDeny,
              "headquarters-licence-required"},
        HqRow{"de_tenant_hq_cn_diffusion",
              "diffusion-2025",
              "DE",
              {{kHq, "CN"}},
              "h100-sxm",
              Verdict::kDeny,
              "headquarters-licence-required"},
        // 3A090.b is 3A090: the rule applies to it too.
        HqRow{"sg_tenant_hq_cn_b_part",
              "controls-2023",
              "SG",
              {{kHq, "CN"}},
              "a30",
              Verdict::kDeny,
              "headquarters-licence-required"},
        // Below 3A090 (H20 by TPP): not this rule.
        HqRow{"sg_tenant_hq_cn_h20",
              "controls-2023",
              "SG",
              {{kHq, "CN"}},
              "h20",
              Verdict::kAllow,
              ""},
        // D:1/D:4-only headquarters (VN, SA) are not in the rule.
        HqRow{"sg_tenant_hq_vn",
              "controls-2023",
              "SG",
              {{kHq, "VN"}},
              "h100-sxm",
              Verdict::kAllow,
              ""},
        HqRow{"sg_tenant_hq_us",
              "controls-2023",
              "SG",
              {{kHq, "US"}},
              "h100-sxm",
              Verdict::kAllow,
              ""},
        HqRow{"sg_tenant_no_hq", "controls-2023", "SG", {}, "h100-sxm", Verdict::kAllow, ""},
        // A declared headquarters that is not a code is refused, not guessed (fail closed).
        HqRow{"sg_tenant_hq_invalid",
              "controls-2023",
              "SG",
              {{kHq, "ZZ"}},
              "h100-sxm",
              Verdict::kDeny,
              "unknown-headquarters"}),
    [](const auto& info) { return info.param.name; });

TEST(Headquarters, LicensedPolicyTenantIsAdmitted) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: hq}
spec:
  preset: controls-2023
  tenants:
    - {name: sub, jurisdiction: SG, headquarters: CN, namespaces: [sub]}
    - {name: lic, jurisdiction: SG, headquarters: CN, namespaces: [lic], authorization: licensed, licence: D77}
)",
                               "hq.yaml");
  const TenantContext sub = resolve_tenant(p, "sub", nullptr);
  EXPECT_EQ(sub.headquarters, "CN");
  EXPECT_EQ(evaluate(demand_of("h100-sxm", 1), sub, {}, p).code, "headquarters-licence-required");
  const TenantContext lic = resolve_tenant(p, "lic", nullptr);
  EXPECT_EQ(evaluate(demand_of("h100-sxm", 1), lic, {}, p).verdict, Verdict::kAllow);
}

TEST(Headquarters, PolicyTenantWinsOverTheLabel) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: hq}
spec:
  tenants:
    - {name: sub, jurisdiction: SG, headquarters: US, namespaces: [sub]}
)",
                               "hq.yaml");
  const std::map<std::string, std::string> labels{{kHq, "CN"}};
  EXPECT_EQ(resolve_tenant(p, "sub", &labels).headquarters, "US");
}

TEST(Headquarters, BadPolicyValueIsAnError) {
  EXPECT_THROW(load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: hq}
spec:
  tenants:
    - {name: sub, jurisdiction: SG, headquarters: China, namespaces: [sub]}
)",
                           "hq.yaml"),
               PolicyError);
}

TEST(Headquarters, RuleCanBeRemoved) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: hq}
spec:
  preset: controls-2023
  headquartersLicence: null
)",
                               "hq.yaml");
  EXPECT_FALSE(p.headquarters_rule.has_value());
  EXPECT_TRUE(load_preset("controls-2023").headquarters_rule.has_value());
}

}  // namespace
}  // namespace exportgate::policy

namespace exportgate::webhook {
namespace {

// The headquarters label is admin-owned like the jurisdiction: a non-admin cannot set it (that
// would let a tenant clear its own headquarters).
TEST(HeadquartersLabel, OnlyAdminsMayChangeIt) {
  auto policy = policy::load_preset("controls-2023");
  policy.admins.groups = {"admins"};
  InMemoryLedger ledger;
  nlohmann::json before = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata",
       {{"name", "team-x"},
        {"labels", {{"exportgate.io/jurisdiction", "SG"}, {"exportgate.io/headquarters", "CN"}}}}}};
  nlohmann::json after = before;
  after["metadata"]["labels"].erase("exportgate.io/headquarters");
  AdmissionRequest r = testing::namespace_update("hq-1", before, after, "dev", {"dev"});
  auto denied = handle_admission(r, Endpoint::kValidate, policy, ledger);
  EXPECT_FALSE(denied.response.allowed);
  EXPECT_EQ(denied.record["code"], "namespace-label-guard");
  r.groups = {"admins"};
  EXPECT_TRUE(handle_admission(r, Endpoint::kValidate, policy, ledger).response.allowed);
}

// LPP use does not draw down the country allocation; licensed use does (90 FR 4544). Through
// the admission path and the in-memory ledger: an LPP tenant's usage leaves the licensed
// tenant's room untouched.
TEST(AllocationLedger, LppUsageDoesNotTakeLicensedRoom) {
  auto p = policy::load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: alloc}
spec:
  jurisdictionCaps: {IN: 200000}
  tenants:
    - {name: lpp, jurisdiction: IN, namespaces: [lpp]}
    - {name: lic, jurisdiction: IN, namespaces: [lic], authorization: licensed, licence: D5}
)",
                               "alloc.yaml");
  InMemoryLedger ledger;
  auto pod = [](const std::string& ns, const std::string& name) {
    return testing::pod_create(ns + name, ns, name, testing::gpu_pod(ns, name, 8));
  };
  // LPP tenant: 126,656 TPP in use, within its 26,900,000; the allocation (200,000) is not its.
  EXPECT_TRUE(handle_admission(pod("lpp", "a"), Endpoint::kValidate, p, ledger).response.allowed);
  EXPECT_TRUE(handle_admission(pod("lpp", "b"), Endpoint::kValidate, p, ledger).response.allowed);
  // Licensed tenant: 126,656 of the 200,000 allocation, though 253,312 are in use in IN.
  EXPECT_TRUE(handle_admission(pod("lic", "a"), Endpoint::kValidate, p, ledger).response.allowed);
  // A second would draw 253,312 > 200,000.
  auto over = handle_admission(pod("lic", "b"), Endpoint::kValidate, p, ledger);
  EXPECT_FALSE(over.response.allowed);
  EXPECT_EQ(over.record["code"], "jurisdiction-cap");
}

}  // namespace
}  // namespace exportgate::webhook
