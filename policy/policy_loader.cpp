// Loads Policy files: parses the YAML, starts from the named preset, merges the overrides
// (maps by key, lists appended, scalars replaced) and validates the result, collecting every
// problem with file:line:column.
#include "policy/policy_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include "policy/catalog_yaml.hpp"
#include "policy/embedded.hpp"
#include "policy/errors.hpp"
#include "policy/in_force.hpp"
#include "policy/jurisdictions.hpp"
#include "policy/policy_hash.hpp"
#include "policy/policy_yaml_reader.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload_kinds_yaml.hpp"

namespace exportgate::policy {

namespace {

constexpr std::string_view kApiVersion = "exportgate.io/v1alpha1";
constexpr std::string_view kKind = "Policy";
constexpr std::string_view kPresetNames[] = {"diffusion-2025", "controls-2023", "current"};

// Tier names are identifiers used in files and metrics: lower case, digits, '-'.
bool valid_tier_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// A namespace pattern: a DNS-1123 label, optionally ending in '*' (prefix match).
bool valid_namespace_pattern(std::string_view p) {
  if (!p.empty() && p.back() == '*') p.remove_suffix(1);
  if (p.size() > 63) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Two namespace patterns can match the same namespace.
bool patterns_overlap(std::string_view a, std::string_view b) {
  const bool ga = !a.empty() && a.back() == '*';
  const bool gb = !b.empty() && b.back() == '*';
  if (ga && gb) {
    a.remove_suffix(1);
    b.remove_suffix(1);
    return a.starts_with(b) || b.starts_with(a);
  }
  if (ga) return namespace_matches(a, b);
  if (gb) return namespace_matches(b, a);
  return a == b;
}

// Where a tier name was referenced, to check it once all tiers are known.
struct TierReference {
  std::string tier;
  YAML::Mark mark;
  std::string path;
};

// A tenant namespace pattern and where it was written, for overlap checks.
struct NamespaceClaim {
  std::string tenant;
  std::string pattern;
  YAML::Mark mark;
};

// The base every policy starts from: the built-in accelerator catalog and workload kinds are
// facts about hardware and APIs, not policy, so even `preset: none` has them.
Policy base_policy(std::vector<Diagnostic>& diagnostics) {
  Policy p;
  p.catalog = builtin_catalog();
  if (auto text = embedded_file("workload-kinds")) {
    try {
      merge_workload_kinds_yaml(YAML::Load(std::string(*text)), "workload-kinds.yaml",
                                p.workload_kinds, diagnostics);
    } catch (const YAML::Exception& e) {
      diagnostics.push_back({"workload-kinds.yaml", e.mark.line + 1, e.mark.column + 1, e.msg});
    }
  }
  return p;
}

class Loader {
 public:
  Loader(std::string_view filename, std::vector<Diagnostic>& diagnostics,
         const LoadOptions& options = {})
      : r_(filename, diagnostics), options_(options) {}

  Policy load(const YAML::Node& root);

 private:
  void read_metadata(const YAML::Node& node, Policy& p);
  void read_spec(const YAML::Node& spec, Policy& p);
  Policy start_from_preset(const YAML::Node& spec);
  void read_tiers(const YAML::Node& node, Policy& p);
  void read_tier(const std::string& name, const YAML::Node& node, TierLimits& t, bool is_new);
  void read_jurisdictions(const YAML::Node& node, Policy& p);
  void read_jurisdiction_caps(const YAML::Node& node, Policy& p);
  void read_unknown_jurisdiction(const YAML::Node& node, Policy& p);
  void read_tenancy(const YAML::Node& node, Policy& p);
  void read_tenants(const YAML::Node& node, Policy& p);
  void read_exemptions(const YAML::Node& node, Policy& p);
  void read_ignore(const YAML::Node& node, Policy& p);
  void read_device_access_exempt(const YAML::Node& node, Policy& p);
  void validate_ignore(const Policy& p);
  void read_admins(const YAML::Node& node, Policy& p);
  std::string read_code(const YAML::Node& key, std::string_view path);
  void read_headquarters_licence(const YAML::Node& node, Policy& p);
  void read_site_node_label(const YAML::Node& node, Policy& p);
  void read_rule_set(const YAML::Node& node, Policy& p);
  // Reads one of the status keys (kStatusKeys) into `s`; false when `key` is not one of them.
  bool read_status_key(const std::string& key, const YAML::Node& v, const std::string& field,
                       RuleStatus& s);
  void validate(const Policy& p);

  // The date the rules are selected for: the override, else spec.inForceOn; "" = none.
  // Sets an error and returns "" when the text is not a date.
  std::string selected_date(const YAML::Node& spec);

  YamlReader r_;
  LoadOptions options_;
  bool preset_ok_ = true;
  std::vector<TierReference> tier_refs_;
  std::vector<NamespaceClaim> claims_;
  std::map<std::string, YAML::Mark> tier_marks_;  // tiers defined or changed here
  std::map<std::string, YAML::Mark> tenant_marks_;
  // Where spec.ignore named each resource and label value, checked against the final catalog.
  std::vector<std::pair<std::string, YAML::Mark>> ignore_resource_marks_;
  std::vector<std::pair<NodeLabel, YAML::Mark>> ignore_label_marks_;
};

Policy Loader::load(const YAML::Node& root) {
  if (!r_.expect_map(root, "policy")) return {};
  r_.check_keys(root, "policy", {"apiVersion", "kind", "metadata", "spec"});
  const YAML::Node api = root["apiVersion"];
  const YAML::Node kind = root["kind"];
  if (!api) {
    r_.error(root, "policy: missing apiVersion; expected " + quoted(kApiVersion));
  } else if (!api.IsScalar() || api.Scalar() != kApiVersion) {
    r_.error(api, "apiVersion: expected " + quoted(kApiVersion) + ", got " + describe_node(api));
  }
  if (!kind) {
    r_.error(root, "policy: missing kind; expected " + quoted(kKind));
  } else if (!kind.IsScalar() || kind.Scalar() != kKind) {
    r_.error(kind, "kind: expected " + quoted(kKind) + ", got " + describe_node(kind));
  }
  const YAML::Node spec = root["spec"];
  if (spec && !spec.IsNull() && !r_.expect_map(spec, "spec")) return {};
  const YAML::Node no_spec;
  Policy p = start_from_preset(spec && spec.IsMap() ? spec : no_spec);
  // Any other preset on a date: kept for the warnings (the rule set may not be in force then).
  if (p.in_force_on.empty() && preset_ok_) {
    p.in_force_on = selected_date(spec && spec.IsMap() ? spec : no_spec);
  }
  const YAML::Node metadata = root["metadata"];
  if (!metadata) {
    r_.error(root, "policy: missing metadata; expected metadata.name");
  } else {
    read_metadata(metadata, p);
  }
  if (spec && spec.IsMap()) read_spec(spec, p);
  validate(p);
  return p;
}

void Loader::read_metadata(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "metadata")) return;
  r_.check_keys(node, "metadata", {"name", "labels", "annotations"});
  const YAML::Node name = node["name"];
  if (!name) {
    r_.error(node, "metadata: missing name; expected a policy name such as \"acme-cloud\"");
  } else if (auto s = r_.string(name, "metadata.name")) {
    if (s->empty()) {
      r_.error(name, "metadata.name: expected a non-empty name");
    } else {
      p.name = *s;
    }
  }
  for (const char* field : {"labels", "annotations"}) {
    const YAML::Node n = node[field];
    if (n && r_.expect_map(n, std::string("metadata.") + field)) {
      r_.check_unique_keys(n, std::string("metadata.") + field);
    }
  }
}

Policy Loader::start_from_preset(const YAML::Node& spec) {
  std::string preset(kDefaultPreset);
  // Copy-initialised, never assigned: yaml-cpp's Node::operator= writes into the node.
  const YAML::Node node = spec.IsMap() ? spec["preset"] : YAML::Node(YAML::NodeType::Undefined);
  if (node.IsDefined()) {
    auto s = r_.string(node, "spec.preset");
    if (!s) {
      preset_ok_ = false;
      return base_policy(r_.diagnostics());
    }
    preset = *s;
  }
  if (preset == "none") return base_policy(r_.diagnostics());
  if (preset == kCurrentPreset) {
    std::string date = selected_date(spec);
    if (date.empty()) date = options_.today.empty() ? today_utc() : options_.today;
    try {
      return load_current(date);
    } catch (const PolicyError& e) {
      for (const auto& d : e.diagnostics()) r_.error(node, d.message);
      preset_ok_ = false;
      return base_policy(r_.diagnostics());
    }
  }
  const auto names = preset_names();
  if (std::find(names.begin(), names.end(), preset) == names.end()) {
    r_.error(node, "spec.preset: unknown preset " + quoted(preset) +
                       "; expected one of \"diffusion-2025\", \"controls-2023\", \"current\", "
                       "\"none\"");
    preset_ok_ = false;
    return base_policy(r_.diagnostics());
  }
  Policy p = load_preset(preset);
  p.preset = preset;
  return p;
}

std::string Loader::selected_date(const YAML::Node& spec) {
  const std::string today = options_.today.empty() ? today_utc() : options_.today;
  if (!options_.in_force_on.empty()) {
    auto d = resolve_in_force_date(options_.in_force_on, today);
    if (!d) {
      r_.error(spec, "--in-force-on: " + quoted(options_.in_force_on) +
                         " is not a date; expected YYYY-MM-DD or today");
      return {};
    }
    return *d;
  }
  const YAML::Node node = spec.IsMap() ? spec["inForceOn"] : YAML::Node(YAML::NodeType::Undefined);
  if (!node.IsDefined()) return {};
  auto s = r_.string(node, "spec.inForceOn");
  if (!s) return {};
  auto d = resolve_in_force_date(*s, today);
  if (!d) {
    r_.error(node,
             "spec.inForceOn: " + quoted(*s) + " is not a date; expected YYYY-MM-DD or today");
    return {};
  }
  return *d;
}

void Loader::read_spec(const YAML::Node& spec, Policy& p) {
  r_.check_keys(spec, "spec",
                {"preset",
                 "mode",
                 "workloadEarlyCheck",
                 "nearCapWarningPercent",
                 "defaultTier",
                 "jurisdictions",
                 "tiers",
                 "jurisdictionCaps",
                 "unknownJurisdiction",
                 "catalog",
                 "tenants",
                 "exemptions",
                 "admins",
                 "workloadKinds",
                 "tenancy",
                 "ignore",
                 "deviceAccessExempt",
                 "headquartersLicence",
                 "ruleSet",
                 "inForceOn",
                 "site",
                 "siteNodeLabel"});
  // Tiers first, so later references (defaultTier, jurisdictions) can be checked against them.
  if (const YAML::Node n = spec["tiers"]) read_tiers(n, p);
  r_.for_each_entry(spec, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    if (key == "mode") {
      if (auto m = r_.one_of(v, "spec.mode", {"enforce", "warn", "audit"})) {
        p.mode = *m == "enforce" ? Mode::kEnforce : *m == "warn" ? Mode::kWarn : Mode::kAudit;
      }
    } else if (key == "workloadEarlyCheck") {
      if (auto b = r_.boolean(v, "spec.workloadEarlyCheck")) p.workload_early_check = *b;
    } else if (key == "nearCapWarningPercent") {
      if (auto n = r_.number(v, "spec.nearCapWarningPercent")) {
        if (*n <= 0 || *n > 100) {
          r_.error(v,
                   "spec.nearCapWarningPercent: expected a percentage above 0 and at most "
                   "100, got " +
                       describe_node(v));
        } else {
          p.near_cap_warning_ratio = *n / 100.0;
        }
      }
    } else if (key == "defaultTier") {
      if (auto s = r_.string(v, "spec.defaultTier")) {
        p.default_tier = *s;
        // "" means: codes not listed are unknown jurisdictions.
        if (!s->empty()) tier_refs_.push_back({*s, v.Mark(), "spec.defaultTier"});
      }
    } else if (key == "jurisdictions") {
      read_jurisdictions(v, p);
    } else if (key == "jurisdictionCaps") {
      read_jurisdiction_caps(v, p);
    } else if (key == "unknownJurisdiction") {
      read_unknown_jurisdiction(v, p);
    } else if (key == "tenancy") {
      read_tenancy(v, p);
    } else if (key == "headquartersLicence") {
      read_headquarters_licence(v, p);
    } else if (key == "site") {
      // Where the cluster's accelerators are installed: the caps that attach to the installed
      // location (the country allocation) are counted for this country.
      if (auto s = r_.string(v, "spec.site")) {
        const std::string code = normalize_jurisdiction_code(*s);
        if (!s->empty() && (code.empty() || !find_jurisdiction(code))) {
          r_.error(v, "spec.site: " + quoted(*s) +
                          " is not an ISO 3166-1 alpha-2 country code (the country where the "
                          "cluster's accelerators are installed; \"\" = not stated)");
        } else {
          p.site = code;
        }
      }
    } else if (key == "siteNodeLabel") {
      read_site_node_label(v, p);
    } else if (key == "ruleSet") {
      read_rule_set(v, p);
    } else if (key == "catalog") {
      if (r_.expect_map(v, "spec.catalog")) {
        // The merge finalizes the catalog itself when it found no error.
        try {
          merge_catalog_yaml(v, r_.filename(), p.catalog, r_.diagnostics());
        } catch (const PolicyError& e) {
          for (const auto& d : e.diagnostics()) r_.diagnostics().push_back(d);
        }
      }
    } else if (key == "tenants") {
      read_tenants(v, p);
    } else if (key == "exemptions") {
      read_exemptions(v, p);
    } else if (key == "ignore") {
      read_ignore(v, p);
    } else if (key == "deviceAccessExempt") {
      read_device_access_exempt(v, p);
    } else if (key == "admins") {
      read_admins(v, p);
    } else if (key == "workloadKinds") {
      if (r_.expect_seq(v, "spec.workloadKinds")) {
        merge_workload_kinds_yaml(v, r_.filename(), p.workload_kinds, r_.diagnostics());
      }
    }
  });
}

