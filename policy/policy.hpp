// The policy model: what a loaded Policy file (a preset plus overrides) means, as plain data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy/catalog.hpp"
#include "policy/rule_status.hpp"
#include "policy/tier.hpp"

namespace exportgate::policy {

enum class Mode { kEnforce, kWarn, kAudit };
std::string_view to_string(Mode m);

// What a tier does with controlled (3A090) accelerators.
enum class ControlledAction { kAllow, kCap, kDeny };
std::string_view to_string(ControlledAction a);

struct TierLimits {
  ControlledAction controlled = ControlledAction::kAllow;
  std::optional<double> tenant_cap_tpp;        // per tenant, TPP in use (e.g. LPP 26,900,000)
  std::optional<double> jurisdiction_cap_tpp;  // per jurisdiction (e.g. country cap 790,000,000)
  std::string rule;                            // citation shown on every decision this tier causes
  // With kDeny: the rule requires a licence (controls-2023) rather than presuming denial (Tier 3);
  // only the wording and the decision code ("licence-required" vs "tier-prohibited") differ.
  bool licence_required = false;
  RuleStatus status;     // the rule's own dates/status (declared=false: the rule set's apply)
  std::string citation;  // rule + status + rule set, as decisions cite it (set by the loader)
  // The citation when the loader set one, else the bare rule.
  const std::string& cited() const { return citation.empty() ? rule : citation; }
};

// How a tenant is authorised beyond its tier.
enum class Authorization { kNone, kValidatedEndUser, kLicensed };
std::string_view to_string(Authorization a);

// A namespace that no policy tenant lists and no exportgate.io/tenant label names: in a tier
// with a tenant cap, counting it as its own tenant would give every such namespace a cap of its
// own, so by default it gets no controlled accelerators there (issue 13).
enum class UntenantedNamespaces { kDeny, kOwnTenant };
std::string_view to_string(UntenantedNamespaces u);  // "deny", "own-tenant"

struct Tenant {
  std::string name;
  std::string jurisdiction;             // ISO alpha-2, upper case
  std::vector<std::string> namespaces;  // exact names or globs with a trailing '*'
  Authorization authorization = Authorization::kNone;
  std::optional<double> cap_tpp;  // own cap; for a validated end user replaces the tier's caps
  std::string licence;            // licence / authorisation reference shown in decisions
  // Where the tenant (or its ultimate parent) is headquartered, ISO alpha-2; "" = not declared.
  std::string headquarters;
};

// A licence requirement that follows who the entity is, not where it is: 3A090 items for an
// entity headquartered in (or whose ultimate parent is headquartered in) D:5 or Macau need a
// licence wherever the entity is (15 CFR 742.6(a)(6)(iii)(A), in force since 2023-11-17).
struct HeadquartersRule {
  std::vector<std::string> jurisdictions;  // headquarters codes the requirement applies to
  std::string rule;                        // citation
  RuleStatus status;
  std::string citation;  // rule + status + rule set (set by the loader)
  bool applies_to(std::string_view code) const;
  const std::string& cited() const { return citation.empty() ? rule : citation; }
};

// A rule that selects accelerators by what they are (model, bandwidth, TPP) rather than by the
// 3A090 class alone. The `current` preset carries the ones in force on its date:
//   kBandwidthLicence: a licence is required for parts below 3A090 whose DRAM or interconnect
//     bandwidth reaches a threshold (April 2025, NVIDIA H20 / AMD MI308 to China, Macau, D:5).
//   kReviewBand: where the tier requires a licence, 3A090 parts with TPP below `tpp_below` and
//     DRAM bandwidth below `dram_below` are reviewed case by case instead of presumed denied
//     (91 FR 1684, 2026-01-15, China and Macau); still denied here until a licence is recorded.
//   kProhibitedParts: the listed models are denied everywhere (BIS guidance of 2025-05-13: using
//     Huawei Ascend 910B/910C/910D anywhere risks violating General Prohibition 10).
// Unknown bandwidths are read as the figure that makes the rule stricter: a part of unknown
// bandwidth meets a licence threshold and is outside a review band.
struct PartRule {
  enum class Kind { kBandwidthLicence, kReviewBand, kProhibitedParts };
  Kind kind = Kind::kProhibitedParts;
  std::string name;                        // short name shown in `policy show` and diffs
  std::vector<std::string> jurisdictions;  // tenant jurisdictions it applies to; empty = all
  bool by_headquarters = false;            // also applies to tenants headquartered there
  std::vector<std::string> models;         // kProhibitedParts: catalog model ids
  // kBandwidthLicence: any one reached (GB/s; 0 = not a criterion).
  double dram_at_least = 0;
  double interconnect_at_least = 0;
  double total_at_least = 0;  // DRAM + interconnect
  // kReviewBand: both below.
  double tpp_below = 0;
  double dram_below = 0;
  std::string rule;  // citation text of the rule itself
  RuleStatus status;
  std::string citation;  // rule + status (set when the preset is built)
  const std::string& cited() const { return citation.empty() ? rule : citation; }
  bool applies_in(std::string_view jurisdiction, std::string_view headquarters) const;
  // True when `m` is selected by this rule (see Kind; unknown bandwidths as above).
  bool selects(const AcceleratorModel& m) const;
};
std::string_view to_string(PartRule::Kind k);  // "bandwidth-licence", "review-band", ...
// One line: "licence required for parts below 3A090 with DRAM >= 1,400 or ... GB/s in CN,HK,..."
std::string describe(const PartRule& r);

// Where to find pod templates and replica counts in a custom resource.
// Paths are dotted with `[*]` for every array element, e.g.
// "spec.replicatedJobs[*].template.spec.template"; replica paths are evaluated relative to the
// object root and multiplied along the same array index; a missing replica field counts as 1.
struct PodTemplatePath {
  // What the path leads to: a PodTemplateSpec (`template`), a PodSpec (`podSpec`: KServe
  // components, Argo templates), or the ResourceRequirements of the pod's one container
  // (`resources`: Kubeflow TrainJob's resourcesPerNode).
  enum class Form { kTemplate, kPodSpec, kResources };
  Form form = Form::kTemplate;
  std::string template_path;  // the path, whatever the form
  // Multiplied together; "a|b" takes the larger of the fields present (KServe's
  // minReplicas|maxReplicas).
  std::vector<std::string> replica_paths;
  // Further containers of the same pod: each path leads to a container or an array of them
  // (Argo's container/script/sidecars, KServe's model and framework containers).
  std::vector<std::string> container_paths;
};
struct WorkloadKind {
  std::string group;  // "jobset.x-k8s.io"
  std::string kind;   // "JobSet"
  std::vector<PodTemplatePath> pod_templates;
};

struct Admins {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};

struct Policy {
  std::string name;         // metadata.name
  std::string preset;       // preset it started from ("" = none)
  RuleSet rule_set;         // what the rules are, with dates and status (spec.ruleSet)
  std::string in_force_on;  // ISO date the rules were selected for ("" = none selected)
  std::string hash;         // sha256-like digest of the effective policy, for logs and metrics
  Mode mode = Mode::kEnforce;
  bool workload_early_check = true;  // check Deployments/Jobs... not only their Pods
  double near_cap_warning_ratio = 0.9;

