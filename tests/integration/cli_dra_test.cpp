// `exportgate check -f` on DRA manifests (tests/fixtures/dra/): the real binary, its exit codes
// and its messages. On the code before DRA support every Pod here was admitted as "no
// accelerators".
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "exportgate_process.hpp"
#include "policy/catalog.hpp"

namespace {

// What an unpinned NVIDIA device is charged as: the catalog's most capable NVIDIA model.
std::string nvidia_worst_name() {
  return exportgate::policy::builtin_catalog().most_capable_of_vendor("NVIDIA")->display_name;
}

using CliRun = eg_test::ExportgateRun;

// Runs the binary from the source directory with `args` split at spaces.
CliRun run(const std::string& args) {
  std::vector<std::string> argv;
  std::istringstream in(args);
  for (std::string a; in >> a;) argv.push_back(a);
  return eg_test::run_exportgate(argv);
}

TEST(CliDra, EightGpuTemplateDeniedInTier3WithTheWorstCaseNamed) {
  const CliRun r = run("check -f tests/fixtures/dra/pod-8gpu-template.yaml --jurisdiction CN");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(
      r.out.find("DENY Pod default/trainer: exportgate: denied 8 x any of: " + nvidia_worst_name()),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("DENY ResourceClaimTemplate default/eight-gpus"), std::string::npos);
  EXPECT_NE(r.out.find("class \"gpu.nvidia.com\""), std::string::npos);
  EXPECT_NE(r.out.find("Tier 3"), std::string::npos);
}

TEST(CliDra, EightGpuTemplateAdmittedInTier1) {
  const CliRun r = run("check -f tests/fixtures/dra/pod-8gpu-template.yaml --jurisdiction DE");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("ALLOW Pod default/trainer: 8 x any of:"), std::string::npos) << r.out;
}

TEST(CliDra, H20PinnedBySelectorAdmittedInTier3) {
  const CliRun r = run("check -f tests/fixtures/dra/pod-h20-template.yaml --jurisdiction CN");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("ALLOW Pod default/inference: 8 x NVIDIA H20"), std::string::npos) << r.out;
}

TEST(CliDra, SharedClaimIsChargedOnce) {
  // --tenant: in a capped tier a namespace without a tenant gets no controlled accelerators.
  const CliRun r =
      run("check -f tests/fixtures/dra/shared-claim.yaml --jurisdiction SG --tenant t -o json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto out = nlohmann::json::parse(r.out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1]["kind"], "ResourceClaim");
  EXPECT_GT(out[1]["controlled_tpp"].get<double>(), 30000);
  for (int pod : {2, 3}) {
    EXPECT_EQ(out[pod]["kind"], "Pod");
    EXPECT_EQ(out[pod]["controlled_tpp"].get<double>(), 0) << out[pod].dump();
    EXPECT_EQ(out[pod]["held_controlled_tpp"], out[1]["controlled_tpp"]);
  }
  // In Tier 3 the claim and both pods that would use it are denied.
  const CliRun cn = run("check -f tests/fixtures/dra/shared-claim.yaml --jurisdiction CN");
  EXPECT_EQ(cn.exit_code, 1);
  EXPECT_NE(cn.out.find("DENY ResourceClaim default/shared-h100"), std::string::npos) << cn.out;
  EXPECT_NE(cn.out.find("DENY Pod default/worker-b"), std::string::npos) << cn.out;
}

}  // namespace
