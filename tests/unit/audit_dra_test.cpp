// The audit and DRA: an allocated ResourceClaim in a jurisdiction that may not have its devices is
// a violation, charged as the devices it got; an unallocated claim holds nothing and is skipped.
#include <gtest/gtest.h>

#include "policy/audit.hpp"
#include "policy/dra_charge.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "tests/unit/support/dra_objects.hpp"

namespace exportgate::policy {
namespace {

const std::string kObjects =
    std::string(testing::kNvidiaGpuClass) + "---\n" + testing::h100_slice("node-a", 1);

const char* kClaims = R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: held, namespace: cn-team}
spec:
  devices:
    requests: [{name: gpu, exactly: {deviceClassName: gpu.nvidia.com}}]
status:
  allocation:
    devices:
      results: [{request: gpu, driver: gpu.nvidia.com, pool: node-a, device: gpu-0}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: pending, namespace: cn-team}
spec:
  devices:
    requests: [{name: gpu, exactly: {deviceClassName: gpu.nvidia.com, count: 4}}]
)";

TEST(AuditDra, AllocatedClaimInTier3IsAViolationPendingOneIsSkipped) {
  const Policy policy = load_preset(kDefaultPreset);
  DraContext dra;
  for (const auto& m : parse_manifests(kObjects, "objects.yaml")) dra.add_object(m.object);
  AuditOptions options;
  options.dra = &dra;
  Auditor auditor(policy, options);
  auditor.set_namespace_labels(
      "cn-team", {{"exportgate.io/jurisdiction", "CN"}, {"exportgate.io/tenant", "cn-team"}});
  for (const auto& m : parse_manifests(kClaims, "claims.yaml")) auditor.add(m.object);
  const AuditReport report = std::move(auditor).finish();
  ASSERT_EQ(report.findings.size(), 1u);
  const AuditFinding& f = report.findings[0];
  EXPECT_EQ(f.object.kind, "ResourceClaim");
  EXPECT_EQ(f.object.name, "held");
  EXPECT_EQ(f.code, "tier-prohibited");
  EXPECT_DOUBLE_EQ(f.tpp, 15'832);  // the allocated H100, exactly
  EXPECT_NE(f.accelerators.find("allocated"), std::string::npos) << f.accelerators;
  EXPECT_EQ(report.finished, 1);
}

}  // namespace
}  // namespace exportgate::policy