void Loader::read_tiers(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.tiers")) return;
  r_.check_unique_keys(node, "spec.tiers");
  r_.for_each_entry(node, [&](const std::string& name, const YAML::Node& key, const YAML::Node& v) {
    if (!valid_tier_name(name)) {
      r_.error(key, "spec.tiers: invalid tier name " + quoted(name) +
                        "; expected lower-case letters, digits and '-', e.g. \"tier2\"");
      return;
    }
    const bool is_new = !p.tiers.contains(name);
    TierLimits t = is_new ? TierLimits{} : p.tiers[name];
    const size_t before = r_.error_count();
    read_tier(name, v, t, is_new);
    if (r_.error_count() != before) return;
    p.tiers[name] = std::move(t);
    tier_marks_[name] = key.Mark();
  });
}

void Loader::read_tier(const std::string& name, const YAML::Node& node, TierLimits& t,
                       bool is_new) {
  const std::string path = "spec.tiers." + name;
  if (!r_.expect_map(node, path)) return;
  r_.check_keys(node, path,
                {"controlled", "tenantCapTPP", "jurisdictionCapTPP", "rule", "effectiveFrom",
                 "effectiveUntil", "status", "statusSince", "statusSource"});
  if (is_new && !node["controlled"]) {
    r_.error(node, path +
                       ": a new tier needs \"controlled\" (allow, cap, deny or "
                       "licence-required)");
  }
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    const std::string field = path + "." + key;
    if (key == "controlled") {
      if (auto a = r_.one_of(v, field, {"allow", "cap", "deny", "licence-required"})) {
        t.licence_required = *a == "licence-required";
        t.controlled = *a == "allow" ? ControlledAction::kAllow
                       : *a == "cap" ? ControlledAction::kCap
                                     : ControlledAction::kDeny;
      }
    } else if (key == "tenantCapTPP" || key == "jurisdictionCapTPP") {
      auto& cap = key == "tenantCapTPP" ? t.tenant_cap_tpp : t.jurisdiction_cap_tpp;
      if (v.IsNull()) {
        cap.reset();  // null removes a cap the preset set
      } else if (auto n = r_.positive_number(v, field, "TPP")) {
        cap = *n;
      }
    } else if (key == "rule") {
      if (auto s = r_.string(v, field)) t.rule = *s;
    } else {
      read_status_key(key, v, field, t.status);
    }
  });
}

