// DRA through the admission path: ResourceClaims and ResourceClaimTemplates are decided at their
// creation (a Tier 3 tenant's claim for GPUs is denied, naming the claim, class and worst case),
// even with the workload early check off.
#include <gtest/gtest.h>

#include "policy/dra_charge.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "tests/unit/support/dra_objects.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/kube_dra_cache.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {
namespace {

using nlohmann::json;

AdmissionRequest claim_request(const std::string& kind, const std::string& ns,
                               const std::string& yaml) {
  AdmissionRequest r;
  r.uid = "uid-" + kind;
  r.kind = {"resource.k8s.io", "v1", kind};
  r.resource = kind == "ResourceClaim" ? "resourceclaims" : "resourceclaimtemplates";
  r.operation = "CREATE";
  r.namespace_ = ns;
  r.object = policy::parse_manifests(yaml, "claim.yaml").at(0).object;
  r.name = r.object["metadata"]["name"].get<std::string>();
  return r;
}

policy::Policy tenants_policy() {
  auto p = policy::load_preset(policy::kDefaultPreset);
  for (auto [name, jurisdiction] : {std::pair{"cn", "CN"}, std::pair{"de", "DE"}}) {
    policy::Tenant t;
    t.name = name;
    t.jurisdiction = jurisdiction;
    t.namespaces = {name};
    p.tenants.push_back(t);
  }
  p.workload_early_check = false;
  return p;
}

const char* kClaim = R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: gpus}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {deviceClassName: gpu.nvidia.com, count: 2}
)";

const char* kTemplate = R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: eight}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.nvidia.com, count: 8}
)";

TEST(AdmissionDra, Tier3ClaimAndTemplateAreDeniedAtCreation) {
  const auto policy = tenants_policy();
  InMemoryLedger ledger;
  for (const auto& [kind, yaml] :
       {std::pair{"ResourceClaim", kClaim}, std::pair{"ResourceClaimTemplate", kTemplate}}) {
    const auto out =
        handle_admission(claim_request(kind, "cn", yaml), Endpoint::kValidate, policy, ledger, {});
    EXPECT_FALSE(out.response.allowed) << kind;
    EXPECT_EQ(out.decision, "deny");
    EXPECT_NE(out.response.status_message.find("class \"gpu.nvidia.com\""), std::string::npos)
        << out.response.status_message;
    EXPECT_NE(out.response.status_message.find("any of: "), std::string::npos);
    EXPECT_NE(out.response.status_message.find("Tier 3"), std::string::npos);
  }
}

TEST(AdmissionDra, Tier1ClaimIsAdmitted) {
  const auto policy = tenants_policy();
  InMemoryLedger ledger;
  const auto out = handle_admission(claim_request("ResourceClaim", "de", kClaim),
                                    Endpoint::kValidate, policy, ledger, {});
  EXPECT_TRUE(out.response.allowed) << out.response.status_message;
}

TEST(AdmissionDra, MalformedClaimIsRefusedWithTheField) {
  const auto policy = tenants_policy();
  InMemoryLedger ledger;
  const auto out = handle_admission(
      claim_request("ResourceClaim", "de",
                    "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: x}\n"
                    "spec: {devices: {requests: [{name: g, exactly: {deviceClassName: c, count: "
                    "-1}}]}}\n"),
      Endpoint::kValidate, policy, ledger, {});
  EXPECT_FALSE(out.response.allowed);
  EXPECT_NE(out.response.status_message.find("count"), std::string::npos)
      << out.response.status_message;
}

const char* kGpuClass = R"(
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.nvidia.com, resourceVersion: "1"}
spec:
  selectors:
  - cel: {expression: "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"}
)";

// A ResourceClaim `name` for `count` devices of class gpu.nvidia.com whose CEL selector pins
// `product`.
std::string product_claim(const std::string& name, int count, const std::string& product) {
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: " + name +
         "}\nspec:\n  devices:\n    requests:\n    - name: gpu\n      exactly:\n"
         "        deviceClassName: gpu.nvidia.com\n        count: " +
         std::to_string(count) +
         "\n        selectors: [{cel: {expression: "
         "\"device.attributes['gpu.nvidia.com'].productName "
         "== '" +
         product + "'\"}}]\n";
}

const std::string kH20Claim = product_claim("h20s", 8, "NVIDIA H20");