  // Tier of every jurisdiction code; codes not listed take default_tier. An unassigned ISO
  // code is never looked up here: it is "unknown".
  std::map<std::string, TierName> jurisdiction_tiers;
  TierName default_tier;                            // "" = none (unlisted codes are unknown)
  std::map<TierName, TierLimits> tiers;             // limits by tier name
  std::map<std::string, double> jurisdiction_caps;  // per-code override of jurisdiction_cap_tpp
  // What happens to controlled accelerators for a tenant without a (known) jurisdiction.
  ControlledAction unknown_jurisdiction = ControlledAction::kDeny;
  std::string unknown_jurisdiction_rule;
  // spec.tenancy.untenantedNamespaces
  UntenantedNamespaces untenanted_namespaces = UntenantedNamespaces::kDeny;
  std::optional<HeadquartersRule> headquarters_rule;  // none: headquarters are not looked at
  std::vector<PartRule> part_rules;  // rules selecting parts by model/bandwidth (preset current)
  // spec.site: ISO code of the country where the cluster's accelerators are installed; "" = not
  // stated. When set, the country allocation (a cap on what is installed in a country) is the
  // site's and every tenant's usage counts there; access rules stay with the tenant's
  // jurisdiction and headquarters.
  std::string site;
  // spec.siteNodeLabel: for a cluster that spans countries, the node label whose value says
  // which country a node is in. A workload's country is read from its own node constraints on
  // `key` (policy/site.hpp); nodes whose value is not mapped are in `site` (unknown when "").
  struct SiteNodeLabel {
    std::string key;                               // e.g. topology.kubernetes.io/region
    std::map<std::string, std::string> countries;  // label value -> ISO alpha-2, upper case
  };
  std::optional<SiteNodeLabel> site_node_label;

  Catalog catalog;
  std::vector<Tenant> tenants;
  std::vector<std::string> exempt_namespaces;  // never evaluated (globs with trailing '*')
  // Namespaces (exact names) whose pods' device access outside requests/limits
  // (NVIDIA_VISIBLE_DEVICES, privileged, hostPath /dev) is not charged: system agents such as
  // the device plugin DaemonSet. Their accelerator requests are still charged.
  std::vector<std::string> device_access_exempt;
  Admins admins;
  std::vector<WorkloadKind> workload_kinds;  // custom resources with pod templates

  // Tier name for a code; "" when unknown.
  TierName tier_of(std::string_view jurisdiction) const;
  const TierLimits* limits_of(std::string_view tier) const;
  std::optional<double> jurisdiction_cap(std::string_view jurisdiction) const;
};

}  // namespace exportgate::policy
