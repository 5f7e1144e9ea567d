// The reconciler counts allocated DRA claims from the DRA caches against the in-memory API server:
// each claim once at its exact charge, taking over its admission's reservation; a deleted claim
// drops out.
#include <gtest/gtest.h>

#include "policy/manifest.hpp"
#include "tests/unit/support/cluster_caches.hpp"
#include "tests/unit/support/dra_objects.hpp"
#include "tests/unit/support/fake_api_ledger.hpp"
#include "tests/unit/support/policy_file.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_dra_cache.hpp"
#include "webhook/metrics.hpp"
#include "webhook/reconciler.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;
using testing::kSgLedgerPath;

const std::string kObjects =
    std::string(testing::kNvidiaGpuClass) + "---\n" + testing::h100_slice("node-a", 2) + R"(---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: shared, namespace: team, annotations: {exportgate.io/admission-uid: uid-1}}
spec:
  devices:
    requests: [{name: gpu, exactly: {deviceClassName: gpu.nvidia.com, count: 2}}]
status:
  allocation:
    devices:
      results:
      - {request: gpu, driver: gpu.nvidia.com, pool: node-a, device: gpu-0}
      - {request: gpu, driver: gpu.nvidia.com, pool: node-a, device: gpu-1}
)";

TEST(ReconcilerDra, AllocatedClaimsAreInUseOnceAndReleasedWhenDeleted) {
  testing::PolicyFile file("reconciler-dra", testing::diffusion_policy_yaml());
  PolicyStore& policies = file.store();
  testing::ClusterCaches caches(policies);
  caches.list({testing::tenant_namespace("team", "SG")}, {});

  DraCaches dra;
  auto sinks = testing::dra_informer_sinks(dra);
  std::map<std::string, std::vector<json>> pages;
  for (const auto& m : policy::parse_manifests(kObjects, "objects.yaml")) {
    const std::string kind = m.object["kind"];
    pages[kind == "DeviceClass"     ? "deviceclasses"
          : kind == "ResourceSlice" ? "resourceslices"
                                    : "resourceclaims"]
        .push_back(m.object);
  }
  for (auto& [resource, page] : pages) {
    sinks[resource].list_page(page, true);
    sinks[resource].list_done();
  }

  testing::FakeApiLedger cluster;
  auto& api = cluster.api;
  auto& ledger = cluster.ledger;
  Reconciler reconciler(
      ReconcilerInputs{
          &caches.pods, &caches.namespaces, [] { return true; }, nullptr, &policies, &ledger,
          [&](const policy::Policy& p) { return dra_claims_in_use(*dra.context(), p); }},
      ReconcilerOptions{}, cluster.metrics, cluster.log);
  // The claim's admission reserved its charge (the published H100s); the allocated claim takes
  // the reservation over.
  ASSERT_TRUE(
      ledger.reserve({"team/resourceclaims/shared", "team", "SG", 2 * 15'832, "uid-1", "team"},
                     std::nullopt, std::nullopt));
  ASSERT_TRUE(reconciler.run_once());
  auto spec = [&] { return (*api.object(kSgLedgerPath))["spec"]; };
  auto in_use = [&] {
    const json s = spec();
    return s.contains("tenants") && s["tenants"].contains("team")
               ? s["tenants"]["team"].value("inUseTPP", 0.0)
               : 0.0;
  };
  ASSERT_TRUE(api.object(kSgLedgerPath));
  EXPECT_DOUBLE_EQ(in_use(), 2 * 15'832);
  EXPECT_TRUE(spec().value("reservations", json::array()).empty()) << spec().dump();

  json claim = pages["resourceclaims"].at(0);
  sinks["resourceclaims"].apply(WatchEventType::kDeleted, claim);
  ASSERT_TRUE(reconciler.run_once());
  EXPECT_DOUBLE_EQ(in_use(), 0);
}

}  // namespace
}  // namespace exportgate::webhook
