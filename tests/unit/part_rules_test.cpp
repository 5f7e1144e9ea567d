// Rules that select parts by model or bandwidth, in the `current` preset by date: one row per rule
// and date with its source. The Pod goes through extract_demand (the catalog's node labels pin the
// model), so a row fails when the catalog figures or the rule data change what it decides.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy/evaluate.hpp"
#include "policy/in_force.hpp"
#include "policy/policy_diff.hpp"
#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"
#include "tests/unit/support/dated_policy.hpp"

namespace exportgate::policy {
namespace {

Policy on(const std::string& date) {
  return testing::current_preset_on(date);
}

// A Pod asking for 8 of `resource` on nodes labelled `label`=`value` ("" = not pinned).
nlohmann::json pod(const std::string& resource, const std::string& label,
                   const std::string& value) {
  nlohmann::json p = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", "train"}, {"namespace", "team"}}},
      {"spec",
       {{"containers", {{{"name", "c"}, {"resources", {{"limits", {{resource, "8"}}}}}}}}}}};
  if (!label.empty()) p["spec"]["nodeSelector"] = {{label, value}};
  return p;
}

struct Part {
  std::string resource, label, value;
};
const Part kH20{"nvidia.com/gpu", "nvidia.com/gpu.product", "NVIDIA-H20"};
const Part kH200{"nvidia.com/gpu", "nvidia.com/gpu.product", "NVIDIA-H200"};
const Part kB200{"nvidia.com/gpu", "nvidia.com/gpu.product", "NVIDIA-B200"};
const Part kMI325X{"amd.com/gpu", "amd.com/gpu.product-name", "AMD_Instinct_MI325X"};
const Part kRtx4090D{"nvidia.com/gpu", "nvidia.com/gpu.product", "NVIDIA-GeForce-RTX-4090-D"};
const Part kAscend{"huawei.com/Ascend910", "", ""};

struct Row {
  std::string name;
  std::string source;  // where the rule and its date come from
  std::string date;
  std::string jurisdiction;
  std::string headquarters;
  bool licensed;
  Part part;
  Verdict verdict;
  std::string code;
};
class PartRuleRow : public ::testing::TestWithParam<Row> {};

TEST_P(PartRuleRow, Decides) {
  const Row& row = GetParam();
  Policy p = on(row.date);
  if (row.licensed) {
    Tenant t;
    t.name = "acme";
    t.jurisdiction = row.jurisdiction;
    t.namespaces = {"team"};
    t.authorization = Authorization::kLicensed;
    t.licence = "D123456";
    t.headquarters = row.headquarters;
    p.tenants.push_back(t);
  }
  const TenantContext t = testing::acme_in_team(p, row.jurisdiction, row.headquarters);
  const WorkloadDemand demand =
      extract_demand(pod(row.part.resource, row.part.label, row.part.value), p);
  const Decision d = evaluate(demand, t, {}, p);
  EXPECT_EQ(d.verdict, row.verdict) << (d.reasons.empty() ? "" : d.reasons[0]);
  EXPECT_EQ(d.code, row.code) << (d.reasons.empty() ? "" : d.reasons[0]);
  if (!d.code.empty()) {
    // Every denial cites a rule with its status.
    EXPECT_NE(d.rule.find("since"), std::string::npos) << d.rule;
  }
}

constexpr const char* kApril = "Tom's Hardware (2025-04): H20/MI308 licence requirement";
constexpr const char* kBand = "91 FR 1684, FR Doc 2026-00789 (2026-01-15)";
constexpr const char* kAscendSrc = "BIS GP10 guidance 2025-05-13 (Alston & Bird, Akin Gump)";

INSTANTIATE_TEST_SUITE_P(
    Rows, PartRuleRow,
    ::testing::Values(
        // April 2025: H20-class parts (below 3A090, selected by bandwidth) need a licence for
        // China, Hong Kong, Macau and D:5.
        Row{"h20_cn_before_april", kApril, "2025-04-08", "CN", "", false, kH20, Verdict::kAllow,
            ""},
        Row{"h20_cn_after_april", kApril, "2025-04-09", "CN", "", false, kH20, Verdict::kDeny,
            "bandwidth-licence-required"},
        Row{"h20_cn_2026", kApril, "2026-06-01", "CN", "", false, kH20, Verdict::kDeny,
            "bandwidth-licence-required"},
        Row{"h20_cn_licensed", kApril, "2025-09-01", "CN", "", true, kH20, Verdict::kAllow, ""},
        Row{"h20_sg_headquartered_cn", kApril, "2025-09-01", "SG", "CN", false, kH20,
            Verdict::kDeny, "bandwidth-licence-required"},
        Row{"h20_sg", kApril, "2025-09-01", "SG", "", false, kH20, Verdict::kAllow, ""},
        // A part below 3A090 and below the bandwidth thresholds stays free.
        Row{"rtx4090d_cn_below_thresholds", kApril, "2025-09-01", "CN", "", false, kRtx4090D,
            Verdict::kAllow, ""},
        // January 2026: H200 and MI325X (TPP < 21,000, DRAM < 6,500 GB/s) reviewed case by case
        // for China and Macau, still licence required; B200 outside the band.
        Row{"h200_cn_before_band", kBand, "2026-01-14", "CN", "", false, kH200, Verdict::kDeny,
            "licence-required"},
        Row{"h200_cn_in_band", kBand, "2026-01-15", "CN", "", false, kH200, Verdict::kDeny,
            "licence-required-case-by-case"},
        Row{"mi325x_cn_in_band", kBand, "2026-01-15", "CN", "", false, kMI325X, Verdict::kDeny,
            "licence-required-case-by-case"},
        Row{"h200_mo_in_band", kBand, "2026-03-01", "MO", "", false, kH200, Verdict::kDeny,
            "licence-required-case-by-case"},
        Row{"b200_cn_out_of_band", kBand, "2026-01-15", "CN", "", false, kB200, Verdict::kDeny,
            "licence-required"},
        Row{"h200_ru_no_band", kBand, "2026-03-01", "RU", "", false, kH200, Verdict::kDeny,
            "licence-required"},
        Row{"h200_cn_licensed", kBand, "2026-03-01", "CN", "", true, kH200, Verdict::kAllow, ""},
        // May 2025: Huawei Ascend denied in every jurisdiction, licence or not.
        Row{"ascend_us_before_guidance", kAscendSrc, "2025-05-12", "US", "", false, kAscend,
            Verdict::kAllow, ""},
        Row{"ascend_us_after_guidance", kAscendSrc, "2025-05-13", "US", "", false, kAscend,
            Verdict::kDeny, "prohibited-part"},
        Row{"ascend_sg_licensed", kAscendSrc, "2026-03-01", "SG", "", true, kAscend, Verdict::kDeny,
            "prohibited-part"}),
    [](const auto& info) { return info.param.name; });

TEST(PartRules, OutOfBandDenialSaysWhyThePresumptionOfDenialStays) {
  const Policy p = on("2026-03-01");
  std::map<std::string, std::string> labels{{std::string(kJurisdictionLabel), "CN"}};
  const TenantContext t = resolve_tenant(p, "team", &labels);
  const Decision d =
      evaluate(extract_demand(pod(kB200.resource, kB200.label, kB200.value), p), t, {}, p);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_NE(d.reasons[0].find("NVIDIA B200 (TPP 36,000"), std::string::npos) << d.reasons[0];
  EXPECT_NE(d.reasons[0].find("outside the case-by-case band"), std::string::npos);
  EXPECT_NE(d.rule.find("91 FR 1684"), std::string::npos) << d.rule;
}

TEST(PartRules, UnknownJurisdictionWithAnH20IsNotAssumedOutsideChina) {
  const Policy p = on("2026-03-01");
  const TenantContext t = resolve_tenant(p, "team", nullptr);
  const Decision d =
      evaluate(extract_demand(pod(kH20.resource, kH20.label, kH20.value), p), t, {}, p);
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "unknown-jurisdiction");
}

