// Policy loading: both presets and the tier of every kind of jurisdiction, overrides merging onto
// a preset, and every validation error path (fixtures under tests/fixtures/policies/bad, each
// carrying its expected "# expect: line:col: message" lines).
#include "policy/policy_loader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "policy/errors.hpp"

namespace exportgate::policy {
namespace {

namespace fs = std::filesystem;

fs::path fixtures() {
  return fs::path(EXPORTGATE_SOURCE_DIR) / "tests/fixtures/policies";
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Policy load_fixture(const std::string& relative) {
  return load_policy(read_text(fixtures() / relative), relative);
}

TEST(Diagnostic, FormatsFileLineColumn) {
  EXPECT_EQ((Diagnostic{"p.yaml", 3, 7, "bad"}).to_string(), "p.yaml:3:7: bad");
  EXPECT_EQ((Diagnostic{"p.yaml", 0, 0, "bad"}).to_string(), "p.yaml: bad");
}

TEST(PolicyError, WhatListsEveryDiagnosticOnItsOwnLine) {
  PolicyError e({{"a.yaml", 1, 2, "first"}, {"a.yaml", 3, 4, "second"}});
  EXPECT_STREQ(e.what(), "a.yaml:1:2: first\na.yaml:3:4: second");
  EXPECT_EQ(e.diagnostics().size(), 2u);
}

TEST(Presets, NamesAndBothLoad) {
  const auto names = preset_names();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_NE(std::find(names.begin(), names.end(), "current"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "diffusion-2025"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "controls-2023"), names.end());
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const Policy p = load_preset(name);
    EXPECT_EQ(p.name, name);
    EXPECT_EQ(p.preset, name);
    EXPECT_EQ(p.hash.size(), 16u);
    EXPECT_EQ(p.mode, Mode::kEnforce);
    EXPECT_EQ(p.unknown_jurisdiction, ControlledAction::kDeny);
    EXPECT_FALSE(p.unknown_jurisdiction_rule.empty());
    EXPECT_EQ(p.exempt_namespaces, std::vector<std::string>{"kube-system"});
    EXPECT_EQ(p.admins.groups, std::vector<std::string>{"system:masters"});
    EXPECT_FALSE(p.catalog.models.empty()) << "presets start from the built-in catalog";
    EXPECT_FALSE(p.workload_kinds.empty()) << "presets start from the built-in workload kinds";
    for (const auto& [tier, limits] : p.tiers) EXPECT_FALSE(limits.rule.empty()) << tier;
  }
}

TEST(Presets, UnknownPresetThrows) {
  EXPECT_THROW(load_preset("diffusion-2024"), PolicyError);
  EXPECT_THROW(load_preset("none"), PolicyError);
}

struct TierCase {
  std::string preset;
  std::string code;
  std::string tier;
};

class PresetTiers : public ::testing::TestWithParam<TierCase> {};

TEST_P(PresetTiers, TierOfJurisdiction) {
  const auto& c = GetParam();
  const Policy p = load_preset(c.preset);
  EXPECT_EQ(p.tier_of(c.code), c.tier) << c.preset << " " << c.code;
}

INSTANTIATE_TEST_SUITE_P(
    Diffusion2025, PresetTiers,
    ::testing::Values(
        TierCase{"diffusion-2025", "US", "tier1"}, TierCase{"diffusion-2025", "DE", "tier1"},
        TierCase{"diffusion-2025", "de", "tier1"},  // case-insensitive
        TierCase{"diffusion-2025", "TW", "tier1"}, TierCase{"diffusion-2025", "GB", "tier1"},
        TierCase{"diffusion-2025", "IN", "tier2"}, TierCase{"diffusion-2025", "SG", "tier2"},
        TierCase{"diffusion-2025", "AE", "tier2"}, TierCase{"diffusion-2025", "IL", "tier2"},
        TierCase{"diffusion-2025", "CN", "tier3"}, TierCase{"diffusion-2025", "HK", "tier3"},
        TierCase{"diffusion-2025", "MO", "tier3"}, TierCase{"diffusion-2025", "RU", "tier3"},
        TierCase{"diffusion-2025", "IR", "tier3"},
        TierCase{"diffusion-2025", "XX", ""},  // not an assigned code
        TierCase{"diffusion-2025", "USA", ""}, TierCase{"diffusion-2025", "", ""}));

INSTANTIATE_TEST_SUITE_P(Controls2023, PresetTiers,
                         ::testing::Values(TierCase{"controls-2023", "US", "tier1"},
                                           TierCase{"controls-2023", "DE", "tier1"},
                                           TierCase{"controls-2023", "IN", "tier1"},
                                           TierCase{"controls-2023", "SG", "tier1"},
                                           TierCase{"controls-2023", "IL", "tier1"},  // D:4 but A:6
                                           TierCase{"controls-2023", "AE", "licence-required"},
                                           TierCase{"controls-2023", "SA", "licence-required"},
                                           TierCase{"controls-2023", "VN", "licence-required"},
                                           TierCase{"controls-2023", "CN", "licence-required"},
                                           TierCase{"controls-2023", "HK", "licence-required"},
                                           TierCase{"controls-2023", "MO", "licence-required"},
                                           TierCase{"controls-2023", "RU", "licence-required"},
                                           TierCase{"controls-2023", "XX", ""},
                                           TierCase{"controls-2023", "", ""}));

TEST(Presets, Diffusion2025Limits) {
  const Policy p = load_preset("diffusion-2025");
  EXPECT_EQ(p.default_tier, "tier2");
  ASSERT_EQ(p.tiers.size(), 3u);
  const TierLimits* t1 = p.limits_of("tier1");
  const TierLimits* t2 = p.limits_of("tier2");
  const TierLimits* t3 = p.limits_of("tier3");
  ASSERT_TRUE(t1 && t2 && t3);
  EXPECT_EQ(t1->controlled, ControlledAction::kAllow);
  EXPECT_EQ(t2->controlled, ControlledAction::kCap);
  EXPECT_EQ(t2->tenant_cap_tpp, 26'900'000.0);
  EXPECT_EQ(t2->jurisdiction_cap_tpp, 790'000'000.0);
  EXPECT_NE(t2->rule.find("740.29"), std::string::npos);
  EXPECT_EQ(t3->controlled, ControlledAction::kDeny);
  EXPECT_FALSE(t3->licence_required);
  EXPECT_NE(t3->rule.find("90 FR 4544"), std::string::npos);
  EXPECT_EQ(p.limits_of(""), nullptr);
  EXPECT_EQ(p.limits_of("tier9"), nullptr);
  EXPECT_EQ(p.jurisdiction_cap("IN"), 790'000'000.0);
  EXPECT_EQ(p.jurisdiction_cap("US"), std::nullopt);  // tier1 has no cap
  EXPECT_EQ(p.jurisdiction_cap("XX"), std::nullopt);
  // The 18 Tier 1 countries plus the US.
  const auto tier1 = std::count_if(p.jurisdiction_tiers.begin(), p.jurisdiction_tiers.end(),
                                   [](const auto& e) { return e.second == "tier1"; });
  EXPECT_EQ(tier1, 19);
}

TEST(Presets, Controls2023Limits) {
  const Policy p = load_preset("controls-2023");
  EXPECT_EQ(p.default_tier, "tier1");
  const TierLimits* lr = p.limits_of("licence-required");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->controlled, ControlledAction::kDeny);
  EXPECT_TRUE(lr->licence_required);
  EXPECT_NE(lr->rule.find("88 FR 73458"), std::string::npos);
  for (const auto& [name, limits] : p.tiers) {
    EXPECT_NE(limits.controlled, ControlledAction::kCap) << "no Tier 2 caps in " << name;
  }
}

TEST(Fixtures, EveryGoodPolicyLoads) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(fixtures() / "good")) {
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_policy(read_text(entry.path()), entry.path().filename().string()));
    ++count;
  }
  EXPECT_GE(count, 4);
}

