// Dates and status of rule sets and rules, one row per preset rule with its source, and the
// citation every decision carries (e.g. "AI diffusion framework, 90 FR 4544 (Jan 15 2025) (not
// enforced since 2025-05-13)").
#include "policy/rule_status.hpp"

#include <gtest/gtest.h>

#include "policy/errors.hpp"
#include "policy/policy_loader.hpp"

namespace exportgate::policy {
namespace {

TEST(RuleStatus, Texts) {
  RuleStatus s;
  s.state = RuleState::kNotEnforced;
  s.since = "2025-05-13";
  EXPECT_EQ(status_text(s), "not enforced since 2025-05-13");
  s.state = RuleState::kInForce;
  s.since.clear();
  s.effective_from = "2023-11-17";
  EXPECT_EQ(status_text(s), "in force since 2023-11-17");
  s.state = RuleState::kSuspended;
  s.since = "2025-11-10";
  s.effective_until = "2026-11-09";
  EXPECT_EQ(status_text(s), "suspended since 2025-11-10, until 2026-11-09");
  EXPECT_EQ(parse_rule_state("superseded"), RuleState::kSuperseded);
  EXPECT_EQ(parse_rule_state("rescinded"), std::nullopt);
}

TEST(RuleStatus, Dates) {
  EXPECT_TRUE(valid_iso_date("2025-05-13"));
  EXPECT_TRUE(valid_iso_date("2024-02-29"));
  EXPECT_FALSE(valid_iso_date("2025-02-29"));
  EXPECT_FALSE(valid_iso_date("2025-13-01"));
  EXPECT_FALSE(valid_iso_date("13 May 2025"));
}

// One row per preset: the rule set, its status and where the status comes from.
struct PresetRow {
  std::string preset;
  std::string rule_set;  // what policy show and every citation say
  RuleState state;
  std::string source_part;
};
class PresetStatus : public ::testing::TestWithParam<PresetRow> {};

TEST_P(PresetStatus, IsStatedAndCited) {
  const auto& row = GetParam();
  const Policy p = load_preset(row.preset);
  EXPECT_EQ(rule_set_text(p.rule_set), row.rule_set);
  EXPECT_EQ(p.rule_set.status.state, row.state);
  EXPECT_NE(p.rule_set.status.source.find(row.source_part), std::string::npos)
      << p.rule_set.status.source;
  for (const auto& [name, t] : p.tiers) {
    EXPECT_NE(t.cited().find(row.rule_set), std::string::npos) << name << ": " << t.cited();
  }
  ASSERT_TRUE(p.headquarters_rule.has_value());
  EXPECT_NE(p.headquarters_rule->cited().find("(in force since 2023-11-17)"), std::string::npos)
      << p.headquarters_rule->cited();
}

INSTANTIATE_TEST_SUITE_P(
    Presets, PresetStatus,
    ::testing::Values(
        // BIS press release 2025-05-13: not enforced (Alston, Akin); GAO B-337935.
        PresetRow{"diffusion-2025",
                  "AI diffusion framework, 90 FR 4544 (Jan 15 2025) (not enforced since "
                  "2025-05-13)",
                  RuleState::kNotEnforced, "2025-05-13"},
        // 88 FR 73458, licence requirements in force 2023-11-17 and still in force.
        PresetRow{"controls-2023",
                  "Advanced computing rule of October 2023, 88 FR 73458 (Oct 25 2023), "
                  "corrected 89 FR 23876 (Apr 4 2024) (in force since 2023-11-17)",
                  RuleState::kInForce, "Sipoch"}),
    [](const auto& info) {
      return info.param.preset == "diffusion-2025" ? std::string("diffusion")
                                                   : std::string("controls");
    });

TEST(RuleStatus, PolicyMayStateARuleStatusAndItIsCitedOnce) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: s}
spec:
  tiers:
    tier3:
      status: superseded
      statusSince: "2025-05-13"
)",
                               "s.yaml");
  const std::string& c = p.tiers.at("tier3").cited();
  EXPECT_NE(c.find("Macau (superseded since 2025-05-13); rule set: AI diffusion framework"),
            std::string::npos)
      << c;
  // Loading a preset and a policy on top never repeats the rule set.
  EXPECT_EQ(c.find("rule set:"), c.rfind("rule set:")) << c;
}

TEST(RuleStatus, BadDateOrStateIsAnError) {
  EXPECT_THROW(load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: s}
spec:
  ruleSet: {name: x, status: rescinded}
)",
                           "s.yaml"),
               PolicyError);
  EXPECT_THROW(load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: s}
spec:
  ruleSet: {name: x, effectiveFrom: "13 May 2025"}
)",
                           "s.yaml"),
               PolicyError);
}

}  // namespace
}  // namespace exportgate::policy
