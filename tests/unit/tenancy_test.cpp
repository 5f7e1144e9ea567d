// Tenant resolution: the policy's tenant list wins over namespace labels, labels fill in the
// rest, invalid labels leave the jurisdiction unknown, exemptions are flagged.
#include "policy/tenancy.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/policy_loader.hpp"

namespace exportgate::policy {
namespace {

const Policy& acme() {
  static const Policy p = [] {
    const auto path = std::filesystem::path(EXPORTGATE_SOURCE_DIR) /
                      "tests/fixtures/policies/good/acme-cloud.yaml";
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return load_policy(text.str(), "acme-cloud.yaml");
  }();
  return p;
}

struct TenancyCase {
  std::string name;
  std::string ns;
  std::map<std::string, std::string> labels;
  std::string tenant;
  std::string jurisdiction;
  std::string tier;
  Authorization authorization = Authorization::kNone;
  bool exempt = false;
  std::string source_contains;
  std::string error_contains;  // "" = no jurisdiction error expected
};

class Tenancy : public ::testing::TestWithParam<TenancyCase> {};

TEST_P(Tenancy, Resolves) {
  const auto& c = GetParam();
  const TenantContext ctx = resolve_tenant(acme(), c.ns, &c.labels);
  EXPECT_EQ(ctx.tenant, c.tenant);
  EXPECT_EQ(ctx.jurisdiction, c.jurisdiction);
  EXPECT_EQ(ctx.tier, c.tier);
  EXPECT_EQ(ctx.authorization, c.authorization);
  EXPECT_EQ(ctx.exempt, c.exempt);
  EXPECT_NE(ctx.source.find(c.source_contains), std::string::npos) << ctx.source;
  if (c.error_contains.empty()) {
    EXPECT_EQ(ctx.jurisdiction_error, "");
  } else {
    EXPECT_NE(ctx.jurisdiction_error.find(c.error_contains), std::string::npos)
        << ctx.jurisdiction_error;
  }
}

const std::string kJ(kJurisdictionLabel);
const std::string kT(kTenantLabel);

INSTANTIATE_TEST_SUITE_P(Cases, Tenancy,
                         ::testing::Values(TenancyCase{"policy_exact",
                                                       "acme-sg",
                                                       {},
                                                       "acme-sg",
                                                       "SG",
                                                       "tier2",
                                                       Authorization::kNone,
                                                       false,
                                                       "policy tenant acme-sg",
                                                       ""},
                                           TenancyCase{"policy_glob",
                                                       "acme-sg-dev",
                                                       {},
                                                       "acme-sg",
                                                       "SG",
                                                       "tier2",
                                                       Authorization::kNone,
                                                       false,
                                                       "policy tenant",
                                                       ""},
                                           TenancyCase{"policy_beats_label",
                                                       "acme-sg",
                                                       {{kJ, "US"}},
                                                       "acme-sg",
                                                       "SG",
                                                       "tier2",
                                                       Authorization::kNone,
                                                       false,
                                                       "policy tenant",
                                                       ""},
                                           TenancyCase{"policy_licensed",
                                                       "bj-lab",
                                                       {},
                                                       "beijing-lab",
                                                       "CN",
                                                       "tier3",
                                                       Authorization::kLicensed,
                                                       false,
                                                       "policy tenant",
                                                       ""},
                                           TenancyCase{"label_jurisdiction",
                                                       "team-x",
                                                       {{kJ, "de"}},
                                                       "team-x",
                                                       "DE",
                                                       "tier1",
                                                       Authorization::kNone,
                                                       false,
                                                       "namespace label",
                                                       ""},
                                           TenancyCase{"label_tier2",
                                                       "team-y",
                                                       {{kJ, "IN"}, {kT, "yco"}},
                                                       "yco",
                                                       "IN",
                                                       "tier2",
                                                       Authorization::kNone,
                                                       false,
                                                       "namespace label",
                                                       ""},
                                           TenancyCase{"label_names_policy_tenant",
                                                       "other",
                                                       {{kT, "gulf-veu"}, {kJ, "US"}},
                                                       "gulf-veu",
                                                       "SA",
                                                       "tier2",
                                                       Authorization::kValidatedEndUser,
                                                       false,
                                                       "policy tenant gulf-veu",
                                                       ""},
                                           TenancyCase{"label_unassigned_code",
                                                       "team-z",
                                                       {{kJ, "XX"}},
                                                       "team-z",
                                                       "",
                                                       "",
                                                       Authorization::kNone,
                                                       false,
                                                       "namespace label",
                                                       "\"XX\""},
                                           TenancyCase{"label_three_letters",
                                                       "team-z",
                                                       {{kJ, "USA"}},
                                                       "team-z",
                                                       "",
                                                       "",
                                                       Authorization::kNone,
                                                       false,
                                                       "namespace label",
                                                       "\"USA\""},
                                           TenancyCase{"nothing_known",
                                                       "random",
                                                       {},
                                                       "random",
                                                       "",
                                                       "",
                                                       Authorization::kNone,
                                                       false,
                                                       "none",
                                                       ""},
                                           TenancyCase{"pod_style_labels_ignored",
                                                       "random",
                                                       {{"app", "x"}},
                                                       "random",
                                                       "",
                                                       "",
                                                       Authorization::kNone,
                                                       false,
                                                       "none",
                                                       ""},
                                           TenancyCase{"exempt_preset",
                                                       "kube-system",
                                                       {},
                                                       "kube-system",
                                                       "",
                                                       "",
                                                       Authorization::kNone,
                                                       true,
                                                       "none",
                                                       ""},
                                           TenancyCase{"exempt_glob",
                                                       "monitoring-prom",
                                                       {{kJ, "CN"}},
                                                       "monitoring-prom",
                                                       "CN",
                                                       "tier3",
                                                       Authorization::kNone,
                                                       true,
                                                       "namespace label",
                                                       ""}),
                         [](const auto& info) { return info.param.name; });

TEST(Tenancy, NullLabelsMeanNoLabels) {
  const TenantContext ctx = resolve_tenant(acme(), "random", nullptr);
  EXPECT_EQ(ctx.jurisdiction, "");
  EXPECT_EQ(ctx.tier, "");
  EXPECT_FALSE(ctx.exempt);
}

TEST(Tenancy, ValidatedEndUserCarriesItsCapAndReference) {
  const TenantContext ctx = resolve_tenant(acme(), "gulf", nullptr);
  EXPECT_EQ(ctx.authorization, Authorization::kValidatedEndUser);
  EXPECT_EQ(ctx.tenant_cap_tpp, 5'000'000.0);
  EXPECT_EQ(ctx.licence, "NVEU-2025-017");
}

TEST(NamespaceTenants, ParseAcceptsNamespaceEqualsIsoCode) {
  auto tn = parse_namespace_tenant("ml-team=cn");
  ASSERT_TRUE(tn.has_value());
  EXPECT_EQ(tn->namespace_name, "ml-team");
  EXPECT_EQ(tn->jurisdiction, "CN");
  for (const char* bad : {"ml-team", "=CN", "ml-team=", "ml-team=XX", "ml-team=China"}) {
    EXPECT_FALSE(parse_namespace_tenant(bad).has_value()) << bad;
  }
}

TEST(NamespaceTenants, WinOverThePolicyAndChangeItsHash) {
  Policy p = acme();
  const std::string before = p.hash;
  add_namespace_tenants(p, {{"gulf", "CN"}});
  // The decision log and metrics carry the hash: a policy that decides differently must not
  // carry the same one.
  EXPECT_NE(p.hash, before);
  EXPECT_EQ(resolve_tenant(p, "gulf", nullptr).jurisdiction, "CN");
  Policy again = acme();
  add_namespace_tenants(again, {{"gulf", "CN"}});
  EXPECT_EQ(again.hash, p.hash);
  Policy none = acme();
  add_namespace_tenants(none, {});
  EXPECT_EQ(none.hash, before);
}

struct MatchCase {
  std::string pattern;
  std::string ns;
  bool matches;
};

class NamespaceMatch : public ::testing::TestWithParam<MatchCase> {};

TEST_P(NamespaceMatch, Globs) {
  const auto& c = GetParam();
  EXPECT_EQ(namespace_matches(c.pattern, c.ns), c.matches) << c.pattern << " vs " << c.ns;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, NamespaceMatch,
    ::testing::Values(MatchCase{"acme", "acme", true}, MatchCase{"acme", "acme-dev", false},
                      MatchCase{"acme", "acm", false}, MatchCase{"acme-*", "acme-dev", true},
                      MatchCase{"acme-*", "acme-", true}, MatchCase{"acme-*", "acme", false},
                      MatchCase{"*", "anything", true}, MatchCase{"", "", true},
                      MatchCase{"", "x", false}));

}  // namespace
}  // namespace exportgate::policy
