// Decisions: allow/deny/cap/near-cap per tier of both presets, warn and audit modes, licences,
// validated end users, unknown jurisdictions, and the content of every reason line.
#include "policy/evaluate.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/policy_loader.hpp"
#include "policy/policy_numbers.hpp"

namespace exportgate::policy {
namespace {

constexpr double kH100 = 15'832;  // 1,979 dense FP8 TOPS x 8
constexpr double kA100 = 4'992;   // 312 dense FP16 TFLOPS x 16

// Demand built directly (not through extract_demand): `count` devices per pod x `pods`.
WorkloadDemand gpu_demand(std::string model_name, double count, double tpp_per_device,
                          int64_t pods = 1, double fraction = 1.0,
                          std::string resource = "nvidia.com/gpu",
                          ExportClass cls = ExportClass::k3A090a) {
  AcceleratorDemand a;
  a.resource = std::move(resource);
  a.model_id = "m";
  a.model_name = std::move(model_name);
  a.quantity = count;
  a.device_fraction = fraction;
  a.tpp_per_pod = count * fraction * tpp_per_device;
  a.export_class = cls;
  a.pinned = true;
  PodSetDemand ps;
  ps.pods = pods;
  ps.tpp_per_pod = a.tpp_per_pod;
  ps.accelerators.push_back(a);
  WorkloadDemand d;
  d.api_version = "v1";
  d.kind = "Pod";
  d.name = "train";
  d.namespace_ = "team";
  d.pod_sets.push_back(ps);
  d.total_pods = pods;
  d.total_tpp = a.tpp_per_pod * static_cast<double>(pods);
  d.controlled_tpp = is_controlled(cls) ? d.total_tpp : 0;  // capped_tpp(): the .a part
  d.max_class = cls;
  d.accelerator_count = count * fraction * static_cast<double>(pods);
  return d;
}

WorkloadDemand h100x8() {
  return gpu_demand("NVIDIA H100 SXM", 8, kH100);
}

WorkloadDemand cpu_only() {
  WorkloadDemand d;
  d.api_version = "v1";
  d.kind = "Pod";
  d.name = "web";
  d.namespace_ = "team";
  d.pod_sets.push_back(PodSetDemand{});
  d.total_pods = 1;
  return d;
}

TenantContext tenant_in(const Policy& p, std::string name, std::string code) {
  TenantContext t;
  t.tenant = std::move(name);
  t.jurisdiction = code;
  t.tier = p.tier_of(code);
  t.source = "test";
  return t;
}

const Policy& diffusion() {
  static const Policy p = load_preset("diffusion-2025");
  return p;
}
const Policy& controls() {
  static const Policy p = load_preset("controls-2023");
  return p;
}
Policy with_mode(Mode m) {
  Policy p = diffusion();
  p.mode = m;
  return p;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(FormatThousands, Groups) {
  EXPECT_EQ(format_thousands(0), "0");
  EXPECT_EQ(format_thousands(999), "999");
  EXPECT_EQ(format_thousands(126'656), "126,656");
  EXPECT_EQ(format_thousands(26'900'000), "26,900,000");
  EXPECT_EQ(format_thousands(1'580'000'000), "1,580,000,000");
  EXPECT_EQ(format_thousands(15'832.0 / 7), "2,261.7");
  EXPECT_EQ(format_thousands(-1'500), "-1,500");
}

TEST(Verdict, Names) {
  EXPECT_EQ(to_string(Verdict::kAllow), "allow");
  EXPECT_EQ(to_string(Verdict::kWarn), "warn");
  EXPECT_EQ(to_string(Verdict::kDeny), "deny");
}

// The verdict for 8 x H100 (126,656 TPP) with no usage, per jurisdiction and preset.
struct TierVerdictCase {
  std::string preset;
  std::string code;
  Verdict verdict;
  std::string decision_code;
};

class TierVerdicts : public ::testing::TestWithParam<TierVerdictCase> {};

TEST_P(TierVerdicts, EightH100) {
  const auto& c = GetParam();
  const Policy& p = c.preset == "controls-2023" ? controls() : diffusion();
  const Decision d = evaluate(h100x8(), tenant_in(p, "t", c.code), {}, p);
  EXPECT_EQ(d.verdict, c.verdict) << c.preset << " " << c.code;
  EXPECT_EQ(d.code, c.decision_code);
  EXPECT_DOUBLE_EQ(d.requested_tpp, 126'656);
  EXPECT_EQ(d.would_deny, c.verdict == Verdict::kDeny);
  EXPECT_EQ(d.reasons.empty(), c.verdict != Verdict::kDeny);
}

INSTANTIATE_TEST_SUITE_P(
    Both, TierVerdicts,
    ::testing::Values(
        TierVerdictCase{"diffusion-2025", "US", Verdict::kAllow, ""},
        TierVerdictCase{"diffusion-2025", "DE", Verdict::kAllow, ""},
        TierVerdictCase{"diffusion-2025", "IN", Verdict::kAllow, ""},
        TierVerdictCase{"diffusion-2025", "SG", Verdict::kAllow, ""},
        TierVerdictCase{"diffusion-2025", "AE", Verdict::kAllow, ""},
        TierVerdictCase{"diffusion-2025", "CN", Verdict::kDeny, "tier-prohibited"},
        TierVerdictCase{"diffusion-2025", "HK", Verdict::kDeny, "tier-prohibited"},
        TierVerdictCase{"diffusion-2025", "MO", Verdict::kDeny, "tier-prohibited"},
        TierVerdictCase{"diffusion-2025", "RU", Verdict::kDeny, "tier-prohibited"},
        TierVerdictCase{"diffusion-2025", "XX", Verdict::kDeny, "unknown-jurisdiction"},
        TierVerdictCase{"diffusion-2025", "", Verdict::kDeny, "unknown-jurisdiction"},
        TierVerdictCase{"controls-2023", "US", Verdict::kAllow, ""},
        TierVerdictCase{"controls-2023", "DE", Verdict::kAllow, ""},
        TierVerdictCase{"controls-2023", "IN", Verdict::kAllow, ""},
        TierVerdictCase{"controls-2023", "SG", Verdict::kAllow, ""},
        TierVerdictCase{"controls-2023", "AE", Verdict::kDeny, "licence-required"},
        TierVerdictCase{"controls-2023", "CN", Verdict::kDeny, "licence-required"},
        TierVerdictCase{"controls-2023", "HK", Verdict::kDeny, "licence-required"},
        TierVerdictCase{"controls-2023", "MO", Verdict::kDeny, "licence-required"},
        TierVerdictCase{"controls-2023", "RU", Verdict::kDeny, "licence-required"},
        TierVerdictCase{"controls-2023", "XX", Verdict::kDeny, "unknown-jurisdiction"},
        TierVerdictCase{"controls-2023", "", Verdict::kDeny, "unknown-jurisdiction"}),
    [](const auto& info) {
      std::string n = info.param.preset.substr(0, info.param.preset.find('-')) + "_" +
                      (info.param.code.empty() ? std::string("missing") : info.param.code);
      return n;
    });

TEST(Evaluate, NoAcceleratorsAlwaysAllowed) {
  for (const char* code : {"CN", "", "US"}) {
    const Decision d = evaluate(cpu_only(), tenant_in(diffusion(), "t", code), {}, diffusion());
    EXPECT_EQ(d.verdict, Verdict::kAllow) << code;
    EXPECT_TRUE(d.reasons.empty());
    EXPECT_TRUE(d.warnings.empty());
    EXPECT_EQ(d.requested_tpp, 0);
    EXPECT_FALSE(d.would_deny);
  }
}

TEST(Evaluate, ExemptNamespaceAllowed) {
  TenantContext t = tenant_in(diffusion(), "kube-system", "CN");
  t.exempt = true;
  EXPECT_EQ(evaluate(h100x8(), t, {}, diffusion()).verdict, Verdict::kAllow);
}

TEST(Evaluate, UncontrolledAcceleratorsAreNotLimited) {
  // H20: 2,368 TPP, below the 3A090 thresholds.
  const WorkloadDemand h20 =
      gpu_demand("NVIDIA H20", 8, 2'368, 1, 1.0, "nvidia.com/gpu", ExportClass::kNotControlled);
  const Decision d = evaluate(h20, tenant_in(diffusion(), "t", "CN"), {}, diffusion());
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.requested_tpp, 0);
}

TEST(Evaluate, Tier3ReasonNamesEverything) {
  const Decision d = evaluate(h100x8(), tenant_in(diffusion(), "t3", "CN"), {}, diffusion());
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  ASSERT_EQ(d.reasons.size(), 1u);
  const std::string& r = d.reasons[0];
  EXPECT_FALSE(contains(r, "\n"));
  EXPECT_TRUE(r.starts_with("exportgate: denied ")) << r;
  EXPECT_TRUE(contains(r, "8 x NVIDIA H100 SXM")) << r;
  EXPECT_TRUE(contains(r, "= 126,656 TPP (3A090.a)")) << r;
  EXPECT_TRUE(contains(r, "for tenant \"t3\" in CN (Tier 3)")) << r;
  EXPECT_TRUE(contains(r, "controlled accelerators are prohibited for Tier 3 jurisdictions")) << r;
  EXPECT_TRUE(contains(r, "[AI diffusion IFR, 90 FR 4544")) << r;
  EXPECT_TRUE(contains(r, "D:5 and Macau; rule set: AI diffusion framework")) << r;
  // The rule set's status is part of every citation (BIS press release of 2025-05-13).
  EXPECT_TRUE(contains(r, "(not enforced since 2025-05-13)]")) << r;
  EXPECT_EQ(d.rule, diffusion().limits_of("tier3")->cited());
}

TEST(Evaluate, TenantCapReasonNamesLimitAndUsage) {
  const Decision d = evaluate(h100x8(), tenant_in(diffusion(), "acme", "IN"),
                              {26'800'000, 100'000'000}, diffusion());
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "tenant-cap");
  ASSERT_EQ(d.reasons.size(), 1u);
  const std::string& r = d.reasons[0];
  EXPECT_TRUE(contains(r, "for tenant \"acme\" in IN (Tier 2)")) << r;
  EXPECT_TRUE(contains(r,
                       "tenant cap 26,900,000 TPP, in use 26,800,000 + requested 126,656 "
                       "exceeds it"))
      << r;
  EXPECT_TRUE(contains(r, "740.29")) << r;
  EXPECT_TRUE(contains(r, "beyond this amount a licence is needed")) << r;
  EXPECT_EQ(d.tenant_cap_tpp, 26'900'000.0);
  // LPP use does not draw down the country allocation (90 FR 4544): no jurisdiction cap.
  EXPECT_EQ(d.jurisdiction_cap_tpp, std::nullopt);
  EXPECT_FALSE(d.draws_allocation);
}

TEST(Evaluate, ReachingACapExactlyIsAllowed) {
  const Decision d = evaluate(h100x8(), tenant_in(diffusion(), "acme", "IN"),
                              {26'900'000 - 126'656, 0}, diffusion());
  EXPECT_NE(d.verdict, Verdict::kDeny);
  EXPECT_FALSE(d.would_deny);
}

TenantContext licensed_in(const Policy& p, std::string name, std::string code) {
  TenantContext t = tenant_in(p, std::move(name), std::move(code));
  t.authorization = Authorization::kLicensed;
  t.licence = "D999";
  return t;
}

TEST(Evaluate, JurisdictionCap) {
  const Decision d =
      evaluate(h100x8(), licensed_in(diffusion(), "acme", "IN"), {0, 789'900'000}, diffusion());
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "jurisdiction-cap");
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_TRUE(contains(d.reasons[0],
                       "country allocation for IN (drawn down by licensed use) 790,000,000 TPP, "
                       "in use 789,900,000 + requested 126,656 exceeds it"))
      << d.reasons[0];
  EXPECT_TRUE(contains(d.reasons[0], "licence D999")) << d.reasons[0];
}

TEST(Evaluate, OwnCapAndAllocationGiveTwoReasonsTenantFirst) {
  TenantContext t = licensed_in(diffusion(), "acme", "IN");
  t.tenant_cap_tpp = 26'900'000;
  const Decision d = evaluate(h100x8(), t, {26'899'000, 789'999'000}, diffusion());
  EXPECT_EQ(d.code, "tenant-cap");
  EXPECT_EQ(d.reasons.size(), 2u);
}

TEST(Evaluate, PerCodeJurisdictionCapOverride) {
  const std::string text = R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: doubled}
spec:
  jurisdictionCaps: {IN: 1580000000}
)";
  const Policy p = load_policy(text, "doubled.yaml");
  const UsageSnapshot usage{0, 1'000'000'000};
  EXPECT_EQ(evaluate(h100x8(), licensed_in(p, "a", "IN"), usage, p).verdict, Verdict::kAllow);
  EXPECT_EQ(evaluate(h100x8(), licensed_in(p, "a", "SG"), usage, p).verdict, Verdict::kDeny);
}

struct NearCapCase {
  double tenant_usage;
  bool warns;
};

class NearCap : public ::testing::TestWithParam<NearCapCase> {};

TEST_P(NearCap, WarnsAtNinetyPercent) {
  const auto& c = GetParam();
  const Decision d =
      evaluate(h100x8(), tenant_in(diffusion(), "acme", "SG"), {c.tenant_usage, 0}, diffusion());
  EXPECT_FALSE(d.would_deny);
  EXPECT_EQ(d.verdict, c.warns ? Verdict::kWarn : Verdict::kAllow);
  ASSERT_EQ(d.warnings.size(), c.warns ? 1u : 0u);
  if (c.warns) {
    EXPECT_TRUE(contains(d.warnings[0], "tenant \"acme\" in SG (Tier 2)")) << d.warnings[0];
    EXPECT_TRUE(contains(d.warnings[0], "tenant cap of 26,900,000 TPP")) << d.warnings[0];
  }
}

// 0.9 x 26,900,000 = 24,210,000; the request adds 126,656.
INSTANTIATE_TEST_SUITE_P(Cases, NearCap,
                         ::testing::Values(NearCapCase{0, false}, NearCapCase{20'000'000, false},
                                           NearCapCase{24'000'000, false},
                                           NearCapCase{24'100'000, true},
                                           NearCapCase{26'700'000, true}));

TEST(Evaluate, NearJurisdictionCapWarns) {
  const Decision d =
      evaluate(h100x8(), licensed_in(diffusion(), "acme", "SG"), {0, 720'000'000}, diffusion());
  EXPECT_EQ(d.verdict, Verdict::kWarn);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(contains(d.warnings[0],
                       "jurisdiction SG (Tier 2) will use 720,126,656 of its "
                       "country allocation of 790,000,000 TPP (91%)"))
      << d.warnings[0];
}

TEST(Modes, WarnAdmitsWithTheDenialText) {
  const Policy p = with_mode(Mode::kWarn);
  const Decision d = evaluate(h100x8(), tenant_in(p, "t3", "CN"), {}, p);
  EXPECT_EQ(d.verdict, Verdict::kWarn);
  EXPECT_TRUE(d.would_deny);
  EXPECT_EQ(d.code, "tier-prohibited");
  ASSERT_EQ(d.reasons.size(), 1u);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_EQ(d.warnings[0], d.reasons[0]);
}

TEST(Modes, AuditAdmitsSilently) {
  const Policy p = with_mode(Mode::kAudit);
  const Decision deny = evaluate(h100x8(), tenant_in(p, "t3", "CN"), {}, p);
  EXPECT_EQ(deny.verdict, Verdict::kAllow);
  EXPECT_TRUE(deny.would_deny);
  EXPECT_TRUE(deny.warnings.empty());
  EXPECT_FALSE(deny.reasons.empty()) << "kept for the decision log";
  const Decision near = evaluate(h100x8(), tenant_in(p, "acme", "SG"), {26'000'000, 0}, p);
  EXPECT_EQ(near.verdict, Verdict::kAllow);
  EXPECT_TRUE(near.warnings.empty());
  EXPECT_FALSE(near.would_deny);
}

TEST(Authorizations, LicensedTenantAllowedInTier3WithLicenceCited) {
  TenantContext t = tenant_in(diffusion(), "bj", "CN");
  t.authorization = Authorization::kLicensed;
  t.licence = "D123456";
  const Decision d = evaluate(h100x8(), t, {}, diffusion());
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_TRUE(contains(d.rule, "D123456")) << d.rule;
  EXPECT_FALSE(d.would_deny);
}

TEST(Authorizations, LicensedTenantNotLimitedByLppButDrawsTheAllocation) {
  TenantContext t = tenant_in(diffusion(), "big", "IN");
  t.authorization = Authorization::kLicensed;
  t.licence = "D999";
  const Decision d = evaluate(h100x8(), t, {900'000'000, 100'000'000}, diffusion());
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.tenant_cap_tpp, std::nullopt);
  EXPECT_EQ(d.jurisdiction_cap_tpp, 790'000'000.0);
  EXPECT_TRUE(d.draws_allocation);
}

TEST(Authorizations, LicensedUnderControls2023) {
  TenantContext t = tenant_in(controls(), "hanoi", "VN");
  t.authorization = Authorization::kLicensed;
  t.licence = "D654321";
  EXPECT_EQ(evaluate(h100x8(), t, {}, controls()).verdict, Verdict::kAllow);
  t.authorization = Authorization::kNone;
  const Decision d = evaluate(h100x8(), t, {}, controls());
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_TRUE(contains(d.reasons[0], "require an export licence for VN")) << d.reasons[0];
  EXPECT_TRUE(contains(d.reasons[0], "in VN (licence-required)")) << d.reasons[0];
  EXPECT_TRUE(contains(d.reasons[0], "88 FR 73458")) << d.reasons[0];
}

TEST(Authorizations, ValidatedEndUserCapReplacesTierCaps) {
  TenantContext t = tenant_in(diffusion(), "gulf", "SA");
  t.authorization = Authorization::kValidatedEndUser;
  t.tenant_cap_tpp = 50'000'000;
  t.licence = "NVEU-1";
  // Above the LPP tenant cap and the country cap, within the VEU's own cap: allowed.
  const Decision ok = evaluate(h100x8(), t, {30'000'000, 790'000'000}, diffusion());
  EXPECT_EQ(ok.verdict, Verdict::kAllow);
  EXPECT_EQ(ok.tenant_cap_tpp, 50'000'000.0);
  EXPECT_EQ(ok.jurisdiction_cap_tpp, std::nullopt);
  const Decision over = evaluate(h100x8(), t, {49'950'000, 0}, diffusion());
  ASSERT_EQ(over.verdict, Verdict::kDeny);
  EXPECT_EQ(over.code, "tenant-cap");
  EXPECT_TRUE(contains(over.reasons[0],
                       "validated end user cap 50,000,000 TPP, in use "
                       "49,950,000 + requested 126,656 exceeds it"))
      << over.reasons[0];
  EXPECT_TRUE(contains(over.reasons[0], "NVEU-1")) << over.reasons[0];
}

TEST(Authorizations, ValidatedEndUserStillDeniedInTier3) {
  TenantContext t = tenant_in(diffusion(), "x", "CN");
  t.authorization = Authorization::kValidatedEndUser;
  t.tenant_cap_tpp = 50'000'000;
  EXPECT_EQ(evaluate(h100x8(), t, {}, diffusion()).verdict, Verdict::kDeny);
}

TEST(Authorizations, OwnTenantCapAppliesInAnyTier) {
  TenantContext t = tenant_in(diffusion(), "small", "US");
  t.tenant_cap_tpp = 100'000;
  const Decision d = evaluate(h100x8(), t, {}, diffusion());
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "tenant-cap");
}

TEST(UnknownJurisdiction, ReasonTellsTheAdminWhatToDo) {
  TenantContext t = tenant_in(diffusion(), "team", "");
  t.jurisdiction_error = "label exportgate.io/jurisdiction value \"XX\" is not an ISO 3166-1 code";
  const Decision d = evaluate(h100x8(), t, {}, diffusion());
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "unknown-jurisdiction");
  ASSERT_EQ(d.reasons.size(), 1u);
  const std::string& r = d.reasons[0];
  EXPECT_TRUE(contains(r, "8 x NVIDIA H100 SXM")) << r;
  EXPECT_TRUE(contains(r, "126,656 TPP")) << r;
  EXPECT_TRUE(contains(r, "jurisdiction unknown")) << r;
  EXPECT_TRUE(contains(r, "\"XX\"")) << r;
  EXPECT_TRUE(contains(r, "label namespace \"team\" with exportgate.io/jurisdiction=")) << r;
  EXPECT_TRUE(contains(r, "list the tenant in the policy")) << r;
  EXPECT_FALSE(contains(r, "\n"));
}

TEST(UnknownJurisdiction, KnownCodeWithoutATier) {
  // preset none, defaultTier "": a label naming an unlisted country leaves it without a tier.
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: custom}
spec:
  preset: none
  defaultTier: ""
  tiers: {home: {controlled: allow, rule: "internal"}}
  jurisdictions: {US: home}
)",
                               "custom.yaml");
  const Decision d = evaluate(h100x8(), tenant_in(p, "t", "FR"), {}, p);
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "unknown-jurisdiction");
  EXPECT_TRUE(contains(d.reasons.at(0), "jurisdiction FR has no tier in policy \"custom\""))
      << d.reasons[0];
  EXPECT_EQ(evaluate(h100x8(), tenant_in(p, "t", "US"), {}, p).verdict, Verdict::kAllow);
}

TEST(UnknownJurisdiction, PolicyMayAllow) {
  Policy p = diffusion();
  p.unknown_jurisdiction = ControlledAction::kAllow;
  EXPECT_EQ(evaluate(h100x8(), tenant_in(p, "t", ""), {}, p).verdict, Verdict::kAllow);
}

TEST(WorkedExamples, DeploymentAndMigTpp) {
  // A 7-replica Deployment of 1 x A100 = 34,944 TPP; one MIG 1g.10gb slice = 15,832 / 7.
  const WorkloadDemand deploy = gpu_demand("NVIDIA A100", 1, kA100, 7);
  const Decision d1 = evaluate(deploy, tenant_in(diffusion(), "t", "CN"), {}, diffusion());
  EXPECT_DOUBLE_EQ(d1.requested_tpp, 34'944);
  EXPECT_TRUE(contains(d1.reasons.at(0), "34,944 TPP")) << d1.reasons[0];
  const WorkloadDemand mig =
      gpu_demand("NVIDIA H100 SXM", 1, kH100, 1, 1.0 / 7, "nvidia.com/mig-1g.10gb");
  const Decision d2 = evaluate(mig, tenant_in(diffusion(), "t", "CN"), {}, diffusion());
  EXPECT_NEAR(d2.requested_tpp, 15'832.0 / 7, 1e-9);
  EXPECT_TRUE(contains(d2.reasons.at(0), "2,261.7 TPP")) << d2.reasons[0];
}

}  // namespace
}  // namespace exportgate::policy
