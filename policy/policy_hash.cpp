// Canonical dump and SHA-256 of an effective policy (see policy_hash.hpp).
#include "policy/policy_hash.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace exportgate::policy {

namespace {

// %.17g round-trips doubles exactly, so equal policies give equal text.
std::string num(double v) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.17g", v);
  return buf.data();
}
std::string opt(const std::optional<double>& v) {
  return v ? num(*v) : "-";
}

void list(std::ostringstream& out, const std::vector<std::string>& items) {
  for (const auto& i : items) out << ' ' << i.size() << ':' << i;
}

}  // namespace

std::string canonical_dump(const Policy& p) {
  std::ostringstream out;
  out << "name " << p.name << "\npreset " << p.preset << "\nmode " << to_string(p.mode)
      << "\nworkloadEarlyCheck " << p.workload_early_check << "\nnearCap "
      << num(p.near_cap_warning_ratio) << "\ndefaultTier " << p.default_tier << "\nsite " << p.site
      << '\n';
  if (p.site_node_label) {
    out << "siteNodeLabel " << p.site_node_label->key.size() << ':' << p.site_node_label->key;
    for (const auto& [value, code] : p.site_node_label->countries)
      out << ' ' << value.size() << ':' << value << '=' << code;
    out << '\n';
  }
  for (const auto& [code, tier] : p.jurisdiction_tiers)
    out << "jurisdiction " << code << ' ' << tier << '\n';
  for (const auto& [name, t] : p.tiers) {
    out << "tier " << name << ' ' << to_string(t.controlled) << ' ' << t.licence_required << ' '
        << opt(t.tenant_cap_tpp) << ' ' << opt(t.jurisdiction_cap_tpp) << ' ' << t.rule << ' '
        << t.citation << '\n';
  }
  for (const auto& [code, cap] : p.jurisdiction_caps)
    out << "jurisdictionCap " << code << ' ' << num(cap) << '\n';
  out << "unknownJurisdiction " << to_string(p.unknown_jurisdiction) << ' '
      << p.unknown_jurisdiction_rule << '\n';
  out << "untenantedNamespaces " << to_string(p.untenanted_namespaces) << '\n';
  // Dates and status change what every decision cites.
  out << "ruleSet " << p.rule_set.name << ' ' << p.rule_set.citation << ' '
      << status_text(p.rule_set.status) << ' ' << p.rule_set.status.source << '\n';
  if (p.headquarters_rule) {
    out << "headquartersLicence " << p.headquarters_rule->citation;
    list(out, p.headquarters_rule->jurisdictions);
    out << '\n';
  }
  for (const auto& r : p.part_rules) {
    out << "partRule " << r.name << ' ' << describe(r) << ' ' << r.cited() << '\n';
  }
  for (const auto& m : p.catalog.models) {
    out << "model " << m.id << ' ' << m.vendor << ' ' << m.display_name << ' ' << num(m.dense_tops)
        << ' ' << m.bit_length << ' ' << num(m.die_area_mm2) << ' ' << m.datacenter << ' '
        << m.die_area_upper_bound << ' ' << num(m.dram_bandwidth_gbs) << ' '
        << num(m.interconnect_bandwidth_gbs) << ' '
        << (m.stated_class ? to_string(*m.stated_class) : "-");
    list(out, m.resources);
    for (const auto& l : m.node_labels) out << ' ' << l.key << '=' << l.value;
    out << '\n';
  }
  for (const auto& pp : p.catalog.partitions) {
    out << "partition " << pp.resource << ' ' << num(pp.fraction);
    list(out, pp.parent_models);
    out << '\n';
  }
  out << "prefixes";
  list(out, p.catalog.accelerator_resource_prefixes);
  out << "\nignoreResources";
  list(out, p.catalog.ignored_resources);
  out << "\nignoreLabels";
  for (const auto& l : p.catalog.ignored_labels) out << ' ' << l.key << '=' << l.value;
  out << "\ndeviceAccessExempt";
  list(out, p.device_access_exempt);
  out << '\n';
  for (const auto& t : p.tenants) {
    out << "tenant " << t.name << ' ' << t.jurisdiction << ' ' << to_string(t.authorization) << ' '
        << opt(t.cap_tpp) << ' ' << t.licence << ' ' << t.headquarters;
    list(out, t.namespaces);
    out << '\n';
  }
  out << "exempt";
  list(out, p.exempt_namespaces);
  out << "\nadminUsers";
  list(out, p.admins.users);
  out << "\nadminGroups";
  list(out, p.admins.groups);
  out << '\n';
  for (const auto& k : p.workload_kinds) {
    out << "workloadKind " << k.group << ' ' << k.kind;
    for (const auto& t : k.pod_templates) {
      out << " {" << static_cast<int>(t.form) << ' ' << t.template_path;
      list(out, t.replica_paths);
      out << " +";
      list(out, t.container_paths);
      out << '}';
    }
    out << '\n';
  }
  return out.str();
}

std::string policy_hash(const Policy& policy) {
  const std::string text = canonical_dump(policy);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length && hex.size() < 16; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace exportgate::policy
