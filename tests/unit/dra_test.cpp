// DRA: the selector analysis, the decoders, and how claims, templates and Pods that use them are
// charged (offline against the catalog, against published ResourceSlices, exactly after
// allocation) and decided.
#include <gtest/gtest.h>

#include <string>

#include "policy/dra_charge.hpp"
#include "policy/dra_selector.hpp"
#include "policy/embedded.hpp"
#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {
namespace {

using json = nlohmann::json;

const Policy& policy() {
  static const Policy p = load_preset(kDefaultPreset);
  return p;
}

json object(const std::string& yaml) {
  const auto objects = parse_manifests(yaml, "test.yaml");
  EXPECT_EQ(objects.size(), 1u);
  return objects.at(0).object;
}

DraContext context(const std::string& yaml) {
  DraContext c;
  c.default_namespace = "default";
  for (const auto& m : parse_manifests(yaml, "context.yaml")) c.add_object(m.object);
  return c;
}

const std::string kGpuClass = R"(
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.nvidia.com}
spec:
  selectors:
  - cel: {expression: "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: mig.nvidia.com}
spec:
  selectors:
  - cel: {expression: "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'"}
)";

// Two nodes as NVIDIA's kubelet plugin publishes them: four H100s, four H20s.
const std::string kSlices = R"(
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-a-gpu}
spec:
  driver: gpu.nvidia.com
  nodeName: node-a
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - {name: gpu-0, attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}, architecture: {string: Hopper}}}
  - {name: gpu-1, attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}, architecture: {string: Hopper}}}
  - {name: gpu-2, attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}, architecture: {string: Hopper}}}
  - {name: gpu-3, attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}, architecture: {string: Hopper}}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-b-gpu}
spec:
  driver: gpu.nvidia.com
  nodeName: node-b
  pool: {name: node-b, generation: 1, resourceSliceCount: 1}
  devices:
  - {name: gpu-0, attributes: {type: {string: gpu}, productName: {string: NVIDIA H20}}}
  - {name: gpu-1, attributes: {type: {string: gpu}, productName: {string: NVIDIA H20}}}
  - {name: gpu-2, attributes: {type: {string: gpu}, productName: {string: NVIDIA H20}}}
  - {name: gpu-3, attributes: {type: {string: gpu}, productName: {string: NVIDIA H20}}}
)";

std::string claim_template(const std::string& exactly) {
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\nmetadata: {name: t}\n"
         "spec:\n  spec:\n    devices:\n      requests:\n      - name: gpus\n        exactly: " +
         exactly + "\n";
}

WorkloadDemand demand_of(const std::string& yaml, const DraContext* ctx) {
  ExtractOptions options;
  options.dra = ctx;
  return extract_demand(object(yaml), policy(), options);
}

// ---------------------------------------------------------------- selectors

TEST(DraSelector, EqualityInAndConjunctionsNarrow) {
  DraRequirements r;
  r.add_selector(
      "device.driver == 'gpu.nvidia.com' && (\"NVIDIA H20\" == "
      "device.attributes[\"gpu.nvidia.com\"].productName) && "
      "device.attributes['gpu.nvidia.com']['type'] in ['gpu', 'vfio']");
  ASSERT_TRUE(r.drivers);
  EXPECT_EQ(*r.drivers, std::vector<std::string>{"gpu.nvidia.com"});
  ASSERT_EQ(r.attributes.size(), 2u);
  EXPECT_EQ(r.attributes[0].attribute, "gpu.nvidia.com/productName");
  EXPECT_EQ(r.attributes[0].values, std::vector<std::string>{"NVIDIA H20"});
  EXPECT_EQ(r.attributes[1].attribute, "gpu.nvidia.com/type");
  EXPECT_EQ(r.attributes[1].values, (std::vector<std::string>{"gpu", "vfio"}));
  EXPECT_TRUE(r.ignored.empty());
  // A second selector must hold too: the values intersect.
  r.add_selector("device.attributes['gpu.nvidia.com'].type == 'gpu'");
  EXPECT_EQ(r.attributes[1].values, std::vector<std::string>{"gpu"});
}

