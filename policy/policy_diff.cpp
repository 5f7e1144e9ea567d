// Differences between two effective policies (see policy_diff.hpp). Each section compares the
// items of both sides by key; a changed item lists only the attributes that differ, so the
// output reads like a change log ("class 3A090.a -> not controlled"), not a dump.
#include "policy/policy_diff.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "policy/jurisdictions.hpp"
#include "policy/policy_numbers.hpp"
#include "policy/site.hpp"

namespace exportgate::policy {

namespace {

using Changes = std::vector<PolicyChange>;

void add(Changes& out, std::string section, std::string key, std::string change, std::string before,
         std::string after) {
  out.push_back(
      {std::move(section), std::move(key), std::move(change), std::move(before), std::move(after)});
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ",") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : std::string(sep)) + i;
  return s;
}

std::string cap_text(const std::optional<double>& cap) {
  return cap ? format_thousands(*cap) + " TPP" : std::string("none");
}

std::string tier_text(const TierName& tier) {
  return tier.empty() ? "unknown" : tier_display(tier);
}

std::string action_text(const TierLimits& t) {
  if (t.controlled == ControlledAction::kDeny && t.licence_required) return "licence-required";
  return std::string(to_string(t.controlled));
}

// Attribute-wise comparison: collects "name value" pairs that differ on each side.
struct AttributeDiff {
  std::vector<std::string> before, after;
  void compare(std::string_view name, const std::string& a, const std::string& b) {
    if (a == b) return;
    const std::string label = name.empty() ? "" : std::string(name) + " ";
    before.push_back(label + a);
    after.push_back(label + b);
  }
  bool empty() const { return before.empty(); }
  void emit(Changes& out, const std::string& section, const std::string& key) const {
    if (!empty()) add(out, section, key, "changed", join(before, ", "), join(after, ", "));
  }
};

// Keyed sections: items of `a` and `b` by key, compared with `describe` (added/removed) and
// `compare` (changed).
template <typename T, typename Describe, typename Compare>
void diff_keyed(Changes& out, const std::string& section, const std::map<std::string, T>& a,
                const std::map<std::string, T>& b, Describe describe, Compare compare) {
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  for (const auto& k : keys) {
    auto ia = a.find(k);
    auto ib = b.find(k);
    if (ia == a.end()) {
      add(out, section, k, "added", "", describe(ib->second));
    } else if (ib == b.end()) {
      add(out, section, k, "removed", describe(ia->second), "");
    } else {
      AttributeDiff d;
      compare(d, ia->second, ib->second);
      d.emit(out, section, k);
    }
  }
}

// Set sections (exemptions, admins): each member added or removed.
void diff_set(Changes& out, const std::string& section, const std::string& prefix,
              const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::set<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
  for (const auto& x : sa) {
    if (!sb.count(x)) add(out, section, prefix + x, "removed", x, "");
  }
  for (const auto& x : sb) {
    if (!sa.count(x)) add(out, section, prefix + x, "added", "", x);
  }
}

void diff_settings(Changes& out, const Policy& a, const Policy& b) {
  auto one = [&](const std::string& key, const std::string& x, const std::string& y) {
    if (x != y) add(out, "settings", key, "changed", x, y);
  };
  one("mode", std::string(to_string(a.mode)), std::string(to_string(b.mode)));
  one("workloadEarlyCheck", a.workload_early_check ? "true" : "false",
      b.workload_early_check ? "true" : "false");
  one("nearCapWarningPercent", format_thousands(a.near_cap_warning_ratio * 100),
      format_thousands(b.near_cap_warning_ratio * 100));
  one("defaultTier", a.default_tier.empty() ? "none" : a.default_tier,
      b.default_tier.empty() ? "none" : b.default_tier);
  one("site", a.site.empty() ? "not stated" : a.site, b.site.empty() ? "not stated" : b.site);
  one("siteNodeLabel", describe_site_node_label(a), describe_site_node_label(b));
  one("tenancy.untenantedNamespaces", std::string(to_string(a.untenanted_namespaces)),
      std::string(to_string(b.untenanted_namespaces)));
}

void diff_jurisdictions(Changes& out, const Policy& a, const Policy& b) {
  // Every assigned code plus any the policies list that is not (tests, future codes).
  std::set<std::string> codes;
  for (const auto& j : all_jurisdictions()) codes.insert(std::string(j.code));
  for (const auto& [code, tier] : a.jurisdiction_tiers) codes.insert(code);
  for (const auto& [code, tier] : b.jurisdiction_tiers) codes.insert(code);
  for (const auto& code : codes) {
    TierName ta = a.tier_of(code), tb = b.tier_of(code);
    if (ta != tb) add(out, "jurisdiction", code, "changed", tier_text(ta), tier_text(tb));
  }
}

