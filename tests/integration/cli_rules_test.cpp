// The built binary on dated rules (issue 16): `policy show` of the `current` preset on a date,
// `check --in-force-on` giving different decisions for the same Pod either side of a dated rule,
// `check --headquarters`, `policy diff` between two dates and the catalog's bandwidths and class
// reasons. Before the part rules, the H20 and H200 rows decided the same on both dates.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exportgate_process.hpp"

namespace {

using CliRun = eg_test::ExportgateRun;

// Runs the binary from the source directory with `args`, `input` on stdin.
CliRun run(const std::vector<std::string>& args, const std::string& input = "") {
  return eg_test::run_exportgate(args, input);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A Pod with 8 GPUs on nodes labelled nvidia.com/gpu.product=`product`.
std::string pod(const std::string& product) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: train, namespace: team}\nspec:\n"
         "  nodeSelector: {nvidia.com/gpu.product: " +
         product +
         "}\n  containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 8}}}]\n";
}

// `check` of `manifest` under the current preset on `date`; the JSON decision of the one object.
nlohmann::json check_on(const std::string& manifest, const std::string& date,
                        std::vector<std::string> extra) {
  std::vector<std::string> args = {"check",         "-f", "-",  "--policy", "current",
                                   "--in-force-on", date, "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CliRun r = run(args, manifest);
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_array() && j.size() == 1) << r.out;
  if (!j.is_array() || j.empty()) return {};
  EXPECT_EQ(r.exit_code, j[0]["verdict"] == "deny" ? 1 : 0);
  return j[0];
}

TEST(CliRules, InForceOnDecidesTheSamePodDifferentlyEitherSideOfEachDate) {
  struct Row {
    std::string product, jurisdiction, before, after;
    std::string code_before, code_after;
  };
  const std::vector<Row> rows = {
      // April 2025 H20 licence requirement (Tom's Hardware), by bandwidth.
      {"NVIDIA-H20", "CN", "2025-04-08", "2025-04-09", "", "bandwidth-licence-required"},
      // 91 FR 1684: H200 to China reviewed case by case from 2026-01-15.
      {"NVIDIA-H200", "CN", "2026-01-14", "2026-01-15", "licence-required",
       "licence-required-case-by-case"},
      // AI diffusion framework not enforced from 2025-05-13: a Tier 2 H100 Pod (India) is
      // capped before (an unlabelled namespace gets no tier cap: untenanted) and free after.
      {"NVIDIA-H100-80GB-HBM3", "IN", "2025-05-12", "2025-05-13", "untenanted-namespace", ""},
  };
  for (const auto& row : rows) {
    const auto b = check_on(pod(row.product), row.before, {"--jurisdiction", row.jurisdiction});
    const auto a = check_on(pod(row.product), row.after, {"--jurisdiction", row.jurisdiction});
    EXPECT_EQ(b.value("code", "?"), row.code_before) << row.product << " " << b.dump();
    EXPECT_EQ(a.value("code", "?"), row.code_after) << row.product << " " << a.dump();
  }
  // B200 stays out of the band: presumption of denial, said in the reason.
  const auto b200 = check_on(pod("NVIDIA-B200"), "2026-01-15", {"--jurisdiction", "CN"});
  EXPECT_EQ(b200.value("code", "?"), "licence-required");
  EXPECT_TRUE(contains(b200["reasons"][0].get<std::string>(), "presumption of denial"))
      << b200.dump();
}

TEST(CliRules, HeadquartersFlag) {
  const auto free = check_on(pod("NVIDIA-H100-80GB-HBM3"), "2026-03-01", {"--jurisdiction", "SG"});
  EXPECT_EQ(free.value("verdict", "?"), "allow") << free.dump();
  const auto hq = check_on(pod("NVIDIA-H100-80GB-HBM3"), "2026-03-01",
                           {"--jurisdiction", "SG", "--headquarters", "CN"});
  EXPECT_EQ(hq.value("code", "?"), "headquarters-licence-required") << hq.dump();
  EXPECT_TRUE(contains(hq["rule"].get<std::string>(), "742.6(a)(6)(iii)(A)")) << hq.dump();
  // The H20 rule reaches an entity headquartered in China too (exportgate's reading [?]).
  const auto h20 =
      check_on(pod("NVIDIA-H20"), "2026-03-01", {"--jurisdiction", "SG", "--headquarters", "CN"});
  EXPECT_EQ(h20.value("code", "?"), "bandwidth-licence-required") << h20.dump();
}

