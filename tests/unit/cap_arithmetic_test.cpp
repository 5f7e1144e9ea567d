// The diffusion caps' arithmetic (90 FR 4544), one row per rule with its source: which parts
// count (3A090.a only), which use counts against the country allocation (licensed, not LPP),
// and the per-tenant LPP amount. The worked examples of docs/policy.md step 5 are the rows here.
#include <gtest/gtest.h>

#include <string>

#include "policy/evaluate.hpp"
#include "policy/policy_loader.hpp"
#include "tests/unit/support/pinned_demand.hpp"

namespace exportgate::policy {
namespace {

const Policy& diffusion() {
  static const Policy p = load_preset("diffusion-2025");
  return p;
}

// `count` devices of catalog model `id` in one pod, as extract_demand charges a pinned request.
WorkloadDemand demand_of(const std::string& id, double count) {
  return testing::pinned_demand(id, count, {.resource = "example.com/accel"});
}

TenantContext tenant(std::string code, Authorization auth) {
  TenantContext t;
  t.tenant = "acme";
  t.jurisdiction = code;
  t.tier = diffusion().tier_of(code);
  t.authorization = auth;
  if (auth == Authorization::kLicensed) t.licence = "D100";
  return t;
}

// Which parts the caps count. Source: "the country allocations, LPP and the per-company
// allocations count only 3A090.a / 4A090.a and their .z items" (WTTL,
// https://www.wttlonline.com/stories/ai-diffusion-rule-proposed,13326).
struct PartRow {
  std::string model;
  ExportClass cls;
  bool counted;
};
class PartsCounted : public ::testing::TestWithParam<PartRow> {};

TEST_P(PartsCounted, OnlyThreeA090aDrawsTheCaps) {
  const auto& row = GetParam();
  const WorkloadDemand w = demand_of(row.model, 8);
  ASSERT_EQ(w.max_class, row.cls) << row.model;
  // A tenant with the LPP amount all but used: a counted part is denied, an uncounted one passes.
  const Decision d = evaluate(w, tenant("SG", Authorization::kNone), {26'899'999, 0}, diffusion());
  EXPECT_EQ(d.verdict == Verdict::kDeny, row.counted) << row.model;
  EXPECT_EQ(d.requested_tpp > 0, row.counted) << row.model;
  EXPECT_EQ(capped_tpp(w) > 0, row.counted) << row.model;
  // Tier 3: the rule still denies a .b part (it is 3A090, only outside the caps).
  const Decision cn = evaluate(w, tenant("CN", Authorization::kNone), {}, diffusion());
  EXPECT_EQ(cn.verdict, Verdict::kDeny) << row.model;
}

INSTANTIATE_TEST_SUITE_P(Catalog, PartsCounted,
                         ::testing::Values(PartRow{"a30", ExportClass::k3A090b, false},
                                           PartRow{"tpu-v5e", ExportClass::k3A090b, false},
                                           PartRow{"trainium", ExportClass::k3A090b, false},
                                           PartRow{"inferentia2", ExportClass::k3A090b, false},
                                           PartRow{"h100-sxm", ExportClass::k3A090a, true},
                                           PartRow{"a100", ExportClass::k3A090a, true}),
                         [](const auto& info) {
                           std::string n = info.param.model;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(PartsCounted, MixedPodChargesOnlyTheAPart) {
  WorkloadDemand w = demand_of("h100-sxm", 1);
  const WorkloadDemand b = demand_of("a30", 4);
  w.pod_sets[0].accelerators.push_back(b.pod_sets[0].accelerators[0]);
  w.controlled_tpp += b.controlled_tpp;
  EXPECT_DOUBLE_EQ(capped_tpp(w), 15'832);  // 1 x H100; the 4 x A30 (2,640 TPP each) are outside
}

// Which use counts against the country allocation, per authorisation. Sources: LPP shipments do
// not count against it (White House fact sheet quoted by
// https://www.benton.org/headlines/ensuring-us-security-and-economic-strength-age-artificial-intelligence);
// licences draw it down, presumption of approval until it is used up
// (https://strtrade.com/trade-news-resources/str-trade-report/trade-report/2025_/january_/tougher-export-controls-new-license-exceptions-aim-to-protect-ai);
// NVEU allocations do not count towards it (15 CFR 748.15).
struct UseRow {
  std::string name;
  Authorization auth;
  double tenant_usage;
  double allocation_usage;  // licensed use already drawn in the country
  Verdict verdict;
  std::string code;
  bool draws;
};
class AllocationUse : public ::testing::TestWithParam<UseRow> {};

TEST_P(AllocationUse, Decides) {
  const auto& row = GetParam();
  TenantContext t = tenant("IN", row.auth);
  if (row.auth == Authorization::kValidatedEndUser) t.tenant_cap_tpp = 100'000'000;
  // 8 x H100 = 126,656 TPP.
  const Decision d =
      evaluate(demand_of("h100-sxm", 8), t, {row.tenant_usage, row.allocation_usage}, diffusion());
  EXPECT_EQ(d.verdict, row.verdict) << (d.reasons.empty() ? "" : d.reasons[0]);
  EXPECT_EQ(d.code, row.code);
  EXPECT_EQ(d.draws_allocation, row.draws);
}

INSTANTIATE_TEST_SUITE_P(
    Diffusion2025, AllocationUse,
    ::testing::Values(
        // LPP: 26,900,000 per tenant; the allocation, even when used up, does not limit it.
        UseRow{"lpp_allocation_used_up", Authorization::kNone, 0, 790'000'000, Verdict::kAllow, "",
               false},
        UseRow{"lpp_over_its_amount", Authorization::kNone, 26'800'000, 0, Verdict::kDeny,
               "tenant-cap", false},
        // Licence: no LPP amount; draws the allocation and is denied once it is used up.
        UseRow{"licence_beyond_lpp_amount", Authorization::kLicensed, 500'000'000, 0,
               Verdict::kAllow, "", true},
        UseRow{"licence_allocation_room_left", Authorization::kLicensed, 0, 789'873'344,
               Verdict::kWarn, "", true},
        UseRow{"licence_allocation_used_up", Authorization::kLicensed, 0, 789'873'345,
               Verdict::kDeny, "jurisdiction-cap", true},
        // Validated end user: its own cap only; not the allocation.
        UseRow{"veu_allocation_used_up", Authorization::kValidatedEndUser, 0, 790'000'000,
               Verdict::kAllow, "", false}),
    [](const auto& info) { return info.param.name; });

TEST(AllocationUse, TenantsThatDrawAreTheLicensedOnesOfThatJurisdiction) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: t}
spec:
  tenants:
    - {name: lic-in, jurisdiction: IN, namespaces: [a], authorization: licensed, licence: D1}
    - {name: lpp-in, jurisdiction: IN, namespaces: [b]}
    - {name: lic-sg, jurisdiction: SG, namespaces: [c], authorization: licensed, licence: D2}
)",
                               "t.yaml");
  EXPECT_EQ(allocation_tenants(p, "IN"), std::vector<std::string>{"lic-in"});
  EXPECT_EQ(allocation_tenants(p, "SG"), std::vector<std::string>{"lic-sg"});
  EXPECT_TRUE(allocation_tenants(p, "FR").empty());
}

}  // namespace
}  // namespace exportgate::policy