bool Loader::read_status_key(const std::string& key, const YAML::Node& v, const std::string& field,
                             RuleStatus& s) {
  auto date = [&](std::string& out) {
    auto text = r_.string(v, field);
    if (!text) return;
    if (!text->empty() && !valid_iso_date(*text)) {
      r_.error(v, field + ": " + quoted(*text) + " is not a date; expected YYYY-MM-DD");
      return;
    }
    out = *text;
  };
  if (key == "effectiveFrom") {
    date(s.effective_from);
  } else if (key == "effectiveUntil") {
    date(s.effective_until);
  } else if (key == "statusSince") {
    date(s.since);
  } else if (key == "status") {
    if (auto a = r_.one_of(v, field,
                           {"in-force", "not-enforced", "suspended", "superseded", "pending"})) {
      s.state = *parse_rule_state(*a);
    }
  } else if (key == "statusSource") {
    if (auto text = r_.string(v, field)) s.source = *text;
  } else {
    return false;
  }
  s.declared = true;
  return true;
}

void Loader::read_rule_set(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.ruleSet")) return;
  r_.check_keys(node, "spec.ruleSet",
                {"name", "citation", "effectiveFrom", "effectiveUntil", "status", "statusSince",
                 "statusSource"});
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    const std::string field = "spec.ruleSet." + key;
    if (key == "name") {
      if (auto s = r_.string(v, field)) p.rule_set.name = *s;
    } else if (key == "citation") {
      if (auto s = r_.string(v, field)) p.rule_set.citation = *s;
    } else {
      read_status_key(key, v, field, p.rule_set.status);
    }
  });
}

