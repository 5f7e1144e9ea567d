// spec.siteNodeLabel (issue 16, "Site"): for a cluster that spans countries, a node label's values
// map to countries, and each workload's country allocation is the one of the country its own node
// constraints pin it to. Every test fails on the code before the map: the loader rejected
// spec.siteNodeLabel as an unknown key, and the allocation was the site's or the tenant's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_diff.hpp"
#include "policy/policy_loader.hpp"
#include "policy/site.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {
namespace {

using nlohmann::json;

const std::string kHead =
    "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n"
    "  preset: diffusion-2025\n";

Policy load(const std::string& spec) {
  return load_policy(kHead + spec, "p.yaml");
}

// The first diagnostic's message of a policy that must not load ("" when it loads).
std::string error_of(const std::string& spec) {
  try {
    load(spec);
  } catch (const PolicyError& e) {
    return e.diagnostics().empty() ? "?" : e.diagnostics()[0].message;
  }
  return "";
}

const std::string kMap =
    "  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
    "    countries: {ap-south-1: IN, ap-south-2: in, eu-central-1: DE, us-east-1: US}\n";

// IN's allocation set to 200,000 TPP so that one 8 x H100 Pod (126,656) fits and two do not.
const std::string kTenants =
    "  jurisdictionCaps: {IN: 200000}\n  tenants:\n"
    "    - {name: sg-co, jurisdiction: SG, namespaces: [sg], authorization: licensed, "
    "licence: D1}\n"
    "    - {name: in-lpp, jurisdiction: IN, namespaces: [in]}\n";

TEST(SiteMap, LoadedNormalisedHashedAndDiffed) {
  const Policy p = load(kMap);
  ASSERT_TRUE(p.site_node_label);
  EXPECT_EQ(p.site_node_label->key, "topology.kubernetes.io/region");
  EXPECT_EQ(p.site_node_label->countries.at("ap-south-2"), "IN");  // upper-cased
  EXPECT_EQ(describe_site_node_label(p),
            "topology.kubernetes.io/region: ap-south-1=IN, ap-south-2=IN, eu-central-1=DE, "
            "us-east-1=US");
  const Policy none = load("  mode: enforce\n");
  EXPECT_FALSE(none.site_node_label);
  EXPECT_NE(p.hash, none.hash);
  EXPECT_NE(p.hash, load("  siteNodeLabel:\n    key: topology.kubernetes.io/region\n"
                         "    countries: {ap-south-1: DE}\n")
                        .hash);
  bool diffed = false;
  for (const auto& c : diff_policies(none, p)) {
    if (c.key == "siteNodeLabel") {
      diffed = true;
      EXPECT_EQ(c.before, "none");
      EXPECT_EQ(c.after, describe_site_node_label(p));
    }
  }
  EXPECT_TRUE(diffed);
  EXPECT_FALSE(load("  siteNodeLabel: null\n").site_node_label);  // null: none
}

TEST(SiteMap, LoaderRejectsWhatCannotBeAMap) {
  struct Row {
    const char* spec;
    const char* message;
  };
  const Row rows[] = {
      {"  siteNodeLabel: {key: topology.kubernetes.io/region, countries: {a: IN}, zone: x}\n",
       "unknown field"},
      {"  siteNodeLabel: {key: \"\", countries: {a: IN}}\n", "expected a node label key"},
      {"  siteNodeLabel: {key: \"a b\", countries: {a: IN}}\n", "expected a node label key"},
      {"  siteNodeLabel: {countries: {a: IN}}\n", "siteNodeLabel.key: required"},
      {"  siteNodeLabel: {key: k}\n", "siteNodeLabel.countries: required"},
      {"  siteNodeLabel: {key: k, countries: {}}\n", "at least one"},
      {"  siteNodeLabel: {key: k, countries: [a]}\n", "countries: expected a mapping"},
      {"  siteNodeLabel: {key: k, countries: {a: XX}}\n", "not an ISO 3166-1 alpha-2"},
      {"  siteNodeLabel: {key: k, countries: {a: [IN]}}\n", "expected a string"},
      {"  siteNodeLabel: {key: k, countries: {a: {code: IN}}}\n", "expected a string"},
      {"  siteNodeLabel: {key: k, countries: {\"-a\": IN}}\n", "not a Kubernetes label value"},
      {"  siteNodeLabel: {key: k, countries: {a: IN, a: DE}}\n", "duplicate key"},
      {"  siteNodeLabel: [k]\n", "siteNodeLabel: expected a mapping"},
  };
  for (const auto& row : rows) {
    const std::string e = error_of(row.spec);
    EXPECT_NE(e, "") << row.spec << " loaded";
    EXPECT_NE(e.find(row.message), std::string::npos) << row.spec << " -> " << e;
  }
}

// A Pod of 8 H100 in namespace `ns` with `constraints` merged into its spec.
json h100_pod(const std::string& ns, const json& constraints = json::object()) {
  json spec = {
      {"nodeSelector", {{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}}},
      {"containers", {{{"name", "c"}, {"resources", {{"limits", {{"nvidia.com/gpu", "8"}}}}}}}}};
  for (const auto& [k, v] : constraints.items()) {
    if (k == "nodeSelector") {
      for (const auto& [lk, lv] : v.items()) spec["nodeSelector"][lk] = lv;
    } else {
      spec[k] = v;
    }
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "train"}, {"namespace", ns}}},
          {"spec", spec}};
}