TEST(PartRules, UnknownBandwidthIsReadAsTheStricterFigure) {
  const Policy p = on("2026-03-01");
  const PartRule* april = nullptr;
  const PartRule* band = nullptr;
  for (const auto& r : p.part_rules) {
    if (r.kind == PartRule::Kind::kBandwidthLicence) april = &r;
    if (r.kind == PartRule::Kind::kReviewBand) band = &r;
  }
  ASSERT_TRUE(april && band);
  AcceleratorModel m = *builtin_catalog().find_model("h20");
  EXPECT_TRUE(april->selects(m));
  m.dram_bandwidth_gbs = 900;
  m.interconnect_bandwidth_gbs = 400;
  EXPECT_FALSE(april->selects(m));   // 900 + 400 < 1,700
  m.interconnect_bandwidth_gbs = 0;  // unknown: might reach the threshold
  EXPECT_TRUE(april->selects(m));
  AcceleratorModel h200 = *builtin_catalog().find_model("h200");
  EXPECT_TRUE(band->selects(h200));
  h200.dram_bandwidth_gbs = 0;  // unknown: cannot be shown inside the band
  EXPECT_FALSE(band->selects(h200));
}

TEST(PartRules, PolicyDiffBetweenDatesListsThePartRules) {
  auto has = [](const std::vector<PolicyChange>& changes, const std::string& key) {
    for (const auto& c : changes) {
      if (c.section == "part-rule" && c.key == key && c.change == "added") return true;
    }
    return false;
  };
  EXPECT_TRUE(has(diff_policies(on("2025-04-08"), on("2025-04-09")), "H20/MI308-class licence"));
  EXPECT_TRUE(
      has(diff_policies(on("2026-01-14"), on("2026-01-15")), "H200/MI325X case-by-case band"));
  EXPECT_TRUE(
      has(diff_policies(on("2025-05-12"), on("2025-05-13")), "Huawei Ascend (GP10 guidance)"));
}

}  // namespace
}  // namespace exportgate::policy