// A jurisdiction code used as a key: must be an assigned ISO 3166-1 alpha-2 code.
std::string Loader::read_code(const YAML::Node& key, std::string_view path) {
  const std::string code = normalize_jurisdiction_code(key.Scalar());
  if (code.empty() || !find_jurisdiction(code)) {
    r_.error(key, std::string(path) + ": " + quoted(key.Scalar()) +
                      " is not an ISO 3166-1 alpha-2 country code; expected two letters such as "
                      "\"SG\" or \"DE\"");
    return {};
  }
  return code;
}

void Loader::read_jurisdictions(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.jurisdictions")) return;
  r_.check_unique_keys(node, "spec.jurisdictions");
  r_.for_each_entry(node, [&](const std::string&, const YAML::Node& key, const YAML::Node& v) {
    const std::string code = read_code(key, "spec.jurisdictions");
    const std::string path = "spec.jurisdictions." + key.Scalar();
    auto tier = r_.string(v, path);
    if (code.empty() || !tier) return;
    if (tier->empty()) {
      r_.error(v, path + ": expected a tier name such as \"tier1\"");
      return;
    }
    p.jurisdiction_tiers[code] = *tier;
    tier_refs_.push_back({*tier, v.Mark(), path});
  });
}

void Loader::read_jurisdiction_caps(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.jurisdictionCaps")) return;
  r_.check_unique_keys(node, "spec.jurisdictionCaps");
  r_.for_each_entry(node, [&](const std::string&, const YAML::Node& key, const YAML::Node& v) {
    const std::string code = read_code(key, "spec.jurisdictionCaps");
    auto cap = r_.positive_number(v, "spec.jurisdictionCaps." + key.Scalar(), "TPP");
    if (!code.empty() && cap) p.jurisdiction_caps[code] = *cap;
  });
}

void Loader::read_unknown_jurisdiction(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.unknownJurisdiction")) return;
  r_.check_keys(node, "spec.unknownJurisdiction", {"controlled", "rule"});
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    if (key == "controlled") {
      // No caps here: a cap needs a jurisdiction to count against.
      if (auto a = r_.one_of(v, "spec.unknownJurisdiction.controlled", {"allow", "deny"})) {
        p.unknown_jurisdiction = *a == "allow" ? ControlledAction::kAllow : ControlledAction::kDeny;
      }
    } else if (key == "rule") {
      if (auto s = r_.string(v, "spec.unknownJurisdiction.rule")) p.unknown_jurisdiction_rule = *s;
    }
  });
}

void Loader::read_tenancy(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.tenancy")) return;
  r_.check_keys(node, "spec.tenancy", {"untenantedNamespaces"});
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    if (key != "untenantedNamespaces") return;
    if (auto u = r_.one_of(v, "spec.tenancy.untenantedNamespaces", {"deny", "own-tenant"})) {
      p.untenanted_namespaces =
          *u == "own-tenant" ? UntenantedNamespaces::kOwnTenant : UntenantedNamespaces::kDeny;
    }
  });
}

