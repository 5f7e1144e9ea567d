// The decision: demand + tenant + usage + policy -> allow / warn / deny, with one-line reasons
// that name what was asked, where, the limit, the usage and the rule. Allocation-free on the
// common allow paths; strings are built only when there is something to say.
#include "policy/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"
#include "policy/tier.hpp"

namespace exportgate::policy {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kDeny:
      return "deny";
  }
  return "deny";
}

double capped_tpp(const WorkloadDemand& demand) {
  double b_class = 0;
  for (const auto& set : demand.pod_sets) {
    for (const auto& a : set.accelerators) {
      if (a.held_by_claim || a.export_class != ExportClass::k3A090b) continue;
      b_class += a.tpp_per_pod * static_cast<double>(set.pods);
    }
  }
  const double capped = demand.controlled_tpp - b_class;
  return capped > 0 ? capped : 0;
}

std::vector<std::string> allocation_tenants(const Policy& policy, std::string_view jurisdiction) {
  std::vector<std::string> names;
  // With a site, every licensed tenant's chips are installed there: all draw its allocation;
  // with nodes mapped to countries, usage is counted where each workload runs, whoever's it is.
  const bool whole_site =
      policy.site_node_label || (!policy.site.empty() && jurisdiction == policy.site);
  for (const auto& t : policy.tenants) {
    if (t.authorization == Authorization::kLicensed &&
        (whole_site || t.jurisdiction == jurisdiction)) {
      names.push_back(t.name);
    }
  }
  return names;
}