json region_in(std::initializer_list<const char*> values, const char* op = "In") {
  json term = {
      {"matchExpressions",
       {{{"key", "topology.kubernetes.io/region"}, {"operator", op}, {"values", values}}}}};
  return {{"affinity",
           {{"nodeAffinity",
             {{"requiredDuringSchedulingIgnoredDuringExecution",
               {{"nodeSelectorTerms", json::array({term})}}}}}}}};
}

json region(const char* value) {
  return {{"nodeSelector", {{"topology.kubernetes.io/region", value}}}};
}

struct Judged {
  Decision decision;
  std::string key;  // the allocation key its usage is counted under
};

Judged judge(const Policy& p, const json& object, double drawn) {
  const WorkloadDemand demand = extract_demand(object, p);
  const TenantContext tenant =
      resolve_tenant(p, object["metadata"]["namespace"].get<std::string>(), nullptr);
  Judged j;
  j.key = allocation_key(p, tenant.jurisdiction, workload_site(p, demand));
  j.decision = evaluate(demand, tenant, {0, drawn}, p);
  return j;
}

TEST(SiteMap, EachWorkloadIsCountedWhereItsNodeConstraintsPinIt) {
  const Policy p = load(kMap + kTenants);
  const Policy with_site =
      load(kTenants +
           "  site: IN\n  siteNodeLabel: {key: topology.kubernetes.io/region, countries: "
           "{ap-south-1: IN}}\n");
  struct Row {
    const char* what;
    const Policy* policy;
    json pod;
    double drawn;  // licensed use already drawn from the country's allocation
    const char* verdict;
    const char* code;
    const char* key;
  };
  const Row rows[] = {
      {"nodeSelector in ap-south-1: IN's allocation, room left", &p,
       h100_pod("sg", region("ap-south-1")), 0, "allow", "", "IN"},
      {"nodeSelector in ap-south-1: 73,345 + 126,656 > 200,000", &p,
       h100_pod("sg", region("ap-south-1")), 73'345, "deny", "jurisdiction-cap", "IN"},
      {"affinity In two regions of IN", &p, h100_pod("sg", region_in({"ap-south-1", "ap-south-2"})),
       73'345, "deny", "jurisdiction-cap", "IN"},
      {"nodeSelector in eu-central-1: DE is Tier 1, no allocation", &p,
       h100_pod("sg", region("eu-central-1")), 1e12, "allow", "", "DE"},
      {"affinity In IN and DE: cannot tell which allocation", &p,
       h100_pod("sg", region_in({"ap-south-1", "eu-central-1"})), 0, "deny", "site-unresolved",
       "DE"},
      {"affinity In DE and US: no allocation in either, admitted", &p,
       h100_pod("sg", region_in({"eu-central-1", "us-east-1"})), 1e12, "allow", "", "DE"},
      {"affinity NotIn: any node", &p, h100_pod("sg", region_in({"eu-central-1"}, "NotIn")), 0,
       "deny", "site-unresolved", "DE"},
      {"unconstrained, no site: a node of unknown country", &p, h100_pod("sg"), 0, "deny",
       "site-unresolved", "DE"},
      {"unmapped value, no site: unknown country", &p, h100_pod("sg", region("sa-east-1")), 0,
       "deny", "site-unresolved", "SG"},
      {"spec.nodeName is any node", &p, h100_pod("sg", {{"nodeName", "gpu-1"}}), 0, "deny",
       "site-unresolved", "DE"},
      {"unconstrained, site IN and a one-country map: IN", &with_site, h100_pod("sg"), 0, "allow",
       "", "IN"},
      {"unconstrained, site IN: 73,345 + 126,656 > 200,000", &with_site, h100_pod("sg"), 73'345,
       "deny", "jurisdiction-cap", "IN"},
      {"LPP tenant unconstrained: the allocation is not its limit", &p, h100_pod("in"), 1e12,
       "allow", "", "DE"},
  };
  for (const auto& row : rows) {
    const Judged j = judge(*row.policy, row.pod, row.drawn);
    EXPECT_EQ(to_string(j.decision.verdict), row.verdict) << row.what;
    EXPECT_EQ(j.decision.code, row.code) << row.what;
    EXPECT_EQ(j.key, row.key) << row.what;
  }
}

TEST(SiteMap, AnUnresolvedDenialSaysHowToPinIt) {
  const Policy p = load(kMap + kTenants);
  const Judged j = judge(p, h100_pod("sg", region_in({"ap-south-1", "eu-central-1"})), 0);
  ASSERT_EQ(j.decision.reasons.size(), 1u);
  const std::string& why = j.decision.reasons[0];
  for (const char* part : {"may run in DE or IN (node label topology.kubernetes.io/region)",
                           "{topology.kubernetes.io/region: ap-south-1} (IN)",
                           "{topology.kubernetes.io/region: eu-central-1} (DE)", "nodeSelector"}) {
    EXPECT_NE(why.find(part), std::string::npos) << part << "\n" << why;
  }
}

TEST(SiteMap, WarnModeAdmitsAnUnresolvedWorkloadWithTheReason) {
  const Policy p = load(kMap + kTenants + "  mode: warn\n");
  const Judged j = judge(p, h100_pod("sg"), 0);
  EXPECT_EQ(j.decision.verdict, Verdict::kWarn);
  EXPECT_EQ(j.decision.code, "site-unresolved");
  EXPECT_TRUE(j.decision.would_deny);
  ASSERT_FALSE(j.decision.warnings.empty());
  EXPECT_NE(j.decision.warnings[0].find("pin it to one country"), std::string::npos);
}

TEST(SiteMap, WorkloadsWithoutControlledComputeAreNeverAffected) {
  const Policy p = load(kMap + kTenants);
  json cpu = h100_pod("sg");
  cpu["spec"].erase("nodeSelector");
  cpu["spec"]["containers"][0]["resources"] = {{"limits", {{"cpu", "8"}}}};
  const Judged j = judge(p, cpu, 1e12);
  EXPECT_EQ(j.decision.verdict, Verdict::kAllow);
  EXPECT_EQ(j.decision.code, "");
  // 3A090.b only (A30): outside the caps, so no allocation to tell either.
  json a30 = h100_pod("sg");
  a30["spec"]["nodeSelector"]["nvidia.com/gpu.product"] = "NVIDIA-A30";
  EXPECT_EQ(judge(p, a30, 1e12).decision.code, "");
}

TEST(SiteMap, DraClaimsStateNoNodeSoTheyAreAnyNode) {
  const Policy p = load(kMap + kTenants);
  // What a claim's demand carries: no placement. The engine decides it as any node.
  WorkloadDemand claim = extract_demand(h100_pod("sg", region("ap-south-1")), p);
  claim.placement = {};
  claim.kind = "ResourceClaim";
  const TenantContext sg = resolve_tenant(p, "sg", nullptr);
  EXPECT_EQ(evaluate(claim, sg, {}, p).code, "site-unresolved");
  EXPECT_EQ(workload_site(p, claim), "DE");  // the first country "any node" holds
  // A one-country cluster (site and a map naming only it) resolves it.
  const Policy one = load(kTenants +
                          "  site: IN\n  siteNodeLabel: {key: topology.kubernetes.io/region, "
                          "countries: {ap-south-1: IN}}\n");
  EXPECT_EQ(evaluate(claim, resolve_tenant(one, "sg", nullptr), {}, one).code, "");
}

TEST(SiteMap, PodTemplatesOfOneWorkloadMayRunApart) {
  const Policy p = load(kMap + kTenants);
  const json pod = h100_pod("sg", region("ap-south-1"));
  const json job = {{"apiVersion", "batch/v1"},
                    {"kind", "Job"},
                    {"metadata", {{"name", "j"}, {"namespace", "sg"}}},
                    {"spec", {{"template", {{"spec", pod["spec"]}}}}}};
  EXPECT_EQ(extract_demand(job, p).placement.resolved(), "IN");
  // Two selectors that contradict each other (unschedulable): both countries are counted.
  json both = h100_pod("sg", region("ap-south-1"));
  both["spec"].update(region_in({"eu-central-1"}));
  const SitePlacement placed = extract_demand(both, p).placement;
  EXPECT_EQ(placed.countries, (std::vector<std::string>{"DE", "IN"}));
  EXPECT_FALSE(placed.unknown_country);
}

}  // namespace
}  // namespace exportgate::policy