// The caches as cluster mode fills them: a list, then watch events.
TEST(AdmissionDra, CachedDeviceClassLetsASelectorPinTheModel) {
  DraCaches caches;
  auto sinks = testing::dra_informer_sinks(caches);
  ASSERT_EQ(sinks.size(), 4u);
  const auto policy = tenants_policy();
  InMemoryLedger ledger;
  AdmissionEnv env;
  auto ctx = caches.context();
  env.dra = ctx.get();
  // The class is not cached yet: its driver is unknown, so the claim is the worst case.
  auto out = handle_admission(claim_request("ResourceClaim", "cn", kH20Claim), Endpoint::kValidate,
                              policy, ledger, env);
  EXPECT_FALSE(out.response.allowed);

  std::vector<json> page = {policy::parse_manifests(kGpuClass, "c.yaml").at(0).object};
  sinks["deviceclasses"].list_page(page, true);
  sinks["deviceclasses"].list_done();
  ctx = caches.context();
  env.dra = ctx.get();
  ASSERT_EQ(ctx->classes.size(), 1u);
  out = handle_admission(claim_request("ResourceClaim", "cn", kH20Claim), Endpoint::kValidate,
                         policy, ledger, env);
  EXPECT_TRUE(out.response.allowed) << out.response.status_message;
  // An unpinned claim with the same class stays denied in Tier 3.
  out = handle_admission(claim_request("ResourceClaim", "cn", kClaim), Endpoint::kValidate, policy,
                         ledger, env);
  EXPECT_FALSE(out.response.allowed);

  json gone = policy::parse_manifests(kGpuClass, "c.yaml").at(0).object;
  sinks["deviceclasses"].apply(WatchEventType::kDeleted, gone);
  EXPECT_TRUE(caches.context()->classes.empty());
}

const std::string kH100Claim = product_claim("h100s", 2, "NVIDIA H100 80GB HBM3");

TEST(AdmissionDra, ClaimsReserveUnderTheCapAndAreAnnotated) {
  auto policy = tenants_policy();
  policy::Tenant sg;
  sg.name = "sg";
  sg.jurisdiction = "SG";
  sg.namespaces = {"sg"};
  sg.cap_tpp = 40'000;  // one claim of 2 x H100 (31,664), not two
  policy.tenants.push_back(sg);
  policy::DraContext ctx;
  ctx.add_object(policy::parse_manifests(kGpuClass, "c.yaml").at(0).object);
  AdmissionEnv env;
  env.dra = &ctx;
  env.annotate_admission_uid = true;
  InMemoryLedger ledger;

  auto first = claim_request("ResourceClaim", "sg", kH100Claim);
  const auto mutated = handle_admission(first, Endpoint::kMutate, policy, ledger, env);
  ASSERT_TRUE(mutated.response.patch.has_value());
  EXPECT_NE(mutated.response.patch->dump().find(first.uid), std::string::npos);
  auto out = handle_admission(first, Endpoint::kValidate, policy, ledger, env);
  EXPECT_TRUE(out.response.allowed) << out.response.status_message;
  EXPECT_DOUBLE_EQ(ledger.snapshot("sg", "SG").tenant_tpp, 31'664);

  auto second = claim_request("ResourceClaim", "sg", kH100Claim);
  second.uid = "uid-second";
  second.name = "more";
  second.object["metadata"]["name"] = "more";
  out = handle_admission(second, Endpoint::kValidate, policy, ledger, env);
  EXPECT_FALSE(out.response.allowed);
  EXPECT_NE(out.response.status_message.find("tenant cap"), std::string::npos)
      << out.response.status_message;
  // A claim and a Pod of the same name are different reservations.
  EXPECT_FALSE(ledger.release("sg/h100s"));
  EXPECT_TRUE(ledger.release("sg/resourceclaims/h100s"));
}

TEST(AdmissionDra, AllocatedClaimsAreCountedExactlyOnce) {
  policy::DraContext ctx;
  for (const auto& m : policy::parse_manifests(
           std::string(kGpuClass) + "---\n" + testing::h100_slice("node-b", 1) + R"(---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: held, namespace: sg, annotations: {exportgate.io/admission-uid: uid-1}}
spec:
  devices:
    requests: [{name: gpu, exactly: {deviceClassName: gpu.nvidia.com}}]
status:
  allocation:
    devices:
      results: [{request: gpu, driver: gpu.nvidia.com, pool: node-b, device: gpu-0}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: pending, namespace: sg, annotations: {exportgate.io/admission-uid: uid-2}}
spec:
  devices:
    requests: [{name: gpu, exactly: {deviceClassName: gpu.nvidia.com, count: 4}}]
)",
           "ctx.yaml")) {
    ctx.add_object(m.object);
  }
  const auto in_use = dra_claims_in_use(ctx, tenants_policy());
  ASSERT_EQ(in_use.size(), 1u);
  EXPECT_EQ(in_use[0].namespace_, "sg");
  EXPECT_EQ(in_use[0].admission_uid, "uid-1");
  EXPECT_DOUBLE_EQ(in_use[0].controlled_tpp, 15'832);
}

}  // namespace
}  // namespace exportgate::webhook