std::string describe_tier(const TierLimits& t) {
  std::string s = "controlled " + action_text(t) + ", tenant cap " + cap_text(t.tenant_cap_tpp) +
                  ", jurisdiction cap " + cap_text(t.jurisdiction_cap_tpp);
  if (!t.rule.empty()) s += ", rule \"" + t.rule + "\"";
  return s;
}

void compare_tier(AttributeDiff& d, const TierLimits& a, const TierLimits& b) {
  d.compare("controlled", action_text(a), action_text(b));
  d.compare("tenant cap", cap_text(a.tenant_cap_tpp), cap_text(b.tenant_cap_tpp));
  d.compare("jurisdiction cap", cap_text(a.jurisdiction_cap_tpp), cap_text(b.jurisdiction_cap_tpp));
  d.compare("rule", "\"" + a.rule + "\"", "\"" + b.rule + "\"");
}

std::string describe_model(const AcceleratorModel& m) {
  return m.display_name + ", " + format_thousands(m.tpp) + " TPP, " +
         std::string(to_string(m.export_class));
}

std::string labels_text(const std::vector<NodeLabel>& labels) {
  std::vector<std::string> items;
  for (const auto& l : labels) items.push_back(l.key + "=" + l.value);
  std::sort(items.begin(), items.end());
  return "[" + join(items) + "]";
}

std::string sorted_list(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return "[" + join(items) + "]";
}

void compare_model(AttributeDiff& d, const AcceleratorModel& a, const AcceleratorModel& b) {
  // Class and TPP first: they are what changes decisions.
  d.compare("class", std::string(to_string(a.export_class)),
            std::string(to_string(b.export_class)));
  d.compare("TPP", format_thousands(a.tpp), format_thousands(b.tpp));
  auto pd = [](const std::optional<double>& v) {
    return v ? format_thousands(std::round(*v * 100) / 100) : std::string("unknown");
  };
  d.compare("PD", pd(a.pd), pd(b.pd));
  d.compare("datacenter", a.datacenter ? "yes" : "no", b.datacenter ? "yes" : "no");
  auto gbs = [](double v) { return v > 0 ? format_thousands(v) + " GB/s" : "unknown"; };
  d.compare("DRAM bandwidth", gbs(a.dram_bandwidth_gbs), gbs(b.dram_bandwidth_gbs));
  d.compare("interconnect bandwidth", gbs(a.interconnect_bandwidth_gbs),
            gbs(b.interconnect_bandwidth_gbs));
  d.compare("resources", sorted_list(a.resources), sorted_list(b.resources));
  d.compare("node labels", labels_text(a.node_labels), labels_text(b.node_labels));
  d.compare("name", "\"" + a.display_name + "\"", "\"" + b.display_name + "\"");
}

std::string describe_partition(const PartitionProfile& p) {
  return "fraction " + format_thousands(p.fraction) + " of " + sorted_list(p.parent_models);
}

void compare_partition(AttributeDiff& d, const PartitionProfile& a, const PartitionProfile& b) {
  d.compare("fraction", format_thousands(a.fraction), format_thousands(b.fraction));
  d.compare("parents", sorted_list(a.parent_models), sorted_list(b.parent_models));
}

std::string describe_tenant(const Tenant& t) {
  std::string s = "jurisdiction " + t.jurisdiction + ", namespaces " + sorted_list(t.namespaces) +
                  ", authorization " + std::string(to_string(t.authorization));
  if (t.cap_tpp) s += ", cap " + cap_text(t.cap_tpp);
  if (!t.licence.empty()) s += ", licence " + t.licence;
  return s;
}

void compare_tenant(AttributeDiff& d, const Tenant& a, const Tenant& b) {
  d.compare("jurisdiction", a.jurisdiction, b.jurisdiction);
  d.compare("namespaces", sorted_list(a.namespaces), sorted_list(b.namespaces));
  d.compare("authorization", std::string(to_string(a.authorization)),
            std::string(to_string(b.authorization)));
  d.compare("cap", cap_text(a.cap_tpp), cap_text(b.cap_tpp));
  d.compare("licence", a.licence.empty() ? "none" : a.licence,
            b.licence.empty() ? "none" : b.licence);
}

std::string describe_kind(const WorkloadKind& k) {
  std::vector<std::string> paths;
  for (const auto& t : k.pod_templates) {
    const char* form = t.form == PodTemplatePath::Form::kPodSpec     ? "podSpec "
                       : t.form == PodTemplatePath::Form::kResources ? "resources "
                                                                     : "";
    paths.push_back(form + t.template_path +
                    (t.container_paths.empty() ? "" : " + " + join(t.container_paths, " + ")) +
                    (t.replica_paths.empty() ? "" : " x " + join(t.replica_paths, " x ")));
  }
  return "pod templates [" + join(paths, "; ") + "]";
}

void compare_kind(AttributeDiff& d, const WorkloadKind& a, const WorkloadKind& b) {
  d.compare("", describe_kind(a), describe_kind(b));
}

