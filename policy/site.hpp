// Where the accelerators are installed and what it changes: the country allocation attaches to
// the installed location. spec.site states one country for the cluster; spec.siteNodeLabel maps
// a node label's values to countries for a cluster that spans several, and each workload's
// country is then read from its own node constraints on that label. Usage is counted under that
// country for every tenant; access rules (tiers, headquarters, part rules) stay with the tenant.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {

// Every node of the cluster: each mapped country, and spec.site for nodes whose label value is
// not mapped (without a site, a node of unknown country). known=false without siteNodeLabel.
SitePlacement any_node(const Policy& p);

// The countries one pod spec's node constraints on siteNodeLabel.key allow: nodeSelector (exact
// value) and required node affinity (terms ORed; a term without an `In` on the key allows any
// node, and NotIn/Exists/DoesNotExist/Gt/Lt never narrow it). spec.nodeName is not read: a node
// exportgate does not see may be anywhere. Both given: their intersection (their union when they
// contradict each other). known=false without siteNodeLabel.
SitePlacement pod_placement(const nlohmann::json& pod_spec, const Policy& p);

// Adds the countries `from` allows to `into` (pods of several templates may run apart).
void add_placement(SitePlacement& into, const SitePlacement& from);

// The placement the engine decides on: the demand's, or every node when the policy maps nodes
// and the demand says nothing of where it runs (fail closed).
const SitePlacement& placement_of(const Policy& p, const WorkloadDemand& d, SitePlacement& scratch);

// The country a workload's usage is counted under when the policy maps nodes: its one country;
// when several are possible (admitted only if no allocation applies in any of them) the first of
// them. "" when the policy maps no nodes or no known country is possible.
std::string workload_site(const Policy& p, const WorkloadDemand& d);

// The code usage is counted under for the country allocation: the workload's site (above), else
// the policy's site when it states one, else the tenant's jurisdiction (exportgate's analogue);
// "" when the tenant has none.
std::string allocation_key(const Policy& p, std::string_view tenant_jurisdiction,
                           std::string_view workload_site = {});

// "topology.kubernetes.io/region: ap-south-1=IN, eu-central-1=DE"; "none" without a map.
std::string describe_site_node_label(const Policy& p);

}  // namespace exportgate::policy
