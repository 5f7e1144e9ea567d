// Rules in force on a date, one row per dated rule with its source: the same Pod decided on
// dates either side of each change, `policy diff` between two dates, and the date warnings.
#include "policy/in_force.hpp"

#include <gtest/gtest.h>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_diff.hpp"
#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"
#include "tests/unit/support/dated_policy.hpp"
#include "tests/unit/support/pinned_demand.hpp"

namespace exportgate::policy {
namespace {

WorkloadDemand h100x8() {
  return testing::pinned_demand("h100-sxm", 8, {.name = "train"});
}

Policy on(const std::string& date) {
  return testing::current_preset_on(date);
}

struct DateRow {
  std::string name;
  std::string date;
  std::string jurisdiction;
  std::string headquarters;
  double tenant_usage;
  Verdict verdict;
  std::string code;
};
class SamePodOnADate : public ::testing::TestWithParam<DateRow> {};

TEST_P(SamePodOnADate, Decides) {
  const auto& row = GetParam();
  const Policy p = on(row.date);
  EXPECT_EQ(p.in_force_on, row.date);
  const TenantContext t = testing::acme_in_team(p, row.jurisdiction, row.headquarters);
  const Decision d = evaluate(h100x8(), t, {row.tenant_usage, 0}, p);
  EXPECT_EQ(d.verdict, row.verdict) << (d.reasons.empty() ? "" : d.reasons[0]);
  EXPECT_EQ(d.code, row.code);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, SamePodOnADate,
    ::testing::Values(
        // AI diffusion framework in force 2025-01-13 (90 FR 4544) until BIS stopped enforcing it
        // on 2025-05-13 (press release): a Tier 2 tenant past the LPP amount is denied before,
        // admitted after (India is outside D:1/D:4/D:5, 88 FR 73458).
        DateRow{"lpp_before_rescission", "2025-05-12", "IN", "", 26'800'000, Verdict::kDeny,
                "tenant-cap"},
        DateRow{"lpp_after_rescission", "2025-05-13", "IN", "", 26'800'000, Verdict::kAllow, ""},
        // Before the framework: the 2023 controls.
        DateRow{"lpp_before_framework", "2024-12-31", "IN", "", 26'800'000, Verdict::kAllow, ""},
        // Saudi Arabia (D:4): licence required under the 2023 controls, Tier 2 under the framework.
        DateRow{"sa_under_framework", "2025-03-01", "SA", "", 0, Verdict::kAllow, ""},
        DateRow{"sa_under_2023_controls", "2025-06-01", "SA", "", 0, Verdict::kDeny,
                "licence-required"},
        // Cambodia left D:5 on 2026-02-03 (Fenwick): the headquarters rule no longer reaches a
        // company headquartered there.
        DateRow{"hq_cambodia_before", "2026-02-02", "SG", "KH", 0, Verdict::kDeny,
                "headquarters-licence-required"},
        DateRow{"hq_cambodia_after", "2026-02-03", "SG", "KH", 0, Verdict::kAllow, ""}),
    [](const auto& info) { return info.param.name; });

TEST(InForce, CitationSaysWhichRuleSetAndItsStatusOnThatDate) {
  const Policy during = on("2025-03-01");
  EXPECT_NE(during.tiers.at("tier2").cited().find(
                "AI diffusion framework, 90 FR 4544 (Jan 15 2025) (in force since 2025-01-13, "
                "until 2025-05-13)"),
            std::string::npos)
      << during.tiers.at("tier2").cited();
  const Policy after = on("2026-12-01");
  EXPECT_NE(after.tiers.at("licence-required").cited().find("in force since 2023-11-17"),
            std::string::npos);
}

TEST(InForce, TodayAndBadDates) {
  LoadOptions o;
  o.in_force_on = "today";
  o.today = "2025-03-01";
  const Policy p = load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\n"
      "spec: {preset: current}\n",
      "p.yaml", o);
  EXPECT_EQ(p.in_force_on, "2025-03-01");
  EXPECT_TRUE(p.tiers.contains("tier2"));
  EXPECT_THROW(on("2023-01-01"), PolicyError);  // no data for the 2022 rule
  EXPECT_THROW(on("1 May 2025"), PolicyError);
  // In the file too.
  const Policy f = load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\n"
      "spec: {preset: current, inForceOn: \"2025-06-01\"}\n",
      "p.yaml");
  EXPECT_TRUE(f.tiers.contains("licence-required"));
}

TEST(InForce, DiffBetweenTwoDates) {
  const auto changes = diff_policies(on("2025-05-12"), on("2025-05-13"));
  bool rule_set = false, tier2_removed = false, sa = false;
  for (const auto& c : changes) {
    rule_set |= c.section == "rule-set";
    tier2_removed |= c.section == "tier" && c.key == "tier2" && c.change == "removed";
    sa |= c.section == "jurisdiction" && c.key == "SA";
  }
  EXPECT_TRUE(rule_set);
  EXPECT_TRUE(tier2_removed);
  EXPECT_TRUE(sa);
  // Within one period only the date differs.
  const auto same = diff_policies(on("2025-06-01"), on("2025-07-01"));
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0].section, "rule-set");
}

TEST(InForce, WarningsForTheDateAndTheCatalog) {
  LoadOptions o;
  o.in_force_on = "2025-06-01";
  const Policy p = load_preset("diffusion-2025", o);
  auto w = in_force_warnings(p, "2026-12-01");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("is not in force on 2025-06-01"), std::string::npos) << w[0];
  // A suspension that ended without the data saying what followed.
  Policy s = load_preset("controls-2023");
  s.in_force_on = "2026-11-20";
  s.tiers.at("licence-required").status.effective_until = "2026-11-09";
  s.tiers.at("licence-required").status.state = RuleState::kSuspended;
  s.tiers.at("licence-required").status.declared = true;
  w = in_force_warnings(s, "2026-12-01");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("scheduled to change on 2026-11-09"), std::string::npos) << w[0];
  // The catalog's as-of date against today.
  const Policy c = load_preset("controls-2023");
  EXPECT_FALSE(c.catalog.as_of.empty());
  EXPECT_TRUE(in_force_warnings(c, c.catalog.as_of).empty());
  w = in_force_warnings(c, "2099-01-01");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("more than 12 months"), std::string::npos) << w[0];
}

}  // namespace
}  // namespace exportgate::policy
