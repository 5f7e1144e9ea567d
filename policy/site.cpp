// Where a workload's chips are installed (see site.hpp).
#include "policy/site.hpp"

#include <algorithm>

#include "policy/json_member.hpp"

namespace exportgate::policy {

namespace {

using json = nlohmann::json;

// A set of countries, with "" standing for a node of unknown country (kept sorted, unique).
using Countries = std::vector<std::string>;

void insert(Countries& set, std::string code) {
  auto it = std::lower_bound(set.begin(), set.end(), code);
  if (it == set.end() || *it != code) set.insert(it, std::move(code));
}

Countries all_countries(const Policy& p) {
  Countries out;
  for (const auto& [value, code] : p.site_node_label->countries) insert(out, code);
  insert(out, p.site);  // nodes whose value is not mapped ("" = unknown country)
  return out;
}

// The country of a node labelled `value`: the map's, else the site's ("" = unknown).
std::string country_of(const Policy& p, std::string_view value) {
  const auto& map = p.site_node_label->countries;
  if (auto it = map.find(std::string(value)); it != map.end()) return it->second;
  return p.site;
}

Countries intersect(const Countries& a, const Countries& b) {
  Countries out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

void unite(Countries& into, const Countries& from) {
  for (const auto& c : from) insert(into, c);
}

// nodeSelector[key]: the one country of its value; nullopt when the selector does not name the
// key (or is malformed: the accelerator extraction reports that).
std::optional<Countries> selector_countries(const json& spec, const Policy& p) {
  const json* selector = json_member(spec, "nodeSelector");
  if (!selector || !selector->is_object()) return std::nullopt;
  const json* value = json_member(*selector, p.site_node_label->key);
  if (!value || !value->is_string()) return std::nullopt;
  return Countries{country_of(p, value->get_ref<const std::string&>())};
}

// One required nodeSelectorTerm: the countries its `In` expressions on the key allow (all of
// them must hold: intersected); nullopt when none narrows the key (any node).
std::optional<Countries> term_countries(const json& term, const Policy& p) {
  const json* exprs = term.is_object() ? json_member(term, "matchExpressions") : nullptr;
  if (!exprs || !exprs->is_array()) return std::nullopt;
  std::optional<Countries> out;
  for (const json& expr : *exprs) {
    if (!expr.is_object()) continue;
    const json* key = json_member(expr, "key");
    const json* op = json_member(expr, "operator");
    const json* values = json_member(expr, "values");
    if (!key || *key != p.site_node_label->key || !op || *op != "In" || !values ||
        !values->is_array()) {
      continue;  // NotIn, Exists, DoesNotExist, Gt, Lt, other keys: no narrower than any node
    }
    Countries these;
    for (const json& v : *values) {
      if (v.is_string()) insert(these, country_of(p, v.get_ref<const std::string&>()));
    }
    out = out ? intersect(*out, these) : these;
  }
  return out;
}

std::optional<Countries> affinity_countries(const json& spec, const Policy& p) {
  const json* node = json_member(spec, "affinity");
  for (const char* key :
       {"nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"}) {
    if (!node || !node->is_object()) return std::nullopt;
    node = json_member(*node, key);
  }
  if (!node || !node->is_array() || node->empty()) return std::nullopt;
  Countries out;
  for (const json& term : *node) {
    auto these = term_countries(term, p);
    if (!these) return std::nullopt;  // one term lets the pod onto any node
    unite(out, *these);
  }
  return out;
}

SitePlacement to_placement(const Countries& set) {
  SitePlacement out;
  out.known = true;
  for (const auto& c : set) {
    if (c.empty()) {
      out.unknown_country = true;
    } else {
      out.countries.push_back(c);
    }
  }
  return out;
}

}  // namespace

SitePlacement any_node(const Policy& p) {
  if (!p.site_node_label) return {};
  return to_placement(all_countries(p));
}

SitePlacement pod_placement(const json& pod_spec, const Policy& p) {
  if (!p.site_node_label) return {};
  if (!pod_spec.is_object()) return any_node(p);
  const auto selector = selector_countries(pod_spec, p);
  const auto affinity = affinity_countries(pod_spec, p);
  Countries set;
  if (selector && affinity) {
    set = intersect(*selector, *affinity);
    // Contradictory constraints cannot be scheduled; count every country either names.
    if (set.empty()) {
      set = *selector;
      unite(set, *affinity);
    }
  } else if (selector) {
    set = *selector;
  } else if (affinity) {
    set = *affinity;
  }
  // An `In` list with no value matches no node: nothing to place, so the safest is any node.
  if ((!selector && !affinity) || set.empty()) set = all_countries(p);
  return to_placement(set);
}

void add_placement(SitePlacement& into, const SitePlacement& from) {
  if (!from.known) return;
  if (!into.known) {
    into = from;
    return;
  }
  Countries set = into.countries;
  unite(set, from.countries);
  into.countries = std::move(set);
  into.unknown_country |= from.unknown_country;
}

const SitePlacement& placement_of(const Policy& p, const WorkloadDemand& d,
                                  SitePlacement& scratch) {
  if (!p.site_node_label || d.placement.known) return d.placement;
  scratch = any_node(p);
  return scratch;
}

std::string workload_site(const Policy& p, const WorkloadDemand& d) {
  SitePlacement scratch;
  const SitePlacement& placement = placement_of(p, d, scratch);
  return placement.countries.empty() ? std::string() : placement.countries.front();
}

std::string allocation_key(const Policy& p, std::string_view tenant_jurisdiction,
                           std::string_view workload_site) {
  // A tenant of unknown jurisdiction is never charged anywhere: it is denied controlled parts.
  if (tenant_jurisdiction.empty()) return {};
  if (!workload_site.empty()) return std::string(workload_site);
  return p.site.empty() ? std::string(tenant_jurisdiction) : p.site;
}

std::string describe_site_node_label(const Policy& p) {
  if (!p.site_node_label) return "none";
  std::string out = p.site_node_label->key + ":";
  const char* sep = " ";
  for (const auto& [value, code] : p.site_node_label->countries) {
    out += sep + (value.empty() ? std::string("\"\"") : value) + "=" + code;
    sep = ", ";
  }
  return out;
}

}  // namespace exportgate::policy