TEST(Overrides, MergeOntoPreset) {
  const Policy p = load_fixture("good/acme-cloud.yaml");
  EXPECT_EQ(p.name, "acme-cloud");
  EXPECT_EQ(p.preset, "diffusion-2025");
  EXPECT_DOUBLE_EQ(p.near_cap_warning_ratio, 0.8);
  // Maps merge by key: one jurisdiction moved, the rest stay.
  EXPECT_EQ(p.tier_of("AE"), "tier1");
  EXPECT_EQ(p.tier_of("SG"), "tier2");
  EXPECT_EQ(p.tier_of("CN"), "tier3");
  EXPECT_EQ(p.tier_of("DE"), "tier1");
  // Tier fields merge: the tenant cap changes, the country cap and rule stay.
  const TierLimits* t2 = p.limits_of("tier2");
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->controlled, ControlledAction::kCap);
  EXPECT_EQ(t2->tenant_cap_tpp, 10'000'000.0);
  EXPECT_EQ(t2->jurisdiction_cap_tpp, 790'000'000.0);
  EXPECT_NE(t2->rule.find("740.29"), std::string::npos);
  EXPECT_EQ(p.jurisdiction_cap("IN"), 1'580'000'000.0);
  EXPECT_EQ(p.jurisdiction_cap("SG"), 790'000'000.0);
  // Lists append.
  EXPECT_EQ(p.exempt_namespaces,
            (std::vector<std::string>{"kube-system", "gpu-operator", "monitoring-*"}));
  EXPECT_EQ(p.admins.groups, (std::vector<std::string>{"system:masters", "acme:platform"}));
  EXPECT_EQ(p.admins.users, std::vector<std::string>{"alice@acme.example"});
  ASSERT_EQ(p.tenants.size(), 3u);
  EXPECT_EQ(p.tenants[0].name, "acme-sg");
  EXPECT_EQ(p.tenants[0].jurisdiction, "SG");
  EXPECT_EQ(p.tenants[0].namespaces, (std::vector<std::string>{"acme-sg", "acme-sg-*"}));
  EXPECT_EQ(p.tenants[0].authorization, Authorization::kNone);
  EXPECT_EQ(p.tenants[1].authorization, Authorization::kValidatedEndUser);
  EXPECT_EQ(p.tenants[1].cap_tpp, 5'000'000.0);
  EXPECT_EQ(p.tenants[1].licence, "NVEU-2025-017");
  EXPECT_EQ(p.tenants[2].authorization, Authorization::kLicensed);
  EXPECT_EQ(p.tenants[2].licence, "D123456");
}