// A Kubernetes label value: at most 63 characters, alphanumerics with '-', '_', '.' inside.
bool is_label_value(std::string_view v) {
  if (v.size() > 63) return false;
  if (v.empty()) return true;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(v.front()) || !alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// spec.siteNodeLabel: {key, countries: {value: CC}}. Replaces the preset's (none) as a whole;
// null removes it. Every value must be a label value and every country an assigned ISO code, so
// that a typo cannot move chips to a country the caps do not expect.
void Loader::read_site_node_label(const YAML::Node& node, Policy& p) {
  if (node.IsNull()) {
    p.site_node_label.reset();
    return;
  }
  if (!r_.expect_map(node, "spec.siteNodeLabel")) return;
  r_.check_keys(node, "spec.siteNodeLabel", {"key", "countries"});
  Policy::SiteNodeLabel label;
  bool ok = true;
  if (!node["key"]) {
    r_.error(node,
             "spec.siteNodeLabel.key: required, missing (the node label whose value names "
             "the node's region, e.g. topology.kubernetes.io/region)");
    ok = false;
  }
  if (!node["countries"]) {
    r_.error(node,
             "spec.siteNodeLabel.countries: required, missing (label value -> ISO "
             "3166-1 alpha-2 code of the country those nodes are in)");
    ok = false;
  }
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    if (key == "key") {
      auto k = r_.string(v, "spec.siteNodeLabel.key");
      if (!k) {
        ok = false;
      } else if (k->empty() || std::any_of(k->begin(), k->end(), [](char c) {
                   return std::isspace(static_cast<unsigned char>(c)) != 0;
                 })) {
        r_.error(v,
                 "spec.siteNodeLabel.key: expected a node label key such as "
                 "topology.kubernetes.io/region, got " +
                     quoted(*k));
        ok = false;
      } else {
        label.key = *k;
      }
    } else if (key == "countries") {
      if (!r_.expect_map(v, "spec.siteNodeLabel.countries")) {
        ok = false;
        return;
      }
      r_.check_unique_keys(v, "spec.siteNodeLabel.countries");
      if (v.size() == 0) {
        r_.error(v, "spec.siteNodeLabel.countries: expected at least one label value -> country");
        ok = false;
      }
      r_.for_each_entry(v, [&](const std::string& value, const YAML::Node& k, const YAML::Node& c) {
        const std::string path = "spec.siteNodeLabel.countries[" + quoted(value) + "]";
        if (!is_label_value(value)) {
          r_.error(k, path +
                          ": not a Kubernetes label value (at most 63 characters: letters, "
                          "digits, '-', '_', '.', starting and ending with a letter or digit)");
          ok = false;
        }
        auto s = r_.string(c, path);
        if (!s) {
          ok = false;
          return;
        }
        const std::string code = normalize_jurisdiction_code(*s);
        if (code.empty() || !find_jurisdiction(code)) {
          r_.error(c, path + ": " + quoted(*s) +
                          " is not an ISO 3166-1 alpha-2 country code (the country the nodes "
                          "labelled so are in)");
          ok = false;
          return;
        }
        label.countries[value] = code;
      });
    }
  });
  if (ok) p.site_node_label = std::move(label);
}

void Loader::read_headquarters_licence(const YAML::Node& node, Policy& p) {
  if (node.IsNull()) {  // `headquartersLicence: null` removes the preset's rule
    p.headquarters_rule.reset();
    return;
  }
  if (!r_.expect_map(node, "spec.headquartersLicence")) return;
  r_.check_keys(node, "spec.headquartersLicence",
                {"jurisdictions", "rule", "effectiveFrom", "effectiveUntil", "status",
                 "statusSince", "statusSource"});
  HeadquartersRule rule = p.headquarters_rule.value_or(HeadquartersRule{});
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    const std::string field = "spec.headquartersLicence." + key;
    if (key == "jurisdictions") {
      auto list = r_.string_list(v, field);
      if (!list) return;
      rule.jurisdictions.clear();
      for (size_t j = 0; j < list->size(); ++j) {
        const std::string code = normalize_jurisdiction_code((*list)[j]);
        if (code.empty() || !find_jurisdiction(code)) {
          r_.error(v[j], field + "[" + std::to_string(j) + "]: " + quoted((*list)[j]) +
                             " is not an ISO 3166-1 alpha-2 country code");
          continue;
        }
        rule.jurisdictions.push_back(code);
      }
    } else if (key == "rule") {
      if (auto s = r_.string(v, field)) rule.rule = *s;
    } else {
      read_status_key(key, v, field, rule.status);
    }
  });
  p.headquarters_rule = std::move(rule);
}

