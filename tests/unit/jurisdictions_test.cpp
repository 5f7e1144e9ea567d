// Tests of the ISO 3166-1 jurisdiction table, code normalisation and lookup, and tier names.
#include "policy/jurisdictions.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "policy/tier.hpp"

namespace exportgate::policy {
namespace {

TEST(Jurisdictions, All249OfficialCodesSortedAndUnique) {
  const auto& all = all_jurisdictions();
  ASSERT_EQ(all.size(), 249u);
  std::set<std::string_view> codes;
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& j = all[i];
    ASSERT_EQ(j.code.size(), 2u);
    EXPECT_TRUE(j.code[0] >= 'A' && j.code[0] <= 'Z' && j.code[1] >= 'A' && j.code[1] <= 'Z')
        << j.code;
    EXPECT_FALSE(j.name.empty()) << j.code;
    EXPECT_TRUE(codes.insert(j.code).second) << "duplicate " << j.code;
    if (i > 0) {
      EXPECT_LT(all[i - 1].code, j.code) << "table must be sorted for binary search";
    }
  }
}

TEST(Jurisdictions, EveryCodeIsFoundByItself) {
  for (const auto& j : all_jurisdictions()) {
    auto found = find_jurisdiction(j.code);
    ASSERT_TRUE(found.has_value()) << j.code;
    EXPECT_EQ(found->code, j.code);
    EXPECT_EQ(found->name, j.name);
  }
}

struct LookupCase {
  const char* input;
  const char* code;  // "" = not found
  const char* name;
};

TEST(Jurisdictions, LookupTable) {
  const std::vector<LookupCase> cases = {
      // The tiers' members and edge cases of the rule.
      {"US", "US", "United States"},
      {"SG", "SG", "Singapore"},
      {"sg", "SG", "Singapore"},
      {"Sg", "SG", "Singapore"},
      {" de\n", "DE", "Germany"},
      {"TW", "TW", "Taiwan"},
      {"KR", "KR", "South Korea"},
      {"KP", "KP", "North Korea"},
      {"CN", "CN", "China"},
      {"HK", "HK", "Hong Kong"},
      {"MO", "MO", "Macao"},
      {"GB", "GB", "United Kingdom"},
      {"AE", "AE", "United Arab Emirates"},
      {"AQ", "AQ", "Antarctica"},
      {"AX", "AX", "Åland Islands"},
      {"ZW", "ZW", "Zimbabwe"},
      {"AD", "AD", "Andorra"},
      // Not officially assigned: user-assigned (XK Kosovo, ZZ), exceptionally reserved (UK, EU),
      // transitional (AN), and malformed inputs.
      {"XK", "", ""},
      {"UK", "", ""},
      {"EU", "", ""},
      {"AN", "", ""},
      {"ZZ", "", ""},
      {"AA", "", ""},
      {"", "", ""},
      {"S", "", ""},
      {"SGP", "", ""},
      {"S G", "", ""},
      {"1A", "", ""},
      {"\xC3\x84"
       "B",
       "", ""},
  };
  for (const auto& c : cases) {
    auto found = find_jurisdiction(c.input);
    if (std::string(c.code).empty()) {
      EXPECT_FALSE(found.has_value()) << "\"" << c.input << "\" found as " << found->code;
      continue;
    }
    ASSERT_TRUE(found.has_value()) << "\"" << c.input << "\"";
    EXPECT_EQ(found->code, c.code);
    EXPECT_EQ(found->name, c.name);
  }
}

TEST(Jurisdictions, NormalizeUpperCasesAndTrims) {
  const std::vector<std::pair<const char*, const char*>> cases =
      {
          {"sg", "SG"}, {"SG", "SG"}, {" us ", "US"},   {"\tfr\n", "FR"},
          {"xk", "XK"},  // well-formed but unassigned: normalised, lookup decides
          {"", ""},     {"s", ""},    {"usa", ""},      {"u1", ""},
          {"s g", ""},  {"--", ""},   {"\xC3\xA9", ""},
      };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(normalize_jurisdiction_code(in), out) << "\"" << in << "\"";
  }
}

TEST(Tier, DisplayNames) {
  EXPECT_EQ(tier_display("tier1"), "Tier 1");
  EXPECT_EQ(tier_display("tier2"), "Tier 2");
  EXPECT_EQ(tier_display("tier3"), "Tier 3");
  EXPECT_EQ(tier_display("tier12"), "Tier 12");
  EXPECT_EQ(tier_display(""), "unknown");
  EXPECT_EQ(tier_display("tier"), "tier");
  EXPECT_EQ(tier_display("tier2a"), "tier2a");
  EXPECT_EQ(tier_display("restricted"), "restricted");
}

}  // namespace
}  // namespace exportgate::policy