TEST(Overrides, PresetNoneHasOnlyWhatThePolicySays) {
  const Policy p = load_fixture("good/none-custom-tiers.yaml");
  EXPECT_EQ(p.preset, "");
  EXPECT_EQ(p.mode, Mode::kAudit);
  EXPECT_EQ(p.tiers.size(), 2u);
  EXPECT_EQ(p.tier_of("US"), "home");
  EXPECT_EQ(p.tier_of("DE"), "abroad");
  EXPECT_EQ(p.tier_of("FR"), "") << "no default tier: unlisted codes are unknown";
  EXPECT_TRUE(p.exempt_namespaces.empty());
  EXPECT_TRUE(p.admins.groups.empty());
  EXPECT_FALSE(p.catalog.models.empty()) << "the hardware catalog is not policy";
}

TEST(Overrides, ScalarsReplaceAndNullRemovesACap) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: loose}
spec:
  preset: diffusion-2025
  mode: warn
  workloadEarlyCheck: false
  tiers:
    tier2: {tenantCapTPP: null}
)",
                               "loose.yaml");
  EXPECT_EQ(p.mode, Mode::kWarn);
  EXPECT_FALSE(p.workload_early_check);
  const TierLimits* t2 = p.limits_of("tier2");
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->tenant_cap_tpp, std::nullopt);
  EXPECT_EQ(t2->jurisdiction_cap_tpp, 790'000'000.0);
}

