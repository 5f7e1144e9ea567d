// policy/policy_diff: the differences between two effective policies, section by section, and
// the May 2025 rescission as a diff of the shipped presets.
#include "policy/policy_diff.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "policy/policy_loader.hpp"

namespace exportgate::policy {
namespace {

const PolicyChange* find(const std::vector<PolicyChange>& changes, std::string_view section,
                         std::string_view key) {
  auto it = std::find_if(changes.begin(), changes.end(), [&](const PolicyChange& c) {
    return c.section == section && c.key == key;
  });
  return it == changes.end() ? nullptr : &*it;
}

Policy policy_with(const std::string& spec) {
  return load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata:\n  name: test\nspec:\n"
      "  preset: diffusion-2025\n" +
          spec,
      "test.yaml");
}

TEST(PolicyDiff, APresetAgainstItselfHasNoDifferences) {
  EXPECT_TRUE(diff_policies(load_preset("diffusion-2025"), load_preset("diffusion-2025")).empty());
  // A file that only names the preset differs in name and hash, not in effect.
  EXPECT_TRUE(diff_policies(load_preset("diffusion-2025"), policy_with("")).empty());
}

TEST(PolicyDiff, TheRescissionMovesTiersAndDropsTheCaps) {
  const auto changes = diff_policies(load_preset("diffusion-2025"), load_preset("controls-2023"));
  ASSERT_FALSE(changes.empty());

  // Tier 3 becomes "licence required"; Tier 2 countries fall to the unrestricted tier1; Tier 1
  // stays; D:1/D:4 countries that were Tier 2 now need a licence.
  const auto* cn = find(changes, "jurisdiction", "CN");
  ASSERT_NE(cn, nullptr);
  EXPECT_EQ(cn->before, "Tier 3");
  EXPECT_EQ(cn->after, "licence-required");
  const auto* sg = find(changes, "jurisdiction", "SG");
  ASSERT_NE(sg, nullptr);
  EXPECT_EQ(sg->before, "Tier 2");
  EXPECT_EQ(sg->after, "Tier 1");
  const auto* sa = find(changes, "jurisdiction", "SA");
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(sa->after, "licence-required");
  EXPECT_EQ(find(changes, "jurisdiction", "DE"), nullptr);
  EXPECT_EQ(find(changes, "jurisdiction", "US"), nullptr);

  const auto* tier2 = find(changes, "tier", "tier2");
  ASSERT_NE(tier2, nullptr);
  EXPECT_EQ(tier2->change, "removed");
  EXPECT_NE(tier2->before.find("tenant cap 26,900,000 TPP"), std::string::npos) << tier2->before;
  EXPECT_NE(tier2->before.find("jurisdiction cap 790,000,000 TPP"), std::string::npos);
  const auto* licence = find(changes, "tier", "licence-required");
  ASSERT_NE(licence, nullptr);
  EXPECT_EQ(licence->change, "added");
  EXPECT_NE(licence->after.find("controlled licence-required"), std::string::npos);
  const auto* tier1 = find(changes, "tier", "tier1");
  ASSERT_NE(tier1, nullptr);  // same action, new citation
  EXPECT_EQ(tier1->change, "changed");
  EXPECT_EQ(tier1->before.find("controlled"), std::string::npos) << tier1->before;
  EXPECT_NE(tier1->after.find("88 FR 73458"), std::string::npos);

  const auto* default_tier = find(changes, "settings", "defaultTier");
  ASSERT_NE(default_tier, nullptr);
  EXPECT_EQ(default_tier->before, "tier2");
  EXPECT_EQ(default_tier->after, "tier1");

  // Sections come in a fixed order: settings, then jurisdictions, then tiers.
  auto pos = [&](const PolicyChange* c) { return c - changes.data(); };
  EXPECT_LT(pos(default_tier), pos(cn));
  EXPECT_LT(pos(cn), pos(tier2));
}

TEST(PolicyDiff, ReportsCapsTenantsModeExemptionsAndAdmins) {
  const Policy a = policy_with(
      "  tenants:\n"
      "    - {name: acme, jurisdiction: SG, namespaces: [acme]}\n"
      "    - {name: gone, jurisdiction: IN, namespaces: [gone]}\n");
  const Policy b = policy_with(
      "  mode: warn\n"
      "  tiers:\n"
      "    tier2:\n"
      "      tenantCapTPP: 260000\n"
      "  jurisdictions:\n"
      "    SG: tier3\n"
      "  tenants:\n"
      "    - {name: acme, jurisdiction: SG, namespaces: [acme, acme-*]}\n"
      "    - {name: new, jurisdiction: DE, namespaces: [new]}\n"
      "  exemptions:\n"
      "    namespaces: [gpu-operator]\n"
      "  admins:\n"
      "    users: [alice@example.com]\n");
  const auto changes = diff_policies(a, b);

  const auto* mode = find(changes, "settings", "mode");
  ASSERT_NE(mode, nullptr);
  EXPECT_EQ(mode->before, "enforce");
  EXPECT_EQ(mode->after, "warn");

  const auto* sg = find(changes, "jurisdiction", "SG");
  ASSERT_NE(sg, nullptr);
  EXPECT_EQ(sg->after, "Tier 3");

  const auto* tier2 = find(changes, "tier", "tier2");
  ASSERT_NE(tier2, nullptr);
  EXPECT_EQ(tier2->change, "changed");
  EXPECT_EQ(tier2->before, "tenant cap 26,900,000 TPP");
  EXPECT_EQ(tier2->after, "tenant cap 260,000 TPP");

  const auto* acme = find(changes, "tenant", "acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->change, "changed");
  EXPECT_EQ(acme->before, "namespaces [acme]");
  EXPECT_EQ(acme->after, "namespaces [acme,acme-*]");
  ASSERT_NE(find(changes, "tenant", "gone"), nullptr);
  EXPECT_EQ(find(changes, "tenant", "gone")->change, "removed");
  ASSERT_NE(find(changes, "tenant", "new"), nullptr);
  EXPECT_EQ(find(changes, "tenant", "new")->change, "added");
  EXPECT_NE(find(changes, "tenant", "new")->after.find("jurisdiction DE"), std::string::npos);

  const auto* exempt = find(changes, "exemptions", "gpu-operator");
  ASSERT_NE(exempt, nullptr);
  EXPECT_EQ(exempt->change, "added");
  const auto* admin = find(changes, "admins", "user alice@example.com");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->change, "added");

  // And back: every change reverses.
  const auto back = diff_policies(b, a);
  EXPECT_EQ(back.size(), changes.size());
  ASSERT_NE(find(back, "tenant", "new"), nullptr);
  EXPECT_EQ(find(back, "tenant", "new")->change, "removed");
}

TEST(PolicyDiff, CatalogChangesShowClassAndTpp) {
  const Policy b = policy_with(
      "  catalog:\n"
      "    models:\n"
      "      - {id: h20, denseTops: 600}\n"
      "      - id: test-accel\n"
      "        vendor: Test\n"
      "        name: Test Accel\n"
      "        denseTops: 100\n"
      "        bitLength: 8\n"
      "        resources: [test.example.com/accel]\n");
  const auto changes = diff_policies(load_preset("diffusion-2025"), b);
  const auto* h20 = find(changes, "catalog", "h20");
  ASSERT_NE(h20, nullptr);
  EXPECT_EQ(h20->change, "changed");
  EXPECT_NE(h20->before.find("class not controlled"), std::string::npos) << h20->before;
  EXPECT_NE(h20->after.find("class 3A090.a"), std::string::npos) << h20->after;
  EXPECT_NE(h20->before.find("TPP 2,368"), std::string::npos) << h20->before;
  EXPECT_NE(h20->after.find("TPP 4,800"), std::string::npos) << h20->after;
  const auto* added = find(changes, "catalog", "test-accel");
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->change, "added");
  EXPECT_EQ(added->after, "Test Accel, 800 TPP, not controlled");
}

}  // namespace
}  // namespace exportgate::policy