void Loader::read_tenants(const YAML::Node& node, Policy& p) {
  if (!r_.expect_seq(node, "spec.tenants")) return;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string path = "spec.tenants[" + std::to_string(i) + "]";
    if (!r_.expect_map(item, path)) continue;
    r_.check_keys(item, path,
                  {"name", "jurisdiction", "namespaces", "authorization", "capTPP", "licence",
                   "headquarters"});
    Tenant t;
    bool ok = true;
    for (const char* required : {"name", "jurisdiction", "namespaces"}) {
      if (!item[required]) {
        r_.error(item, path + ": missing " + required +
                           " (every tenant needs name, jurisdiction and namespaces)");
        ok = false;
      }
    }
    YAML::Mark name_mark = item.Mark();
    r_.for_each_entry(item, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
      const std::string field = path + "." + key;
      if (key == "name") {
        auto s = r_.string(v, field);
        if (s && s->empty()) r_.error(v, field + ": expected a non-empty tenant name");
        if (!s || s->empty()) {
          ok = false;
          return;
        }
        t.name = *s;
        name_mark = v.Mark();
      } else if (key == "jurisdiction") {
        auto s = r_.string(v, field);
        const std::string code = s ? normalize_jurisdiction_code(*s) : "";
        if (s && (code.empty() || !find_jurisdiction(code))) {
          r_.error(v, field + ": " + quoted(*s) +
                          " is not an ISO 3166-1 alpha-2 country code; expected two letters "
                          "such as \"SG\" or \"DE\"");
        }
        if (code.empty() || !find_jurisdiction(code)) {
          ok = false;
          return;
        }
        t.jurisdiction = code;
      } else if (key == "namespaces") {
        auto list = r_.string_list(v, field);
        if (!list) {
          ok = false;
          return;
        }
        if (list->empty()) {
          r_.error(v, field + ": expected at least one namespace or pattern (\"team-*\")");
          ok = false;
        }
        for (size_t j = 0; j < list->size(); ++j) {
          const std::string& ns = (*list)[j];
          if (!valid_namespace_pattern(ns)) {
            r_.error(v[j], field + "[" + std::to_string(j) + "]: " + quoted(ns) +
                               " is not a namespace name or a prefix pattern ending in '*'");
            ok = false;
          }
          claims_.push_back({"", ns, v[j].Mark()});
        }
        t.namespaces = std::move(*list);
      } else if (key == "authorization") {
        if (auto a = r_.one_of(v, field, {"none", "validated-end-user", "licensed"})) {
          t.authorization = *a == "none"                 ? Authorization::kNone
                            : *a == "validated-end-user" ? Authorization::kValidatedEndUser
                                                         : Authorization::kLicensed;
        } else {
          ok = false;
        }
      } else if (key == "capTPP") {
        if (auto n = r_.positive_number(v, field, "TPP")) {
          t.cap_tpp = *n;
        } else {
          ok = false;
        }
      } else if (key == "licence") {
        if (auto s = r_.string(v, field)) t.licence = *s;
      } else if (key == "headquarters") {
        auto s = r_.string(v, field);
        const std::string code = s ? normalize_jurisdiction_code(*s) : "";
        if (s && (code.empty() || !find_jurisdiction(code))) {
          r_.error(v, field + ": " + quoted(*s) +
                          " is not an ISO 3166-1 alpha-2 country code (where the tenant or its "
                          "ultimate parent is headquartered)");
          ok = false;
          return;
        }
        t.headquarters = code;
      }
    });
    if (t.authorization == Authorization::kValidatedEndUser && !t.cap_tpp && item["name"]) {
      r_.error(item, path +
                         ": a validated-end-user tenant needs capTPP (its authorised TPP, "
                         "which replaces the tier caps)");
      ok = false;
    }
    if (t.authorization == Authorization::kLicensed && t.licence.empty() && item["name"]) {
      r_.error(item, path +
                         ": a licensed tenant needs licence (the licence number, cited in "
                         "every decision)");
      ok = false;
    }
    for (auto& c : claims_) {
      if (c.tenant.empty()) c.tenant = t.name.empty() ? path : t.name;
    }
    if (!t.name.empty()) {
      const bool duplicate = std::any_of(p.tenants.begin(), p.tenants.end(),
                                         [&](const Tenant& o) { return o.name == t.name; });
      if (duplicate) {
        r_.error(name_mark, path + ".name: duplicate tenant name " + quoted(t.name) +
                                "; tenant names must be unique");
        ok = false;
      }
    }
    if (ok) {
      tenant_marks_[t.name] = name_mark;
      p.tenants.push_back(std::move(t));
    }
  }
}

void Loader::read_exemptions(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.exemptions")) return;
  r_.check_keys(node, "spec.exemptions", {"namespaces"});
  if (const YAML::Node ns = node["namespaces"]) {
    auto list = r_.string_list(ns, "spec.exemptions.namespaces");
    if (!list) return;
    for (size_t j = 0; j < list->size(); ++j) {
      const std::string& pattern = (*list)[j];
      if (!valid_namespace_pattern(pattern) || pattern.empty()) {
        r_.error(ns[j], "spec.exemptions.namespaces[" + std::to_string(j) +
                            "]: " + quoted(pattern) +
                            " is not a namespace name or a prefix pattern ending in '*'");
      } else if (std::find(p.exempt_namespaces.begin(), p.exempt_namespaces.end(), pattern) ==
                 p.exempt_namespaces.end()) {
        p.exempt_namespaces.push_back(pattern);
      }
    }
  }
}

