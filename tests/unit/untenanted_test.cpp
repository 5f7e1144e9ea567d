// Issue 13, "caps multiply by namespace": a namespace that no policy tenant lists and no
// exportgate.io/tenant label names was a tenant of its own, so work spread over several such
// namespaces got one tenant cap each. In a tier with a tenant cap it now gets no controlled
// accelerators unless the policy says each namespace is its own tenant.
#include <gtest/gtest.h>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_loader.hpp"
#include "policy/policy_warnings.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {
namespace {

using nlohmann::json;
using Labels = std::map<std::string, std::string>;

const std::string kTenantKey(kTenantLabel);
const std::string kJurisdictionKey(kJurisdictionLabel);

Policy policy_with(const std::string& spec_extra) {
  return load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: t}\n"
      "spec:\n  preset: diffusion-2025\n" +
          spec_extra + "  tenants:\n    - {name: listed, jurisdiction: IN, namespaces: [listed]}\n",
      "t.yaml");
}

WorkloadDemand h100_pod(const std::string& ns, const Policy& p) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "train"}, {"namespace", ns}}},
              {"spec",
               {{"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}}},
                {"containers",
                 {{{"name", "c"}, {"resources", {{"limits", {{"nvidia.com/gpu", "8"}}}}}}}}}}};
  return extract_demand(pod, p);
}

Decision decide(const Policy& p, const std::string& ns, const Labels& labels) {
  return evaluate(h100_pod(ns, p), resolve_tenant(p, ns, &labels), {}, p);
}

TEST(Untenanted, OnlyANamespaceWithoutPolicyTenantOrTenantLabelIsUntenanted) {
  const Policy p = policy_with("");
  EXPECT_TRUE(resolve_tenant(p, "lab", nullptr).untenanted);
  const Labels only_jurisdiction{{kJurisdictionKey, "IN"}};
  EXPECT_TRUE(resolve_tenant(p, "lab", &only_jurisdiction).untenanted);
  const Labels empty_label{{kJurisdictionKey, "IN"}, {kTenantKey, ""}};
  EXPECT_TRUE(resolve_tenant(p, "lab", &empty_label).untenanted);
  const Labels named{{kJurisdictionKey, "IN"}, {kTenantKey, "lab"}};
  EXPECT_FALSE(resolve_tenant(p, "lab", &named).untenanted);  // explicit: its own tenant
  const Labels other{{kJurisdictionKey, "IN"}, {kTenantKey, "team"}};
  EXPECT_FALSE(resolve_tenant(p, "lab", &other).untenanted);
  const Labels to_listed{{kTenantKey, "listed"}};
  EXPECT_FALSE(resolve_tenant(p, "lab", &to_listed).untenanted);
  EXPECT_FALSE(resolve_tenant(p, "listed", nullptr).untenanted);
}

TEST(Untenanted, CappedTierDeniesAndSaysWhichLabelToSet) {
  const Policy p = policy_with("");
  EXPECT_EQ(p.untenanted_namespaces, UntenantedNamespaces::kDeny);  // the default
  const Decision d = decide(p, "lab-a", {{kJurisdictionKey, "IN"}});
  ASSERT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.code, "untenanted-namespace");
  ASSERT_EQ(d.reasons.size(), 1u);
  const std::string& r = d.reasons[0];
  EXPECT_NE(r.find("namespace \"lab-a\" has no tenant"), std::string::npos) << r;
  EXPECT_NE(r.find("exportgate.io/tenant=<tenant>"), std::string::npos) << r;
  EXPECT_NE(r.find("untenantedNamespaces: own-tenant"), std::string::npos) << r;
  EXPECT_NE(r.find("26,900,000"), std::string::npos) << r;  // the cap that would multiply

  // With a tenant label, or listed in the policy: the cap applies as usual.
  EXPECT_EQ(decide(p, "lab-a", {{kJurisdictionKey, "IN"}, {kTenantKey, "lab"}}).verdict,
            Verdict::kAllow);
  EXPECT_EQ(decide(p, "listed", {}).verdict, Verdict::kAllow);
  // No tenant cap in Tier 1, nothing to multiply; Tier 3 is denied for its own reason.
  EXPECT_EQ(decide(p, "lab-us", {{kJurisdictionKey, "US"}}).verdict, Verdict::kAllow);
  EXPECT_EQ(decide(p, "lab-cn", {{kJurisdictionKey, "CN"}}).code, "tier-prohibited");
  // Only controlled accelerators are refused.
  json cpu = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "web"}, {"namespace", "lab-a"}}},
              {"spec", {{"containers", {{{"name", "c"}}}}}}};
  const Labels in{{kJurisdictionKey, "IN"}};
  EXPECT_EQ(evaluate(extract_demand(cpu, p), resolve_tenant(p, "lab-a", &in), {}, p).verdict,
            Verdict::kAllow);
}

TEST(Untenanted, OwnTenantIsAnExplicitPolicyChoice) {
  const Policy p = policy_with("  tenancy:\n    untenantedNamespaces: own-tenant\n");
  EXPECT_EQ(p.untenanted_namespaces, UntenantedNamespaces::kOwnTenant);
  const Decision d = decide(p, "lab-a", {{kJurisdictionKey, "IN"}});
  EXPECT_EQ(d.verdict, Verdict::kAllow);
  EXPECT_EQ(d.tenant_cap_tpp, 26'900'000.0);
  EXPECT_NE(p.hash, policy_with("").hash);  // the choice is part of the policy hash
  EXPECT_THROW(policy_with("  tenancy:\n    untenantedNamespaces: maybe\n"), PolicyError);
  EXPECT_THROW(policy_with("  tenancy:\n    other: 1\n"), PolicyError);
}

TEST(PolicyWarnings, GlobsThatExemptOrAssignTenantsAreReported) {
  const Policy exact = policy_with("  exemptions:\n    namespaces: [kube-system, monitoring]\n");
  EXPECT_TRUE(policy_warnings(exact).empty());
  const Policy globs = load_policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: g}\nspec:\n"
      "  preset: diffusion-2025\n"
      "  exemptions:\n    namespaces: [kube-system, ci-*]\n"
      "  tenants:\n    - {name: acme, jurisdiction: US, namespaces: [acme, acme-*]}\n",
      "g.yaml");
  const auto w = policy_warnings(globs);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("spec.exemptions.namespaces: \"ci-*\""), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("exempt"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("spec.tenants[acme].namespaces: \"acme-*\""), std::string::npos) << w[1];
  EXPECT_NE(w[1].find("exportgate.io/tenant=acme"), std::string::npos) << w[1];
}

}  // namespace
}  // namespace exportgate::policy