TEST(CliRules, PolicyShowStatesTheRulesInForceOnTheDate) {
  const CliRun r = run({"policy", "show", "current@2026-03-01"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* s :
       {"rules in force on: 2026-03-01", "part rule \"H200/MI325X case-by-case band\"",
        "91 FR 1684", "in force since 2026-01-15", "part rule \"H20/MI308-class licence\"",
        "part rule \"Huawei Ascend (GP10 guidance)\"", "headquarters licence:"}) {
    EXPECT_TRUE(contains(r.out, s)) << "missing \"" << s << "\" in:\n" << r.out;
  }
  const CliRun before = run({"policy", "show", "current@2025-12-31"});
  ASSERT_EQ(before.exit_code, 0) << before.out;
  EXPECT_FALSE(contains(before.out, "case-by-case band")) << before.out;
  EXPECT_TRUE(contains(before.out, "H20/MI308-class licence")) << before.out;
  // The default preset states that it is not enforced.
  const CliRun def = run({"policy", "show"});
  EXPECT_TRUE(contains(def.out, "not enforced since 2025-05-13")) << def.out;
}

TEST(CliRules, PolicyDiffBetweenTwoDates) {
  const CliRun r =
      run({"policy", "diff", "current@2026-01-14", "current@2026-01-15", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_TRUE(contains(r.out, "H200/MI325X case-by-case band")) << r.out;
  const CliRun text = run({"policy", "diff", "current@2025-05-12", "current@2025-05-13"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_TRUE(contains(text.out, "Huawei Ascend")) << text.out;
  EXPECT_TRUE(contains(text.out, "tier2")) << text.out;
}

TEST(CliRules, CatalogShowsBandwidthsAndWhyAClassIsNotProven) {
  const CliRun r = run({"catalog"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "DRAM/LINK GB/s")) << r.out;
  EXPECT_TRUE(contains(r.out, "4,800/900")) << r.out;  // H200
  EXPECT_TRUE(contains(r.out, "Class not proven by the inputs")) << r.out;
  EXPECT_TRUE(contains(r.out, "tpu-v5e: 3A090.b as its source states")) << r.out;
  const CliRun j = run({"catalog", "-o", "json"});
  const auto doc = nlohmann::json::parse(j.out);
  EXPECT_FALSE(doc["as_of"].get<std::string>().empty());
  bool h200 = false, b300 = false;
  for (const auto& m : doc["models"]) {
    if (m["id"] == "h200") {
      h200 = true;
      EXPECT_DOUBLE_EQ(m["dram_bandwidth_gbs"].get<double>(), 4800);
    }
    if (m["id"] == "b300") b300 = true;
  }
  EXPECT_TRUE(h200);
  EXPECT_TRUE(b300);
}

// spec.site: the country allocation attaches to where the chips are installed, so licensed
// tenants of two jurisdictions draw down the one allocation of the site. Without a site each drew
// its own jurisdiction's allocation and both Pods were admitted.
TEST(CliRules, SiteCountsEveryLicensedTenantAgainstTheSitesAllocation) {
  const std::string policy_text =
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: site}\nspec:\n"
      "  preset: diffusion-2025\n  site: IN\n  jurisdictionCaps: {IN: 200000, SG: 200000, "
      "AE: 200000}\n  tenants:\n"
      "    - {name: sg-co, jurisdiction: SG, namespaces: [sg], authorization: licensed, licence: "
      "D1}\n"
      "    - {name: ae-co, jurisdiction: AE, namespaces: [ae], authorization: licensed, licence: "
      "D2}\n";
  char name[] = "/tmp/exportgate-site-policy-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, policy_text.data(), policy_text.size()),
            static_cast<ssize_t>(policy_text.size()));
  close(fd);
  auto pod_in = [](const std::string& ns) {
    return "apiVersion: v1\nkind: Pod\nmetadata: {name: train, namespace: " + ns +
           "}\nspec:\n  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}\n"
           "  containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 8}}}]\n";
  };
  // 8 x H100 = 126,656 TPP each: together 253,312 > the site's 200,000.
  const std::string manifests = pod_in("sg") + "---\n" + pod_in("ae");
  const CliRun r = run({"check", "-f", "-", "--policy", name, "-o", "json"}, manifests);
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 2) << r.out;
  EXPECT_EQ(j[0]["verdict"], "allow") << j[0].dump();
  EXPECT_EQ(j[1]["code"], "jurisdiction-cap") << j[1].dump();
  EXPECT_TRUE(contains(j[1]["reasons"][0].get<std::string>(), "country allocation for IN (site)"))
      << j[1].dump();
  const CliRun show = run({"policy", "show", name});
  EXPECT_TRUE(contains(show.out, "site: IN")) << show.out;
  unlink(name);
}

// spec.siteNodeLabel: in a cluster spanning countries, a Pod pinned to a region by its
// nodeSelector is counted in that region's country, whoever's it is; a Pod that may land in
// several countries, one with an allocation, is denied site-unresolved with the values that pin
// it. Before the map the policy did not load (unknown key spec.siteNodeLabel).
TEST(CliRules, CheckCountsAPodPinnedToARegionInThatCountry) {
  const std::string policy_text =
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: regions}\nspec:\n"
      "  preset: diffusion-2025\n  jurisdictionCaps: {IN: 200000}\n"
      "  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
      "    countries: {ap-south-1: IN, eu-central-1: DE}\n  tenants:\n"
      "    - {name: sg-co, jurisdiction: SG, namespaces: [sg], authorization: licensed, licence: "
      "D1}\n"
      "    - {name: ae-co, jurisdiction: AE, namespaces: [ae], authorization: licensed, licence: "
      "D2}\n";
  char name[] = "/tmp/exportgate-sitemap-policy-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, policy_text.data(), policy_text.size()),
            static_cast<ssize_t>(policy_text.size()));
  close(fd);
  auto pod_in = [](const std::string& ns, const std::string& region) {
    return "apiVersion: v1\nkind: Pod\nmetadata: {name: train, namespace: " + ns +
           "}\nspec:\n  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3" +
           (region.empty() ? std::string() : ", topology.kubernetes.io/region: " + region) +
           "}\n  containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 8}}}]\n";
  };
  // 8 x H100 = 126,656 TPP each. SG's Pod in ap-south-1 draws IN's 200,000; AE's next one there
  // makes 253,312 > 200,000; AE's Pod in eu-central-1 is in DE (Tier 1: no allocation); an
  // unpinned Pod may land in IN, DE or a region the map does not name.
  const std::string manifests = pod_in("sg", "ap-south-1") + "---\n" + pod_in("ae", "ap-south-1") +
                                "---\n" + pod_in("ae", "eu-central-1") + "---\n" + pod_in("sg", "");
  const CliRun r = run({"check", "-f", "-", "--policy", name, "-o", "json"}, manifests);
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 4) << r.out;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(j[0]["verdict"], "allow") << j[0].dump();
  EXPECT_EQ(j[1]["code"], "jurisdiction-cap") << j[1].dump();
  EXPECT_TRUE(contains(j[1]["reasons"][0].get<std::string>(), "country allocation for IN (site)"))
      << j[1].dump();
  EXPECT_EQ(j[2]["verdict"], "allow") << j[2].dump();
  EXPECT_EQ(j[3]["code"], "site-unresolved") << j[3].dump();
  const std::string why = j[3]["reasons"][0].get<std::string>();
  EXPECT_TRUE(contains(why, "may run in DE, IN or a country exportgate cannot tell")) << why;
  EXPECT_TRUE(contains(why, "{topology.kubernetes.io/region: ap-south-1} (IN)")) << why;
  const CliRun show = run({"policy", "show", name});
  EXPECT_TRUE(contains(show.out,
                       "site by node label: topology.kubernetes.io/region: ap-south-1=IN, "
                       "eu-central-1=DE"))
      << show.out;
  unlink(name);
}

}  // namespace