// spec.ignore: names an admin declares as no accelerator, so the worst case of unknown names
// (docs/catalog.md) does not apply to them. Exact names only: a pattern could hide an accelerator.
void Loader::read_ignore(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.ignore")) return;
  r_.check_keys(node, "spec.ignore", {"resources", "nodeLabels"});
  if (const YAML::Node res = node["resources"]) {
    auto list = r_.string_list(res, "spec.ignore.resources");
    for (size_t j = 0; list && j < list->size(); ++j) {
      const std::string& name = (*list)[j];
      const size_t slash = name.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == name.size() ||
          name.find_first_of(" \t*") != std::string::npos) {
        r_.error(res[j], "spec.ignore.resources[" + std::to_string(j) + "]: " + quoted(name) +
                             " is not an extended resource name like example.com/fpga (exact "
                             "names only, no patterns)");
        continue;
      }
      ignore_resource_marks_.push_back({name, res[j].Mark()});
      auto& into = p.catalog.ignored_resources;
      if (std::find(into.begin(), into.end(), name) == into.end()) into.push_back(name);
    }
  }
  if (const YAML::Node labels = node["nodeLabels"]) {
    if (!r_.expect_map(labels, "spec.ignore.nodeLabels")) return;
    r_.for_each_entry(labels, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
      const std::string path = "spec.ignore.nodeLabels." + key;
      auto values = r_.string_list(v, path);
      for (size_t j = 0; values && j < values->size(); ++j) {
        const std::string& value = (*values)[j];
        if (value.find('*') != std::string::npos) {
          r_.error(v[j], path + "[" + std::to_string(j) + "]: " + quoted(value) +
                             ": exact label values only, no patterns");
          continue;
        }
        NodeLabel label{key, value};
        ignore_label_marks_.push_back({label, v[j].Mark()});
        auto& into = p.catalog.ignored_labels;
        if (std::none_of(into.begin(), into.end(),
                         [&](const NodeLabel& l) { return l.key == key && l.value == value; })) {
          into.push_back(std::move(label));
        }
      }
    });
  }
}

// spec.deviceAccessExempt: exact namespace names only. A prefix pattern would hand the exemption
// to anyone who may create a namespace of a matching name.
void Loader::read_device_access_exempt(const YAML::Node& node, Policy& p) {
  auto list = r_.string_list(node, "spec.deviceAccessExempt");
  for (size_t j = 0; list && j < list->size(); ++j) {
    const std::string& name = (*list)[j];
    if (name.find('*') != std::string::npos) {
      r_.error(node[j], "spec.deviceAccessExempt[" + std::to_string(j) + "]: " + quoted(name) +
                            " is a pattern; list exact namespace names, since anyone who can "
                            "create a namespace of a matching name would get the exemption");
    } else if (!valid_namespace_pattern(name) || name.empty()) {
      r_.error(node[j], "spec.deviceAccessExempt[" + std::to_string(j) + "]: " + quoted(name) +
                            " is not a namespace name");
    } else if (std::find(p.device_access_exempt.begin(), p.device_access_exempt.end(), name) ==
               p.device_access_exempt.end()) {
      p.device_access_exempt.push_back(name);
    }
  }
}

// An ignored name must not be one the catalog lists: ignoring nvidia.com/gpu would turn the
// gate off. Checked once the whole catalog (preset and spec.catalog) is merged.
void Loader::validate_ignore(const Policy& p) {
  for (const auto& [name, mark] : ignore_resource_marks_) {
    Catalog without = p.catalog;
    without.ignored_resources.clear();
    if (without.classify_resource(name) == ResourceClass::kKnown) {
      r_.error(mark, "spec.ignore.resources: " + quoted(name) +
                         " is an accelerator in the catalog and cannot be ignored");
    }
  }
  for (const auto& [label, mark] : ignore_label_marks_) {
    if (!p.catalog.models_for_label(label.key, label.value).empty()) {
      r_.error(mark, "spec.ignore.nodeLabels: " + label.key + "=" + label.value +
                         " identifies a model in the catalog and cannot be ignored");
    }
  }
}

void Loader::read_admins(const YAML::Node& node, Policy& p) {
  if (!r_.expect_map(node, "spec.admins")) return;
  r_.check_keys(node, "spec.admins", {"users", "groups"});
  r_.for_each_entry(node, [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
    auto& target = key == "users" ? p.admins.users : p.admins.groups;
    auto list = r_.string_list(v, "spec.admins." + key);
    if (!list) return;
    for (auto& item : *list) {
      if (item.empty()) {
        r_.error(v, "spec.admins." + key + ": expected non-empty names");
      } else if (std::find(target.begin(), target.end(), item) == target.end()) {
        target.push_back(std::move(item));
      }
    }
  });
}

