// DRA through the admission path: ResourceClaims and ResourceClaimTemplates are decided at their
// creation (a Tier 3 tenant's claim for GPUs is denied, naming the claim, class and worst case),
// even with the workload early check off.
#include <gtest/gtest.h>

#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "webhook/admission_handler.hpp"
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

}  // namespace
}  // namespace exportgate::webhook