TEST(DraSelector, AnythingElseNarrowsNothing) {
  for (const char* expression : {
           "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20' || true",
           "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20' ? true : true",
           "!(device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20')",
           "device.attributes['gpu.nvidia.com'].productName != 'NVIDIA H20'",
           "device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA H20')",
           "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H2\\x30'",
           "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA ' + 'H20'",
           "device.attributes['gpu.nvidia.com'].productName == '''NVIDIA H20'''",
           "(device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20'",
           "",
       }) {
    DraRequirements r;
    r.add_selector(expression);
    EXPECT_FALSE(r.drivers) << expression;
    EXPECT_TRUE(r.attributes.empty()) << expression;
    EXPECT_FALSE(r.ignored.empty()) << expression;
  }
}

TEST(DraSelector, UnknownConjunctsAreDroppedNotTheKnownOnes) {
  DraRequirements r;
  r.add_selector(
      "device.driver == 'gpu.nvidia.com' && device.capacity['gpu.nvidia.com'].memory.compareTo("
      "quantity('40Gi')) >= 0");
  ASSERT_TRUE(r.drivers);
  EXPECT_TRUE(r.attributes.empty());
  EXPECT_EQ(r.ignored.size(), 1u);
}

TEST(DraSelector, DeepNestingIsBounded) {
  std::string e;
  for (int i = 0; i < 10000; ++i) e += "(";
  e += "device.driver == 'x'";
  for (int i = 0; i < 10000; ++i) e += ")";
  DraRequirements r;
  r.add_selector(e);
  EXPECT_FALSE(r.drivers);
}

// ---------------------------------------------------------------- decoders

TEST(DraDecode, MalformedRequestsAreErrors) {
  EXPECT_THROW(
      decode_resource_claim_template(object(claim_template("{deviceClassName: c, count: 0}"))),
      ManifestError);
  EXPECT_THROW(decode_resource_claim_template(object(claim_template("{count: 1}"))), ManifestError);
  EXPECT_THROW(decode_resource_claim_template(
                   object(claim_template("{deviceClassName: c, allocationMode: Some}"))),
               ManifestError);
  EXPECT_THROW(decode_resource_claim_template(object(claim_template("[]"))), ManifestError);
  EXPECT_THROW(decode_resource_claim(object(R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c}
spec:
  devices:
    requests:
    - name: gpus
      exactly: {deviceClassName: c}
      firstAvailable: [{name: a, deviceClassName: c}]
)")),
               ManifestError);
  EXPECT_THROW(decode_pod_claims(json::parse(R"({"resourceClaims":[{"name":"x"}]})"), "spec"),
               ManifestError);
}

TEST(DraDecode, SliceAttributesAreQualifiedWithTheDriver) {
  const DraContext c = context(kSlices);
  ASSERT_EQ(c.slices.size(), 2u);
  const DraDevice* d = c.find_device("gpu.nvidia.com", "node-a", "gpu-2");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->attributes.at("gpu.nvidia.com/productName"), "NVIDIA H100 80GB HBM3");
}

// ---------------------------------------------------------------- charging offline

// The most capable NVIDIA model of the catalog: what an unpinned NVIDIA device is charged as.
std::string nvidia_worst() {
  return policy().catalog.most_capable_of_vendor("NVIDIA")->id;
}

TEST(DraCharge, UnpinnedGpusAreTheDriversMostCapableModel) {
  const DraContext c = context(kGpuClass);
  const auto d = demand_of(claim_template("{deviceClassName: gpu.nvidia.com, count: 8}"), &c);
  ASSERT_EQ(d.pod_sets.size(), 1u);
  ASSERT_EQ(d.pod_sets[0].accelerators.size(), 1u);
  const auto& a = d.pod_sets[0].accelerators[0];
  EXPECT_EQ(a.quantity, 8);
  EXPECT_EQ(a.model_id, nvidia_worst());
  EXPECT_FALSE(a.pinned);
  EXPECT_NE(a.model_name.find("any of: "), std::string::npos) << a.model_name;
  EXPECT_NE(a.resource.find("class \"gpu.nvidia.com\""), std::string::npos);
  EXPECT_TRUE(d.claim_template);
  EXPECT_DOUBLE_EQ(d.controlled_tpp, 8 * policy().catalog.find_model(nvidia_worst())->tpp);
}