TEST(Overrides, CatalogAndWorkloadKindsExtendTheBuiltIns) {
  const Policy base = load_preset("diffusion-2025");
  const Policy p = load_fixture("good/catalog-and-kinds.yaml");
  const AcceleratorModel* npu = p.catalog.find_model("acme-npu");
  ASSERT_NE(npu, nullptr);
  EXPECT_DOUBLE_EQ(npu->tpp, 8'000);  // 1,000 dense TOPS x 8 bits, computed not typed
  EXPECT_NE(p.catalog.find_model("h100-sxm"), nullptr) << "built-in models stay";
  EXPECT_EQ(p.catalog.models.size(), base.catalog.models.size() + 1);
  EXPECT_EQ(p.workload_kinds.size(), base.workload_kinds.size() + 1);
  EXPECT_TRUE(std::any_of(p.workload_kinds.begin(), p.workload_kinds.end(),
                          [](const WorkloadKind& k) { return k.kind == "TrainingRun"; }));
  EXPECT_NE(p.hash, base.hash);
}

TEST(Hash, StableAndSensitiveToContent) {
  const std::string text = read_text(fixtures() / "good/acme-cloud.yaml");
  const Policy a = load_policy(text, "a.yaml");
  const Policy b = load_policy(text, "b.yaml");
  EXPECT_EQ(a.hash.size(), 16u);
  EXPECT_EQ(a.hash, b.hash) << "the file name is not part of the policy";
  EXPECT_TRUE(std::all_of(a.hash.begin(), a.hash.end(),
                          [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }));
  std::string changed = text;
  changed.replace(changed.find("10000000"), 8, "10000001");
  EXPECT_NE(load_policy(changed, "a.yaml").hash, a.hash);
  EXPECT_NE(load_preset("diffusion-2025").hash, load_preset("controls-2023").hash);
  EXPECT_EQ(load_preset("diffusion-2025").hash, load_preset("diffusion-2025").hash);
}

// One expected diagnostic: "# expect: LINE:COL: message substring".
struct Expected {
  int line;
  int column;
  std::string message;
};

std::vector<Expected> expectations(const std::string& text) {
  static const std::regex re(R"(^# expect: (\d+):(\d+): (.*)$)");
  std::vector<Expected> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, re)) out.push_back({std::stoi(m[1]), std::stoi(m[2]), m[3]});
  }
  return out;
}

std::vector<std::string> bad_fixtures() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fixtures() / "bad")) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class BadPolicy : public ::testing::TestWithParam<std::string> {};

TEST_P(BadPolicy, ReportsEveryErrorWithItsPosition) {
  const std::string name = GetParam();
  const std::string text = read_text(fixtures() / "bad" / name);
  const auto expected = expectations(text);
  ASSERT_FALSE(expected.empty()) << name << " has no '# expect:' line";
  try {
    load_policy(text, name);
    FAIL() << name << " loaded without error";
  } catch (const PolicyError& e) {
    std::string all;
    for (const auto& d : e.diagnostics()) all += d.to_string() + "\n";
    EXPECT_EQ(e.diagnostics().size(), expected.size()) << all;
    for (const auto& x : expected) {
      const bool found =
          std::any_of(e.diagnostics().begin(), e.diagnostics().end(), [&](const Diagnostic& d) {
            return d.file == name && d.line == x.line && d.column == x.column &&
                   d.message.find(x.message) != std::string::npos;
          });
      EXPECT_TRUE(found) << "expected " << x.line << ":" << x.column << ": " << x.message
                         << "\ngot:\n"
                         << all;
    }
    EXPECT_NE(std::string(e.what()).find(name + ":"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BadPolicy, ::testing::ValuesIn(bad_fixtures()),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.find('.'));
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(BadPolicy, UnknownFieldListsAllowedKeys) {
  try {
    load_fixture("bad/unknown-field.yaml");
    FAIL();
  } catch (const PolicyError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_NE(e.diagnostics()[0].message.find("allowed: preset, mode"), std::string::npos)
        << e.diagnostics()[0].message;
  }
}

}  // namespace
}  // namespace exportgate::policy