template <typename T, typename KeyOf>
std::map<std::string, T> by_key(const std::vector<T>& items, KeyOf key_of) {
  std::map<std::string, T> m;
  for (const auto& i : items) m.emplace(key_of(i), i);
  return m;
}

}  // namespace

std::vector<PolicyChange> diff_policies(const Policy& a, const Policy& b) {
  Changes out;
  diff_settings(out, a, b);
  diff_jurisdictions(out, a, b);
  diff_keyed(out, "tier", a.tiers, b.tiers, describe_tier, compare_tier);

  diff_keyed(
      out, "jurisdiction-cap", a.jurisdiction_caps, b.jurisdiction_caps,
      [](double c) { return format_thousands(c) + " TPP"; },
      [](AttributeDiff& d, double x, double y) {
        d.compare("cap", format_thousands(x) + " TPP", format_thousands(y) + " TPP");
      });

  {
    TierLimits ua{a.unknown_jurisdiction, {}, {}, a.unknown_jurisdiction_rule, false, {}, {}};
    TierLimits ub{b.unknown_jurisdiction, {}, {}, b.unknown_jurisdiction_rule, false, {}, {}};
    AttributeDiff d;
    d.compare("controlled", action_text(ua), action_text(ub));
    d.compare("rule", "\"" + ua.rule + "\"", "\"" + ub.rule + "\"");
    d.emit(out, "unknown-jurisdiction", "unknownJurisdiction");
  }
  {
    // The rule set and its status: what every decision cites.
    AttributeDiff d;
    d.compare("rule set", rule_set_text(a.rule_set), rule_set_text(b.rule_set));
    d.compare("in force on", a.in_force_on, b.in_force_on);
    d.emit(out, "rule-set", "ruleSet");
  }
  {
    auto codes = [](const Policy& p) {
      if (!p.headquarters_rule) return std::string("none");
      std::string s;
      for (const auto& c : p.headquarters_rule->jurisdictions) s += (s.empty() ? "" : ",") + c;
      return s;
    };
    AttributeDiff d;
    d.compare("jurisdictions", codes(a), codes(b));
    d.compare("rule", a.headquarters_rule ? a.headquarters_rule->cited() : "",
              b.headquarters_rule ? b.headquarters_rule->cited() : "");
    d.emit(out, "headquarters", "headquartersLicence");
  }
  {
    // Rules selecting parts by model or bandwidth (the `current` preset, by date).
    std::map<std::string, PartRule> ra, rb;
    for (const auto& r : a.part_rules) ra.emplace(r.name, r);
    for (const auto& r : b.part_rules) rb.emplace(r.name, r);
    diff_keyed(
        out, "part-rule", ra, rb,
        [](const PartRule& r) { return describe(r) + " [" + r.cited() + "]"; },
        [](AttributeDiff& d, const PartRule& x, const PartRule& y) {
          d.compare("selects", describe(x), describe(y));
          d.compare("rule", x.cited(), y.cited());
        });
  }

  auto model_id = [](const AcceleratorModel& m) { return m.id; };
  diff_keyed(out, "catalog", by_key(a.catalog.models, model_id), by_key(b.catalog.models, model_id),
             describe_model, compare_model);
  auto part_id = [](const PartitionProfile& p) { return p.resource; };
  diff_keyed(out, "partition", by_key(a.catalog.partitions, part_id),
             by_key(b.catalog.partitions, part_id), describe_partition, compare_partition);
  diff_set(out, "catalog", "resource prefix ", a.catalog.accelerator_resource_prefixes,
           b.catalog.accelerator_resource_prefixes);

  auto tenant_name = [](const Tenant& t) { return t.name; };
  diff_keyed(out, "tenant", by_key(a.tenants, tenant_name), by_key(b.tenants, tenant_name),
             describe_tenant, compare_tenant);

  diff_set(out, "exemptions", "", a.exempt_namespaces, b.exempt_namespaces);
  diff_set(out, "deviceAccessExempt", "", a.device_access_exempt, b.device_access_exempt);
  diff_set(out, "ignore", "resource ", a.catalog.ignored_resources, b.catalog.ignored_resources);
  auto labels = [](const std::vector<NodeLabel>& ls) {
    std::vector<std::string> out;
    for (const auto& l : ls) out.push_back(l.key + "=" + l.value);
    return out;
  };
  diff_set(out, "ignore", "node label ", labels(a.catalog.ignored_labels),
           labels(b.catalog.ignored_labels));
  diff_set(out, "admins", "user ", a.admins.users, b.admins.users);
  diff_set(out, "admins", "group ", a.admins.groups, b.admins.groups);

  auto kind_key = [](const WorkloadKind& k) { return k.kind + "." + k.group; };
  diff_keyed(out, "workload-kind", by_key(a.workload_kinds, kind_key),
             by_key(b.workload_kinds, kind_key), describe_kind, compare_kind);
  return out;
}

}  // namespace exportgate::policy