TEST(DraCharge, ProductNameSelectorPinsTheModel) {
  const DraContext c = context(kGpuClass);
  const auto d = demand_of(
      claim_template("{deviceClassName: gpu.nvidia.com, count: 8, selectors: [{cel: {expression: "
                     "\"device.attributes['gpu.nvidia.com'].productName in ['NVIDIA H20', "
                     "'NVIDIA A30']\"}}]}"),
      &c);
  const auto& a = d.pod_sets.at(0).accelerators.at(0);
  EXPECT_EQ(a.model_id, "a30");  // the more capable of the two
  EXPECT_NE(a.model_name.find("NVIDIA H20"), std::string::npos);
  const auto h20 = demand_of(
      claim_template("{deviceClassName: gpu.nvidia.com, count: 8, selectors: [{cel: {expression: "
                     "\"device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20'\"}}]}"),
      &c);
  EXPECT_EQ(h20.pod_sets.at(0).accelerators.at(0).model_id, "h20");
  EXPECT_TRUE(h20.pod_sets.at(0).accelerators.at(0).pinned);
  EXPECT_EQ(h20.controlled_tpp, 0);
}

TEST(DraCharge, UnknownProductOrOrSelectorIsTheWorstCase) {
  const DraContext c = context(kGpuClass);
  for (const char* expression :
       {"device.attributes['gpu.nvidia.com'].productName == 'NVIDIA X999'",
        "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20' || true"}) {
    const auto d = demand_of(claim_template(std::string("{deviceClassName: gpu.nvidia.com, "
                                                        "selectors: [{cel: {expression: \"") +
                                            expression + "\"}}]}"),
                             &c);
    EXPECT_EQ(d.pod_sets.at(0).accelerators.at(0).model_id, nvidia_worst()) << expression;
  }
}

TEST(DraCharge, UnknownClassIsTheWorstOfTheCatalog) {
  const auto d = demand_of(claim_template("{deviceClassName: whatever}"), nullptr);
  EXPECT_EQ(d.pod_sets.at(0).accelerators.at(0).model_id,
            policy().catalog.most_capable_of_vendor("")->id);
  ASSERT_FALSE(d.notes.empty());
  EXPECT_NE(d.notes[0].find("DeviceClass \"whatever\" is not known"), std::string::npos);
}

TEST(DraCharge, MigProfileIsItsFraction) {
  const DraContext c = context(kGpuClass);
  const auto d =
      demand_of(claim_template("{deviceClassName: mig.nvidia.com, selectors: [{cel: {expression: "
                               "\"device.attributes['gpu.nvidia.com'].profile == '1g.10gb'\"}}]}"),
                &c);
  const auto& a = d.pod_sets.at(0).accelerators.at(0);
  EXPECT_DOUBLE_EQ(a.device_fraction, 1.0 / 7);
  EXPECT_DOUBLE_EQ(a.tpp_per_pod, policy().catalog.find_model("h100-sxm")->tpp / 7);
}

TEST(DraCharge, AllocationModeAllOfflineIsTheApiMaximum) {
  const DraContext c = context(kGpuClass);
  const auto d =
      demand_of(claim_template("{deviceClassName: gpu.nvidia.com, allocationMode: All}"), &c);
  EXPECT_EQ(d.pod_sets.at(0).accelerators.at(0).quantity, kDraMaxDevicesPerClaim);
}

TEST(DraCharge, FirstAvailableIsTheWorstAlternative) {
  const DraContext c = context(kGpuClass);
  const auto d = demand_of(R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c}
spec:
  devices:
    requests:
    - name: gpu
      firstAvailable:
      - name: h20s
        deviceClassName: gpu.nvidia.com
        count: 4
        selectors: [{cel: {expression: "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H20'"}}]
      - name: one-h100
        deviceClassName: gpu.nvidia.com
        selectors: [{cel: {expression: "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H100 80GB HBM3'"}}]
)",
                           &c);
  const auto& a = d.pod_sets.at(0).accelerators.at(0);
  EXPECT_EQ(a.model_id, "h100-sxm");  // 15,832 > 4 x 2,368
  EXPECT_EQ(a.quantity, 1);
  EXPECT_NE(a.resource.find("gpu/one-h100"), std::string::npos);
}

// ---------------------------------------------------------------- against published slices

TEST(DraCharge, PublishedDevicesBoundTheWorstCase) {
  const DraContext c = context(kGpuClass + kSlices);
  const auto d = demand_of(claim_template("{deviceClassName: gpu.nvidia.com, count: 2}"), &c);
  const auto& a = d.pod_sets.at(0).accelerators.at(0);
  EXPECT_EQ(a.model_id, "h100-sxm");  // not the catalog's GB200: no such device is published
  EXPECT_EQ(a.model_name, "any of: NVIDIA H100 SXM, NVIDIA H20 (charged as NVIDIA H100 SXM)");
  const auto all =
      demand_of(claim_template("{deviceClassName: gpu.nvidia.com, allocationMode: All}"), &c);
  EXPECT_EQ(all.pod_sets.at(0).accelerators.at(0).quantity, 8);
}