// Checks that need the whole merged policy.
void Loader::validate(const Policy& p) {
  validate_ignore(p);
  if (preset_ok_) {
    for (const auto& ref : tier_refs_) {
      if (p.tiers.contains(ref.tier)) continue;
      std::string known;
      for (const auto& [name, limits] : p.tiers) known += (known.empty() ? "" : ", ") + name;
      r_.error(ref.mark, ref.path + ": unknown tier " + quoted(ref.tier) +
                             "; expected a tier defined under spec.tiers (" +
                             (known.empty() ? "none defined" : known) + ")");
    }
    if (!p.default_tier.empty() && !p.tiers.contains(p.default_tier) &&
        std::none_of(tier_refs_.begin(), tier_refs_.end(),
                     [](const TierReference& r) { return r.path == "spec.defaultTier"; })) {
      r_.error(YAML::Mark::null_mark(),
               "defaultTier " + quoted(p.default_tier) + " of the preset is not a defined tier");
    }
  }
  for (const auto& [name, t] : p.tiers) {
    if (t.controlled == ControlledAction::kCap && !t.tenant_cap_tpp && !t.jurisdiction_cap_tpp) {
      auto it = tier_marks_.find(name);
      r_.error(it == tier_marks_.end() ? YAML::Mark::null_mark() : it->second,
               "spec.tiers." + name +
                   ": controlled: cap needs tenantCapTPP or jurisdictionCapTPP (or both)");
    }
  }
  // A tenant's jurisdiction must have a tier, or every controlled request of it would be denied
  // as "unknown" although the policy names its country.
  if (preset_ok_) {
    for (const auto& t : p.tenants) {
      if (!p.tier_of(t.jurisdiction).empty()) continue;
      auto it = tenant_marks_.find(t.name);
      r_.error(it == tenant_marks_.end() ? YAML::Mark::null_mark() : it->second,
               "tenant " + quoted(t.name) + ": jurisdiction " + t.jurisdiction +
                   " has no tier; list it under spec.jurisdictions or set spec.defaultTier");
    }
  }
  // A namespace may belong to one tenant only, or its jurisdiction would be ambiguous.
  for (size_t i = 0; i < claims_.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (claims_[i].tenant == claims_[j].tenant) continue;
      if (!patterns_overlap(claims_[i].pattern, claims_[j].pattern)) continue;
      r_.error(claims_[i].mark, "tenant " + quoted(claims_[i].tenant) + " claims namespace " +
                                    quoted(claims_[i].pattern) + ", which tenant " +
                                    quoted(claims_[j].tenant) + " already claims with " +
                                    quoted(claims_[j].pattern) +
                                    "; a namespace may belong to one tenant only");
      break;
    }
  }
}

// Every decision cites its rule with the rule's status and the rule set's (computed once the
// overrides are merged, from the raw fields, so loading a preset and then a policy on top does
// not add them twice).
void set_citations(Policy& p) {
  for (auto& [name, t] : p.tiers) t.citation = citation_text(t.rule, t.status, p.rule_set);
  if (p.headquarters_rule) {
    // The headquarters rule has its own dates (2023), whatever the rule set around it.
    p.headquarters_rule->citation =
        citation_text(p.headquarters_rule->rule, p.headquarters_rule->status, RuleSet{});
  }
}

Policy load_document(std::string_view text, std::string_view filename, const LoadOptions& options) {
  std::vector<Diagnostic> diagnostics;
  std::vector<YAML::Mark> starts;
  YAML::Node doc;
  try {
    // Count documents first: yaml-cpp's LoadAll can loop forever on some malformed input.
    starts = yaml_document_starts(text);
    if (starts.size() == 1) doc.reset(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    diagnostics.push_back({std::string(filename), e.mark.line >= 0 ? e.mark.line + 1 : 0,
                           e.mark.column >= 0 ? e.mark.column + 1 : 0,
                           "YAML syntax error: " + e.msg});
    throw PolicyError(std::move(diagnostics));
  }
  if (starts.empty() || (starts.size() == 1 && doc.IsNull())) {
    diagnostics.push_back({std::string(filename), 1, 1,
                           "empty policy; expected a Policy document (apiVersion: " +
                               std::string(kApiVersion) + ", kind: Policy)"});
    throw PolicyError(std::move(diagnostics));
  }
  if (starts.size() > 1) {
    YamlReader r(filename, diagnostics);
    r.error(starts[1], "expected exactly one YAML document (one Policy per file), found " +
                           std::to_string(starts.size()));
    throw PolicyError(std::move(diagnostics));
  }
  Loader loader(filename, diagnostics, options);
  Policy p = loader.load(doc);
  if (!diagnostics.empty()) {
    // Report in file order, whatever order the checks ran in.
    std::stable_sort(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    throw PolicyError(std::move(diagnostics));
  }
  set_citations(p);
  p.hash = policy_hash(p);
  return p;
}

}  // namespace

std::vector<std::string> preset_names() {
  return {std::begin(kPresetNames), std::end(kPresetNames)};
}

Policy load_preset(std::string_view name) {
  if (name == kCurrentPreset) return load_current(today_utc());
  const auto names = preset_names();
  auto text = embedded_file(name);
  if (std::find(names.begin(), names.end(), name) == names.end() || !text) {
    throw PolicyError({{std::string(name), 0, 0,
                        "unknown preset " + quoted(name) +
                            "; expected \"diffusion-2025\", \"controls-2023\" or \"current\""}});
  }
  // Presets are Policy documents themselves (with `preset: none`).
  Policy p = load_document(*text, std::string(name) + ".yaml", {});
  p.preset = std::string(name);
  p.hash = policy_hash(p);
  return p;
}

Policy load_policy(std::string_view text, std::string_view filename) {
  return load_document(text, filename, {});
}

Policy load_policy(std::string_view text, std::string_view filename, const LoadOptions& options) {
  return load_document(text, filename, options);
}

Policy load_preset(std::string_view name, const LoadOptions& options) {
  if (name != kCurrentPreset && options.in_force_on.empty()) return load_preset(name);
  // A preset on a date: the same as a policy naming it.
  const std::string text =
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: " + std::string(name) +
      "}\nspec: {preset: " + std::string(name) + "}\n";
  return load_document(text, std::string(name), options);
}

}  // namespace exportgate::policy
