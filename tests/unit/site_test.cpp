// spec.site: the country allocation attaches to where the chips are installed (90 FR 4544: the
// allocation counts shipments into a country; reference section 7, "Who and where"), while the
// tenant's jurisdiction and headquarters keep deciding access. Each test fails on the code before
// `site` (the field was an unknown key, and the allocation was the tenant's jurisdiction's).
#include "policy/site.hpp"

#include <gtest/gtest.h>

#include "policy/catalog.hpp"
#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"
#include "tests/unit/support/pinned_demand.hpp"

namespace exportgate::policy {
namespace {

Policy with_site(const std::string& site) {
  return load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n"
      "  preset: diffusion-2025\n  site: " +
          site +
          "\n  tenants:\n"
          "    - {name: sg-co, jurisdiction: SG, namespaces: [sg], authorization: licensed, "
          "licence: D1}\n"
          "    - {name: ae-co, jurisdiction: AE, namespaces: [ae], authorization: licensed, "
          "licence: D2}\n"
          "    - {name: in-lpp, jurisdiction: IN, namespaces: [in]}\n",
      "p.yaml");
}

WorkloadDemand h100x8() {
  return testing::pinned_demand("h100-sxm", 8, {.name = "train", .namespace_ = "sg"});
}

TEST(Site, LoadedNormalisedAndValidated) {
  EXPECT_EQ(with_site("in").site, "IN");
  EXPECT_EQ(with_site("\"\"").site, "");
  EXPECT_THROW(with_site("XX"), PolicyError);
  EXPECT_THROW(with_site("[IN]"), PolicyError);
  EXPECT_NE(with_site("IN").hash, with_site("US").hash);
}

TEST(Site, AllocationKeyIsTheSiteForEveryTenant) {
  const Policy p = with_site("IN");
  EXPECT_EQ(allocation_key(p, "SG"), "IN");
  EXPECT_EQ(allocation_key(p, "AE"), "IN");
  EXPECT_EQ(allocation_key(p, ""), "");  // unknown jurisdiction: charged nowhere (denied)
  EXPECT_EQ(allocation_tenants(p, "IN"), (std::vector<std::string>{"sg-co", "ae-co"}));
  const Policy none = load_preset("diffusion-2025");
  EXPECT_EQ(allocation_key(none, "SG"), "SG");
}

// Worked example (docs/policy.md, "Site"): site IN, allocation 790,000,000 TPP; licensed tenants
// of SG and AE both draw it down. 789,873,345 drawn + 126,656 = 790,000,001 > 790,000,000.
TEST(Site, LicensedTenantsOfOtherJurisdictionsDrawTheSitesAllocation) {
  const Policy p = with_site("IN");
  const TenantContext sg = resolve_tenant(p, "sg", nullptr);
  const Decision over = evaluate(h100x8(), sg, {0, 789'873'345}, p);
  EXPECT_EQ(over.verdict, Verdict::kDeny);
  EXPECT_EQ(over.code, "jurisdiction-cap");
  ASSERT_FALSE(over.reasons.empty());
  EXPECT_NE(over.reasons[0].find("country allocation for IN (site)"), std::string::npos)
      << over.reasons[0];
  const Decision exact = evaluate(h100x8(), sg, {0, 789'873'344}, p);
  EXPECT_EQ(exact.verdict, Verdict::kWarn);  // reaching it exactly is allowed, near the cap
  EXPECT_TRUE(exact.draws_allocation);
}

TEST(Site, ATier1SiteHasNoCountryAllocation) {
  const Policy p = with_site("US");
  const TenantContext sg = resolve_tenant(p, "sg", nullptr);
  const Decision d = evaluate(h100x8(), sg, {0, 5'000'000'000}, p);
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_FALSE(d.jurisdiction_cap_tpp.has_value());
  EXPECT_FALSE(d.draws_allocation);
}

TEST(Site, AccessRulesStayWithTheTenant) {
  // A site in Tier 1 does not open Tier 3 access, nor lift LPP for an unlicensed tenant.
  Policy p = with_site("US");
  std::map<std::string, std::string> cn{{std::string(kJurisdictionLabel), "CN"}};
  EXPECT_EQ(evaluate(h100x8(), resolve_tenant(p, "x", &cn), {}, p).code, "tier-prohibited");
  const TenantContext lpp = resolve_tenant(p, "in", nullptr);
  EXPECT_EQ(evaluate(h100x8(), lpp, {26'800'000, 0}, p).code, "tenant-cap");
}

}  // namespace
}  // namespace exportgate::policy