TEST(DraCharge, AllocatedClaimIsChargedExactly) {
  const DraContext c = context(kGpuClass + kSlices);
  const auto d = demand_of(R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c, namespace: team}
spec:
  devices:
    requests:
    - name: gpus
      exactly: {deviceClassName: gpu.nvidia.com, count: 2}
status:
  allocation:
    devices:
      results:
      - {request: gpus, driver: gpu.nvidia.com, pool: node-b, device: gpu-0}
      - {request: gpus, driver: gpu.nvidia.com, pool: node-b, device: gpu-1}
)",
                           &c);
  ASSERT_EQ(d.pod_sets.at(0).accelerators.size(), 1u);
  const auto& a = d.pod_sets[0].accelerators[0];
  EXPECT_EQ(a.model_id, "h20");
  EXPECT_EQ(a.quantity, 2);
  EXPECT_TRUE(a.pinned);
  EXPECT_EQ(d.controlled_tpp, 0);
}

// ---------------------------------------------------------------- pods and decisions

const std::string kSharedClaim = R"(
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: shared}
spec:
  devices:
    requests:
    - name: gpus
      exactly:
        deviceClassName: gpu.nvidia.com
        count: 2
        selectors: [{cel: {expression: "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H100 80GB HBM3'"}}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: per-pod}
spec:
  spec:
    devices:
      requests:
      - name: gpus
        exactly: {deviceClassName: gpu.nvidia.com, selectors: [{cel: {expression: "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA H100 80GB HBM3'"}}]}
)";

TEST(DraPods, TemplateClaimsArePerPodSharedClaimsAreHeldOnce) {
  const DraContext c = context(kGpuClass + kSharedClaim);
  const auto d = demand_of(R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 3
  template:
    spec:
      resourceClaims:
      - {name: own, resourceClaimTemplateName: per-pod}
      - {name: common, resourceClaimName: shared}
      containers:
      - name: c
        image: x
        resources: {claims: [{name: own}, {name: common}]}
)",
                           &c);
  const double h100 = policy().catalog.find_model("h100-sxm")->tpp;
  EXPECT_DOUBLE_EQ(d.controlled_tpp, 3 * h100);       // one template claim per pod
  EXPECT_DOUBLE_EQ(d.held_controlled_tpp, 2 * h100);  // the shared claim, once
  EXPECT_NE(d.describe_accelerators().find("shared claim"), std::string::npos);
}

TEST(DraPods, SharedClaimCountsForTheTierNotAgainForTheCaps) {
  const DraContext c = context(kGpuClass + kSharedClaim);
  const auto pod = demand_of(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  resourceClaims: [{name: common, resourceClaimName: shared}]
  containers: [{name: c, image: x}]
)",
                             &c);
  TenantContext t3;
  t3.tenant = "t";
  t3.jurisdiction = "CN";
  t3.tier = policy().tier_of("CN");
  const Decision denied = evaluate(pod, t3, {}, policy());
  EXPECT_EQ(denied.verdict, Verdict::kDeny);
  EXPECT_NE(denied.reasons.at(0).find("held by shared claims"), std::string::npos);

  TenantContext t2 = t3;
  t2.jurisdiction = "SG";
  t2.tier = policy().tier_of("SG");
  // Usage already at the cap (the claim itself is in it): the pod adds nothing.
  const Decision d = evaluate(pod, t2, {1e12, 1e12}, policy());
  EXPECT_NE(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.requested_tpp, 0);
}

TEST(DraPods, UnknownClaimsAreLeftToTheirOwnAdmission) {
  const auto d = demand_of(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  resourceClaims: [{name: a, resourceClaimTemplateName: nowhere}, {name: b, resourceClaimName: gone}]
  containers: [{name: c, image: x}]
)",
                           nullptr);
  EXPECT_FALSE(d.has_accelerators());
  ASSERT_EQ(d.notes.size(), 2u);
  EXPECT_NE(d.notes[0].find("charged when it is created"), std::string::npos);
}

}  // namespace
}  // namespace exportgate::policy