namespace {

// Linear scan with string_view comparison: a handful of tiers, and no temporary std::string.
const TierLimits* find_tier(const Policy& policy, std::string_view tier) {
  if (tier.empty()) return nullptr;
  for (const auto& [name, limits] : policy.tiers) {
    if (name == tier) return &limits;
  }
  return nullptr;
}

// "exportgate: denied 8 x NVIDIA H100 SXM (nvidia.com/gpu, pinned) = 126,656 TPP (3A090.a)
//  for tenant "t3" in CN (Tier 3)"
std::string what_and_where(const WorkloadDemand& demand, const TenantContext& tenant) {
  std::string s = "exportgate: denied ";
  s += demand.describe_accelerators();
  if (demand.controlled_tpp > 0 || demand.held_controlled_tpp > 0) {
    s += " = ";
    s += format_thousands(demand.controlled_tpp);
    if (demand.held_controlled_tpp > 0) {
      s += " + ";
      s += format_thousands(demand.held_controlled_tpp);
      s += " held by shared claims";
    }
    s += " TPP (";
    s += to_string(demand.max_class);
    s += ')';
  } else {
    s += " (below 3A090)";
  }
  // Approximations made while counting (e.g. a DaemonSet charged as one pod) stay visible.
  for (const auto& note : demand.notes) {
    s += " (";
    s += note;
    s += ')';
  }
  s += " for tenant \"";
  s += tenant.tenant;
  s += '"';
  if (!tenant.jurisdiction.empty()) {
    s += " in ";
    s += tenant.jurisdiction;
    s += " (";
    s += tier_display(tenant.tier);
    s += ')';
  }
  if (!tenant.headquarters.empty()) {
    s += ", headquartered in ";
    s += tenant.headquarters;
  }
  return s;
}

std::string cite(std::string_view rule) {
  if (rule.empty()) return {};
  std::string s = " [";
  s += rule;
  s += ']';
  return s;
}

// "tenant cap 26,900,000 TPP, in use 26,000,000 + requested 126,656 exceeds it"
std::string cap_text(std::string_view cap_name, double cap, double in_use, double requested) {
  std::string s(cap_name);
  s += ' ';
  s += format_thousands(cap);
  s += " TPP, in use ";
  s += format_thousands(in_use);
  s += " + requested ";
  s += format_thousands(requested);
  s += " exceeds it";
  return s;
}

// "exportgate: tenant "acme" in SG (Tier 2) will use 24,500,000 of its tenant cap of
//  26,900,000 TPP (91%) [rule]"
std::string near_cap_text(const TenantContext& tenant, bool whole_jurisdiction,
                          std::string_view cap_name, double cap, double after,
                          std::string_view rule) {
  std::string s = "exportgate: ";
  if (whole_jurisdiction) {
    s += "jurisdiction ";
  } else {
    s += "tenant \"";
    s += tenant.tenant;
    s += "\" in ";
  }
  s += tenant.jurisdiction;
  s += " (";
  s += tier_display(tenant.tier);
  s += ") will use ";
  s += format_thousands(after);
  s += " of its ";
  s += cap_name;
  s += " of ";
  s += format_thousands(cap);
  s += " TPP (";
  s += std::to_string(percent_of(after, cap));
  s += "%)";
  s += cite(rule);
  return s;
}

void deny(Decision& d, std::string code, std::string reason, std::string_view rule) {
  if (d.code.empty()) {
    d.code = std::move(code);
    d.rule = std::string(rule);
  }
  d.would_deny = true;
  d.reasons.push_back(std::move(reason));
}

// The catalog models the demand is charged as, once each, in demand order (claims' devices too).
std::vector<const AcceleratorModel*> charged_models(const WorkloadDemand& demand,
                                                    const Policy& policy) {
  std::vector<const AcceleratorModel*> out;
  for (const auto& set : demand.pod_sets) {
    for (const auto& a : set.accelerators) {
      const AcceleratorModel* m = policy.catalog.find_model(a.model_id);
      if (m && std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    }
  }
  return out;
}

std::string bandwidth_text(const AcceleratorModel& m) {
  auto gbs = [](double v) { return v > 0 ? format_thousands(v) + " GB/s" : "unknown"; };
  return "DRAM " + gbs(m.dram_bandwidth_gbs) + ", interconnect " +
         gbs(m.interconnect_bandwidth_gbs);
}

// Rules that select parts by model or bandwidth (PartRule). They reach parts below 3A090 too
// (the H20), so they run before the fast path for uncontrolled demand. True when one denied.
bool deny_by_part_rules(Decision& d, const WorkloadDemand& demand, const TenantContext& tenant,
                        const Policy& policy) {
  const auto models = charged_models(demand, policy);
  for (const auto& r : policy.part_rules) {
    if (r.kind != PartRule::Kind::kProhibitedParts) continue;
    for (const AcceleratorModel* m : models) {
      if (!r.selects(*m) || !r.applies_in(tenant.jurisdiction, tenant.headquarters)) continue;
      deny(d, "prohibited-part",
           what_and_where(demand, tenant) + ": " + m->display_name +
               " is named in BIS guidance: using it anywhere risks violating General "
               "Prohibition 10, and a licence does not change that; exportgate denies it in "
               "every jurisdiction (an admin who has cleared the use may exempt the namespace)" +
               cite(r.cited()),
           r.cited());
      return true;
    }
  }
  if (tenant.authorization == Authorization::kLicensed) return false;
  for (const auto& r : policy.part_rules) {
    if (r.kind != PartRule::Kind::kBandwidthLicence) continue;
    for (const AcceleratorModel* m : models) {
      if (!r.selects(*m)) continue;
      if (tenant.jurisdiction.empty()) {
        // Could be one of the rule's jurisdictions: never assume it is not.
        std::string reason = what_and_where(demand, tenant) + ": jurisdiction unknown";
        if (!tenant.jurisdiction_error.empty()) reason += " (" + tenant.jurisdiction_error + ")";
        const std::string& ns = demand.namespace_.empty() ? tenant.tenant : demand.namespace_;
        reason += ", and " + m->display_name + " (" + bandwidth_text(*m) +
                  ") needs a licence in some jurisdictions; an admin must label namespace \"" + ns +
                  "\" with " + std::string(kJurisdictionLabel) +
                  "=<ISO 3166-1 code> or list the tenant in the policy" + cite(r.cited());
        deny(d, "unknown-jurisdiction", std::move(reason), r.cited());
        return true;
      }
      if (!r.applies_in(tenant.jurisdiction, tenant.headquarters)) continue;
      const bool by_hq = !r.applies_in(tenant.jurisdiction, {});
      deny(d, "bandwidth-licence-required",
           what_and_where(demand, tenant) + ": " + m->display_name + " (" + bandwidth_text(*m) +
               ") is below 3A090 but needs an export licence " +
               (by_hq ? "for an entity headquartered in " + tenant.headquarters
                      : "for " + tenant.jurisdiction) +
               " (none recorded for this tenant; list it in the policy with authorization: "
               "licensed and the licence number)" +
               cite(r.cited()),
           r.cited());
      return true;
    }
  }
  return false;
}

// The review band (91 FR 1684) for a jurisdiction, if the policy has one there.
const PartRule* review_band(const Policy& policy, std::string_view jurisdiction) {
  for (const auto& r : policy.part_rules) {
    if (r.kind == PartRule::Kind::kReviewBand && r.applies_in(jurisdiction, {})) return &r;
  }
  return nullptr;
}

// A licensed tenant's workload that may land in several countries, one of which has a country
// allocation (or whose country is unknown): the allocation it would draw cannot be told, so it is
// denied (code site-unresolved) with the label values that pin it to one country. When no country
// it may land in has an allocation, none applies wherever it runs, and nothing is denied.
void deny_unresolved_site(Decision& d, const WorkloadDemand& demand, const TenantContext& tenant,
                          const SitePlacement& placement, const Policy& policy) {
  bool capped = placement.unknown_country;
  for (const auto& c : placement.countries) capped |= policy.jurisdiction_cap(c).has_value();
  if (!capped) return;
  const std::string& key = policy.site_node_label->key;
  std::string where;
  for (size_t i = 0; i < placement.countries.size(); ++i) {
    if (i) where += placement.unknown_country || i + 1 < placement.countries.size() ? ", " : " or ";
    where += placement.countries[i];
  }
  if (placement.unknown_country) {
    where += where.empty() ? "" : " or ";
    where += "a country exportgate cannot tell (a node whose " + key +
             " value is not in spec.siteNodeLabel.countries, and spec.site is not set)";
  }
  std::string pins;
  for (const auto& [value, code] : policy.site_node_label->countries) {
    if (!pins.empty()) pins += ", ";
    pins += "{" + key + ": " + (value.empty() ? std::string("\"\"") : value) + "} (" + code + ")";
  }
  std::string reason = what_and_where(demand, tenant);
  reason += ": its pods may run in " + where + " (node label " + key +
            "), and the country allocation it draws down is the one where the chips are "
            "installed; pin it to one country with a nodeSelector (or a required node affinity "
            "In) on " +
            key + ", one of " + pins;
  const std::string rule = "country allocation attaches to the installed location (90 FR 4544)";
  deny(d, "site-unresolved", std::move(reason), rule);
}

// Applies the policy mode to a decision whose reasons/warnings are filled as for enforce.
void apply_mode(Decision& d, Mode mode) {
  if (d.would_deny) {
    switch (mode) {
      case Mode::kEnforce:
        d.verdict = Verdict::kDeny;
        return;
      case Mode::kWarn:
        // Admitted, and the user sees exactly what enforce mode would have said.
        d.verdict = Verdict::kWarn;
        d.warnings.insert(d.warnings.begin(), d.reasons.begin(), d.reasons.end());
        return;
      case Mode::kAudit:
        d.verdict = Verdict::kAllow;
        d.warnings.clear();
        return;
    }
  }
  if (mode == Mode::kAudit) d.warnings.clear();
  d.verdict = d.warnings.empty() ? Verdict::kAllow : Verdict::kWarn;
}

}  // namespace

Decision evaluate(const WorkloadDemand& demand, const TenantContext& tenant,
                  const UsageSnapshot& usage, const Policy& policy) {
  Decision d;
  // Out of range first: a quantity no cluster can hold ("25T" GPUs) is never computed further,
  // whatever the tier or class, and the message says why (fail closed, not a crash).
  if (demand.recognized && demand.beyond_range) {
    d.requested_tpp = demand.controlled_tpp;
    std::string reason = "exportgate: denied ";
    reason += demand.describe_accelerators();
    reason += ": the request is beyond the range exportgate evaluates (more than ";
    reason += format_thousands(kMaxChargeTpp);
    reason += " TPP or ";
    reason += format_thousands(kMaxChargeDevices);
    reason += " devices in one workload), far past any cap; check the quantities";
    deny(d, "beyond-range", std::move(reason), {});
    apply_mode(d, policy.mode);
    return d;
  }
  // Fast path: nothing to limit (CPU-only pods, exempt namespaces, kinds with no pods).
  if (!demand.recognized || tenant.exempt || !demand.has_accelerators()) return d;
  if (!policy.part_rules.empty() && deny_by_part_rules(d, demand, tenant, policy)) {
    apply_mode(d, policy.mode);
    return d;
  }
  // Accelerators below the 3A090 thresholds: nothing more to limit.
  if (!(demand.controlled_tpp > 0 || demand.held_controlled_tpp > 0)) return d;
  d.requested_tpp = capped_tpp(demand);

  const TierLimits* limits = find_tier(policy, tenant.tier);
  if (!limits) {
    // Unknown jurisdiction (or a tier the policy does not define): never treated as any tier.
    if (policy.unknown_jurisdiction == ControlledAction::kAllow) return d;
    std::string reason = what_and_where(demand, tenant);
    if (!tenant.jurisdiction.empty()) {
      reason += ": jurisdiction " + tenant.jurisdiction + " has no tier in policy \"" +
                policy.name + "\"";
      if (!tenant.tier.empty()) reason += " (tier \"" + tenant.tier + "\" is not defined)";
      reason += "; an admin must list it under spec.jurisdictions or set spec.defaultTier";
    } else {
      reason += ": jurisdiction unknown";
      if (!tenant.jurisdiction_error.empty()) reason += " (" + tenant.jurisdiction_error + ")";
      const std::string& ns = demand.namespace_.empty() ? tenant.tenant : demand.namespace_;
      reason += "; an admin must label namespace \"" + ns + "\" with " +
                std::string(kJurisdictionLabel) +
                "=<ISO 3166-1 code> or list the tenant in the policy";
    }
    reason += cite(policy.unknown_jurisdiction_rule);
    deny(d, "unknown-jurisdiction", std::move(reason), policy.unknown_jurisdiction_rule);
    apply_mode(d, policy.mode);
    return d;
  }

  const bool licensed = tenant.authorization == Authorization::kLicensed;
  const bool veu =
      tenant.authorization == Authorization::kValidatedEndUser && tenant.tenant_cap_tpp;

  // Who the entity is, wherever it is: headquartered (or ultimate parent headquartered) in D:5 or
  // Macau -> licence required. A declared headquarters that is not a code is refused, not guessed.
  if (policy.headquarters_rule && !licensed) {
    const HeadquartersRule& hq = *policy.headquarters_rule;
    if (!tenant.headquarters_error.empty()) {
      std::string reason = what_and_where(demand, tenant) + ": headquarters unknown (" +
                           tenant.headquarters_error + "); an admin must correct the label " +
                           std::string(kHeadquartersLabel) + " or list the tenant in the policy" +
                           cite(hq.cited());
      deny(d, "unknown-headquarters", std::move(reason), hq.cited());
      apply_mode(d, policy.mode);
      return d;
    }
    if (hq.applies_to(tenant.headquarters)) {
      std::string reason = what_and_where(demand, tenant) +
                           ": controlled accelerators require an export licence for an entity "
                           "headquartered in " +
                           tenant.headquarters +
                           ", wherever it is (none recorded for this tenant; list it in the "
                           "policy with authorization: licensed and the licence number)" +
                           cite(hq.cited());
      deny(d, "headquarters-licence-required", std::move(reason), hq.cited());
      apply_mode(d, policy.mode);
      return d;
    }
  }

  if (limits->controlled == ControlledAction::kDeny && !licensed) {
    std::string reason = what_and_where(demand, tenant);
    const PartRule* band =
        limits->licence_required ? review_band(policy, tenant.jurisdiction) : nullptr;
    const AcceleratorModel* outside = nullptr;  // first controlled part above the band
    if (band) {
      for (const AcceleratorModel* m : charged_models(demand, policy)) {
        if (is_controlled(m->export_class) && !band->selects(*m)) {
          outside = m;
          break;
        }
      }
    }
    if (band && !outside) {
      // 91 FR 1684: reviewed case by case, but a licence is still required.
      const std::string rule = band->cited() + "; " + limits->cited();
      reason += ": controlled accelerators require an export licence for " + tenant.jurisdiction +
                ", reviewed case by case for parts with TPP < " +
                format_thousands(band->tpp_below) + " and DRAM bandwidth < " +
                format_thousands(band->dram_below) +
                " GB/s (none recorded for this tenant; list it in the policy with authorization: "
                "licensed and the licence number)";
      reason += cite(rule);
      deny(d, "licence-required-case-by-case", std::move(reason), rule);
    } else if (limits->licence_required) {
      reason += ": controlled accelerators require an export licence for " + tenant.jurisdiction +
                " (none recorded for this tenant; list it in the policy with authorization: "
                "licensed and the licence number)";
      std::string rule = limits->cited();
      if (outside) {
        reason += "; " + outside->display_name + " (TPP " + format_thousands(outside->tpp) + ", " +
                  bandwidth_text(*outside) +
                  ") is outside the case-by-case band, so the presumption of denial stays";
        rule += "; " + band->cited();
      }
      reason += cite(rule);
      deny(d, "licence-required", std::move(reason), rule);
    } else {
      reason += ": controlled accelerators are prohibited for " + tier_display(tenant.tier) +
                " jurisdictions";
      reason += cite(limits->cited());
      deny(d, "tier-prohibited", std::move(reason), limits->cited());
    }
    apply_mode(d, policy.mode);
    return d;
  }

  // Devices of shared claims only (held and capped at the claims), or 3A090.b parts only (outside
  // the diffusion caps): nothing for the caps.
  const double requested = capped_tpp(demand);
  d.requested_tpp = requested;
  if (!(requested > 0)) return d;

  // Caps (90 FR 4544): without a licence a capped tier allows the LPP amount per tenant (the
  // tier's tenant cap), which does not draw down the country allocation; a licence does draw it
  // down (presumption of approval until it is used up) and is not limited by LPP; a validated
  // end user's own cap replaces both; a tenant's own cap (set by the admin) replaces LPP.
  std::optional<double> tenant_cap;
  std::optional<double> jurisdiction_cap;
  if (tenant.tenant_cap_tpp) {
    tenant_cap = tenant.tenant_cap_tpp;
  } else if (limits->controlled == ControlledAction::kCap && !licensed) {
    tenant_cap = limits->tenant_cap_tpp;
  }
  // The country allocation attaches to where the chips are installed: the country the
  // workload's node constraints pin it to (spec.siteNodeLabel), else the policy's site when it
  // states one (a Tier 1 site has none), else the tenant's jurisdiction (exportgate's analogue).
  SitePlacement scratch;
  const SitePlacement& placement = placement_of(policy, demand, scratch);
  const bool at_site = !policy.site.empty() || placement.known;
  const std::string where =
      allocation_key(policy, tenant.jurisdiction, placement.known ? placement.resolved() : "");
  if (limits->controlled == ControlledAction::kCap && licensed) {
    if (placement.known && placement.resolved().empty()) {
      // It may land in several countries: the allocation it draws cannot be told, unless no
      // country it may land in has one (then none applies wherever it runs).
      deny_unresolved_site(d, demand, tenant, placement, policy);
    } else if (!at_site) {
      auto it = policy.jurisdiction_caps.find(tenant.jurisdiction);
      jurisdiction_cap = it != policy.jurisdiction_caps.end() ? std::optional<double>(it->second)
                                                              : limits->jurisdiction_cap_tpp;
    } else {
      jurisdiction_cap = policy.jurisdiction_cap(where);
    }
    d.draws_allocation = jurisdiction_cap.has_value();
  }
  d.tenant_cap_tpp = tenant_cap;
  d.jurisdiction_cap_tpp = jurisdiction_cap;
  // A tier cap per tenant means nothing when every namespace can be a tenant of its own: work
  // spread over several unlabelled namespaces would get one cap each (issue 13).
  if (tenant_cap && !tenant.tenant_cap_tpp && tenant.untenanted &&
      policy.untenanted_namespaces == UntenantedNamespaces::kDeny) {
    const std::string& ns = demand.namespace_.empty() ? tenant.tenant : demand.namespace_;
    std::string reason = what_and_where(demand, tenant);
    reason += ": namespace \"" + ns + "\" has no tenant, and " + tier_display(tenant.tier) +
              " caps controlled TPP per tenant (" + format_thousands(*tenant_cap) +
              " TPP); an admin must label the namespace with " + std::string(kTenantLabel) +
              "=<tenant> or list it under a policy tenant (or set spec.tenancy."
              "untenantedNamespaces: own-tenant)";
    reason += cite(limits->cited());
    deny(d, "untenanted-namespace", std::move(reason), limits->cited());
    apply_mode(d, policy.mode);
    return d;
  }
  if (licensed && !tenant.licence.empty() && !d.would_deny) {
    d.rule = "licence " + tenant.licence;
    if (!limits->rule.empty()) d.rule += "; " + limits->cited();
  }
  if (!tenant_cap && !jurisdiction_cap) {
    if (d.would_deny) apply_mode(d, policy.mode);  // site-unresolved
    return d;                                      // else plain allow
  }

  std::string_view tenant_cap_name = veu ? "validated end user cap" : "tenant cap";
  std::string veu_rule;
  std::string_view tenant_rule = limits->cited();
  if (veu || (tenant.tenant_cap_tpp && limits->controlled != ControlledAction::kCap)) {
    veu_rule = veu ? "validated end user authorisation" : "tenant cap set by policy";
    if (!tenant.licence.empty()) veu_rule += " " + tenant.licence;
    if (!limits->rule.empty()) veu_rule += "; " + limits->cited();
    tenant_rule = veu_rule;
  }
  const double ratio = policy.near_cap_warning_ratio;
  if (tenant_cap) {
    const double after = usage.tenant_tpp + requested;
    if (after > *tenant_cap) {
      std::string hint;
      if (!veu && !tenant.tenant_cap_tpp && limits->controlled == ControlledAction::kCap) {
        hint =
            "; beyond this amount a licence is needed (list the tenant with authorization: "
            "licensed; licensed use draws down the country allocation)";
      }
      deny(d, "tenant-cap",
           what_and_where(demand, tenant) + ": " +
               cap_text(tenant_cap_name, *tenant_cap, usage.tenant_tpp, requested) + hint +
               cite(tenant_rule),
           tenant_rule);
    } else if (after >= ratio * *tenant_cap) {
      d.warnings.push_back(
          near_cap_text(tenant, false, tenant_cap_name, *tenant_cap, after, tenant_rule));
    }
  }
  if (jurisdiction_cap) {
    const std::string alloc_rule = d.rule.empty() ? limits->cited() : d.rule;
    const double after = usage.jurisdiction_tpp + requested;
    if (after > *jurisdiction_cap) {
      deny(d, "jurisdiction-cap",
           what_and_where(demand, tenant) + ": " +
               cap_text("country allocation for " + where + (at_site ? " (site)" : "") +
                            " (drawn down by licensed use)",
                        *jurisdiction_cap, usage.jurisdiction_tpp, requested) +
               "; once it is used up licences are presumed denied" + cite(alloc_rule),
           alloc_rule);
    } else if (after >= ratio * *jurisdiction_cap) {
      TenantContext here = tenant;
      here.jurisdiction = where;
      if (at_site) here.tier = policy.tier_of(where);
      d.warnings.push_back(
          near_cap_text(here, true, "country allocation", *jurisdiction_cap, after, alloc_rule));
    }
  }
  if (d.would_deny) d.warnings.clear();  // the denial says it all
  apply_mode(d, policy.mode);
  return d;
}

}  // namespace exportgate::policy
