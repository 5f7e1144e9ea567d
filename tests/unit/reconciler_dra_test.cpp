// The reconciler counts allocated DRA claims from the DRA caches against the in-memory API server:
// each claim once at its exact charge, taking over its admission's reservation; a deleted claim
// drops out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/manifest.hpp"
#include "tests/unit/fake_kube_api.hpp"
#include "webhook/kube_caches.hpp"
#include "webhook/kube_dra_cache.hpp"
#include "webhook/metrics.hpp"
#include "webhook/reconciler.hpp"

namespace exportgate::webhook {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kLedgerPath =
    "/apis/exportgate.io/v1alpha1/namespaces/eg/tppledgers/jurisdiction-sg";

const char* kObjects = R"(
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.nvidia.com}
spec:
  selectors:
  - cel: {expression: "device.driver == 'gpu.nvidia.com'"}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-a}
spec:
  driver: gpu.nvidia.com
  nodeName: node-a
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - {name: gpu-0, attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}}}
  - {name: gpu-1, attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}}}
---
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
  const fs::path file =
      fs::temp_directory_path() / ("exportgate-reconciler-dra-" + std::to_string(::getpid()));
  std::ofstream(file) << "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\n"
                         "spec:\n  preset: diffusion-2025\n";
  PolicyStore policies(PolicySource{file.string(), {}});
  policies.load();

  ObjectStore<PodInfo> pods(
      [&](const json& o) { return project_pod(o, *policies.current(), nullptr); });
  ObjectStore<Labels> namespaces(project_namespace);
  std::vector<json> ns_page = {
      {{"metadata",
        {{"name", "team"},
         {"labels", {{"exportgate.io/jurisdiction", "SG"}, {"exportgate.io/tenant", "team"}}}}}}};
  auto ns_sink = namespaces.sink();
  ns_sink.list_page(ns_page, true);
  ns_sink.list_done();
  pods.sink().list_done();

  DraCaches dra;
  std::map<std::string, InformerSink> sinks;
  dra.add_informers([&](std::string path, InformerSink sink) {
    sinks[path.substr(path.rfind('/') + 1)] = std::move(sink);
  });
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

  testing::FakeKubeApi api;
  KubeClient client(api.kube_config());
  std::ostringstream out;
  Logger log(LogLevel::kError, &out);
  LedgerOptions lo;
  lo.namespace_ = "eg";
  ClusterLedger ledger(client, lo, nullptr, log);
  Metrics metrics;
  Reconciler reconciler(
      ReconcilerInputs{
          &pods, &namespaces, [] { return true; }, nullptr, &policies, &ledger,
          [&](const policy::Policy& p) { return dra_claims_in_use(*dra.context(), p); }},
      ReconcilerOptions{}, metrics, log);
  // The claim's admission reserved its charge (the published H100s); the allocated claim takes
  // the reservation over.
  ASSERT_TRUE(
      ledger.reserve({"team/resourceclaims/shared", "team", "SG", 2 * 15'832, "uid-1", "team"},
                     std::nullopt, std::nullopt));
  ASSERT_TRUE(reconciler.run_once());
  auto spec = [&] { return (*api.object(kLedgerPath))["spec"]; };
  auto in_use = [&] {
    const json s = spec();
    return s.contains("tenants") && s["tenants"].contains("team")
               ? s["tenants"]["team"].value("inUseTPP", 0.0)
               : 0.0;
  };
  ASSERT_TRUE(api.object(kLedgerPath));
  EXPECT_DOUBLE_EQ(in_use(), 2 * 15'832);
  EXPECT_TRUE(spec().value("reservations", json::array()).empty()) << spec().dump();

  json claim = pages["resourceclaims"].at(0);
  sinks["resourceclaims"].apply(WatchEventType::kDeleted, claim);
  ASSERT_TRUE(reconciler.run_once());
  EXPECT_DOUBLE_EQ(in_use(), 0);
  fs::remove(file);
}

}  // namespace
}  // namespace exportgate::webhook
